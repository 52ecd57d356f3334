-- Who governs the governance (docs/identity.md): every admin change and sign-in, in one hash chain.
-- seq is dense from 1; row_hash = sha256(version, prev_hash, seq, canonical fields). Append-only like
-- usage_logs: the same guard refuses UPDATE, DELETE and TRUNCATE (there is no retention for it).
CREATE TABLE IF NOT EXISTS admin_events (
  seq          bigint PRIMARY KEY,
  created_at   timestamptz NOT NULL,
  actor        text NOT NULL,
  actor_role   text NOT NULL,
  auth_method  text NOT NULL,
  action       text NOT NULL,
  target       text,
  outcome      text NOT NULL,
  request_id   text,
  client_ip    text,
  before       jsonb,
  after        jsonb,
  prev_hash    text NOT NULL,
  row_hash     text NOT NULL
);
CREATE INDEX IF NOT EXISTS admin_events_created_at_idx ON admin_events (created_at);
CREATE INDEX IF NOT EXISTS admin_events_actor_idx ON admin_events (actor, created_at);

CREATE TRIGGER admin_events_append_only BEFORE UPDATE OR DELETE ON admin_events
  FOR EACH ROW EXECUTE FUNCTION aigov_audit_guard();
CREATE TRIGGER admin_events_no_truncate BEFORE TRUNCATE ON admin_events
  FOR EACH STATEMENT EXECUTE FUNCTION aigov_audit_guard();

REVOKE UPDATE, DELETE, TRUNCATE ON admin_events FROM PUBLIC;

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'aigov_app') THEN
    EXECUTE 'GRANT SELECT, INSERT ON admin_events TO aigov_app';
    EXECUTE 'REVOKE UPDATE, DELETE, TRUNCATE ON admin_events FROM aigov_app';
  END IF;
END
$$;
