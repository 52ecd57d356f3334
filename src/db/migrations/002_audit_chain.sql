-- Tamper-evident, append-only audit log (docs/audit.md).
-- Each replica writes one hash chain: (replica_id, seq) is dense from the chain's start, and
-- row_hash = sha256(prev_hash + canonical row). Rows written before this migration keep NULL
-- chain fields ("legacy"); the CHECK below (NOT VALID: it skips them) forces every new row into a chain.
ALTER TABLE usage_logs ADD COLUMN IF NOT EXISTS replica_id text;
ALTER TABLE usage_logs ADD COLUMN IF NOT EXISTS seq bigint;
ALTER TABLE usage_logs ADD COLUMN IF NOT EXISTS prev_hash text;
ALTER TABLE usage_logs ADD COLUMN IF NOT EXISTS row_hash text;
ALTER TABLE usage_logs ADD CONSTRAINT usage_logs_chained
  CHECK (replica_id IS NOT NULL AND seq IS NOT NULL AND prev_hash IS NOT NULL AND row_hash IS NOT NULL) NOT VALID;
-- Keyset pagination for verify, the writer's resume point, and retention's prefix deletes.
CREATE UNIQUE INDEX IF NOT EXISTS usage_logs_chain_idx ON usage_logs (replica_id, seq);

-- Signed chain heads: let verify notice rows cut off the end of a chain.
CREATE TABLE IF NOT EXISTS audit_checkpoints (
  id          bigserial PRIMARY KEY,
  replica_id  text NOT NULL,
  seq         bigint NOT NULL,
  row_hash    text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  hmac        text
);
CREATE INDEX IF NOT EXISTS audit_checkpoints_chain_idx ON audit_checkpoints (replica_id, seq);

-- What retention removed: the new first row of a chain has prev_hash = last_hash of the latest
-- entry, which is how verify tells a legitimate cleanup from deleted evidence.
CREATE TABLE IF NOT EXISTS audit_retention_log (
  id          bigserial PRIMARY KEY,
  replica_id  text,
  first_seq   bigint,
  last_seq    bigint,
  last_hash   text,
  rows_removed bigint NOT NULL,
  cutoff      timestamptz NOT NULL,
  removed_at  timestamptz NOT NULL DEFAULT now(),
  removed_by  text NOT NULL DEFAULT session_user,
  hmac        text
);
CREATE INDEX IF NOT EXISTS audit_retention_log_chain_idx ON audit_retention_log (replica_id, last_seq);

-- One guard for all three tables. Only retention (the functions below, which set the flag
-- transaction-locally) may delete from usage_logs. The flag alone is not a security boundary
-- (any session may set a custom setting): the boundary is that the application role has no DELETE
-- privilege and can reach deletion only through the SECURITY DEFINER functions.
CREATE OR REPLACE FUNCTION aigov_audit_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'usage_logs'
     AND current_setting('aigov.retention', true) = 'on' THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'aigov: % on % is not allowed: the audit log is append-only', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER usage_logs_append_only BEFORE UPDATE OR DELETE ON usage_logs
  FOR EACH ROW EXECUTE FUNCTION aigov_audit_guard();
CREATE TRIGGER usage_logs_no_truncate BEFORE TRUNCATE ON usage_logs
  FOR EACH STATEMENT EXECUTE FUNCTION aigov_audit_guard();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION aigov_audit_guard();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION aigov_audit_guard();
CREATE TRIGGER audit_retention_log_append_only BEFORE UPDATE OR DELETE ON audit_retention_log
  FOR EACH ROW EXECUTE FUNCTION aigov_audit_guard();
CREATE TRIGGER audit_retention_log_no_truncate BEFORE TRUNCATE ON audit_retention_log
  FOR EACH STATEMENT EXECUTE FUNCTION aigov_audit_guard();

-- Removes the prefix of one chain up to p_upto, only when every removed row is older than the
-- cutoff and the cutoff is at least a day old: the application role can call this, so it must not
-- become a way to erase recent evidence. p_hash must be the row_hash at p_upto (the caller read
-- it to sign the anchor); a mismatch means the chain changed underneath and nothing is removed.
CREATE OR REPLACE FUNCTION aigov_audit_remove_prefix(
  p_replica text, p_upto bigint, p_hash text, p_cutoff timestamptz, p_hmac text
) RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
  v_first bigint;
  v_hash text;
  v_newest timestamptz;
  v_removed bigint;
BEGIN
  IF p_cutoff > now() - interval '1 day' THEN
    RAISE EXCEPTION 'aigov: retention cutoff % is less than a day old', p_cutoff;
  END IF;
  SELECT row_hash INTO v_hash FROM usage_logs WHERE replica_id = p_replica AND seq = p_upto;
  IF v_hash IS NULL OR v_hash <> p_hash THEN
    RAISE EXCEPTION 'aigov: chain % has no row % with the expected hash', p_replica, p_upto;
  END IF;
  SELECT min(seq), max(created_at) INTO v_first, v_newest
    FROM usage_logs WHERE replica_id = p_replica AND seq <= p_upto;
  IF v_newest >= p_cutoff THEN
    RAISE EXCEPTION 'aigov: rows up to % of chain % are not all older than %', p_upto, p_replica, p_cutoff;
  END IF;
  PERFORM set_config('aigov.retention', 'on', true);
  DELETE FROM usage_logs WHERE replica_id = p_replica AND seq <= p_upto;
  GET DIAGNOSTICS v_removed = ROW_COUNT;
  PERFORM set_config('aigov.retention', 'off', true);
  INSERT INTO audit_retention_log (replica_id, first_seq, last_seq, last_hash, rows_removed, cutoff, hmac)
    VALUES (p_replica, v_first, p_upto, p_hash, v_removed, p_cutoff, p_hmac);
  RETURN v_removed;
END
$$;

-- Rows written before chaining existed: removed by age, in bounded batches.
CREATE OR REPLACE FUNCTION aigov_audit_remove_legacy(p_cutoff timestamptz, p_limit integer)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
  v_removed bigint;
BEGIN
  IF p_cutoff > now() - interval '1 day' THEN
    RAISE EXCEPTION 'aigov: retention cutoff % is less than a day old', p_cutoff;
  END IF;
  PERFORM set_config('aigov.retention', 'on', true);
  DELETE FROM usage_logs WHERE id IN (
    SELECT id FROM usage_logs WHERE replica_id IS NULL AND created_at < p_cutoff ORDER BY id LIMIT p_limit
  );
  GET DIAGNOSTICS v_removed = ROW_COUNT;
  PERFORM set_config('aigov.retention', 'off', true);
  IF v_removed > 0 THEN
    INSERT INTO audit_retention_log (replica_id, rows_removed, cutoff) VALUES (NULL, v_removed, p_cutoff);
  END IF;
  RETURN v_removed;
END
$$;

REVOKE UPDATE, DELETE, TRUNCATE ON usage_logs, audit_checkpoints, audit_retention_log FROM PUBLIC;
REVOKE ALL ON FUNCTION aigov_audit_remove_prefix(text, bigint, text, timestamptz, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION aigov_audit_remove_legacy(timestamptz, integer) FROM PUBLIC;

-- When the recommended application role exists (docs/audit.md), give it exactly what it needs.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'aigov_app') THEN
    EXECUTE 'GRANT SELECT, INSERT ON usage_logs, audit_checkpoints, audit_retention_log TO aigov_app';
    EXECUTE 'REVOKE UPDATE, DELETE, TRUNCATE ON usage_logs, audit_checkpoints, audit_retention_log FROM aigov_app';
    EXECUTE 'GRANT USAGE ON SEQUENCE usage_logs_id_seq, audit_checkpoints_id_seq TO aigov_app';
    EXECUTE 'GRANT EXECUTE ON FUNCTION aigov_audit_remove_prefix(text, bigint, text, timestamptz, text), aigov_audit_remove_legacy(timestamptz, integer) TO aigov_app';
  END IF;
END
$$;
