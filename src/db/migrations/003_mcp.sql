-- MCP governance (docs/mcp.md).
-- Audit rows of /mcp/{server}: the JSON-RPC method, the tool of a tools/call and the approval that
-- let it through. NULL on every other row, which keeps those rows' canonical form (and hash) as before.
ALTER TABLE usage_logs ADD COLUMN IF NOT EXISTS rpc_method text;
ALTER TABLE usage_logs ADD COLUMN IF NOT EXISTS tool text;
ALTER TABLE usage_logs ADD COLUMN IF NOT EXISTS approval_id text;

-- Human approvals of single tool calls. One approval lets exactly one call through: the one bound
-- by (key, server, tool, SHA-256 of the canonical arguments, policy version), before expires_at.
-- In Postgres so every replica sees the same decision and only one of them can use it.
CREATE TABLE IF NOT EXISTS mcp_approvals (
  id              text PRIMARY KEY,
  created_at      timestamptz NOT NULL DEFAULT now(),
  expires_at      timestamptz NOT NULL,
  status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'denied')),
  key_id          text NOT NULL,
  owner           text,
  team            text,
  server          text NOT NULL,
  tool            text NOT NULL,
  args_sha256     text NOT NULL,
  policy_version  text NOT NULL,
  rule_ids        text[] NOT NULL DEFAULT '{}',
  -- What the approver sees: the arguments, detector-redacted unless audit.content is full.
  arguments       text,
  request_id      text,
  decided_at      timestamptz,
  decided_by      text,
  reason          text,
  used_at         timestamptz,
  used_request_id text
);
CREATE INDEX IF NOT EXISTS mcp_approvals_binding_idx
  ON mcp_approvals (key_id, server, tool, args_sha256, policy_version);
CREATE INDEX IF NOT EXISTS mcp_approvals_created_idx ON mcp_approvals (created_at);
