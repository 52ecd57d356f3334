-- API keys: only a bcrypt hash of the secret is stored; the id is public and indexed (primary key).
CREATE TABLE IF NOT EXISTS api_keys (
  id            text PRIMARY KEY,
  secret_hash   text NOT NULL,
  owner         text NOT NULL,
  name          text,
  team          text,
  tags          text[] NOT NULL DEFAULT '{}',
  models        text[] NOT NULL DEFAULT '{}',
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz,
  revoked_at    timestamptz,
  last_used_at  timestamptz,
  rotated_from  text REFERENCES api_keys(id),
  rotated_to    text REFERENCES api_keys(id)
);
CREATE INDEX IF NOT EXISTS api_keys_owner_idx ON api_keys (owner);
CREATE INDEX IF NOT EXISTS api_keys_team_idx ON api_keys (team);

-- One row per answered request. Append-only (see 002). Token counts and cost are NULL when
-- unknown, which is not the same as 0.
CREATE TABLE IF NOT EXISTS usage_logs (
  id                bigserial PRIMARY KEY,
  request_id        text NOT NULL UNIQUE,
  created_at        timestamptz NOT NULL DEFAULT now(),
  key_id            text,
  owner             text,
  team              text,
  method            text NOT NULL,
  route             text NOT NULL,
  provider          text,
  model             text,
  decision          text NOT NULL,
  policy_ids        text[] NOT NULL DEFAULT '{}',
  reasons           jsonb,
  risk_score        real,
  status_code       integer NOT NULL,
  latency_ms        real,
  upstream_ms       real,
  overhead_ms       real,
  prompt_tokens     integer,
  completion_tokens integer,
  total_tokens      integer,
  cost_usd          numeric(14, 8),
  stream            boolean NOT NULL DEFAULT false,
  aborted           boolean NOT NULL DEFAULT false,
  degraded          boolean NOT NULL DEFAULT false,
  client_ip         text,
  error             text,
  content           text
);
CREATE INDEX IF NOT EXISTS usage_logs_created_at_idx ON usage_logs (created_at);
CREATE INDEX IF NOT EXISTS usage_logs_key_id_idx ON usage_logs (key_id, created_at);
CREATE INDEX IF NOT EXISTS usage_logs_team_idx ON usage_logs (team, created_at);
