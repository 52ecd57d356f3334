-- Token details priced apart from plain input and output (docs/providers.md): input tokens read
-- from and written to the provider's prompt cache, and output tokens spent on reasoning. Each is a
-- part of prompt_tokens / completion_tokens, not an addition; NULL = not reported.
-- Rows written before this migration keep NULL, and their hashes stay valid: the canonical form
-- includes these fields only when one of them is set (src/audit/canonical.ts).
ALTER TABLE usage_logs ADD COLUMN IF NOT EXISTS cached_tokens integer;
ALTER TABLE usage_logs ADD COLUMN IF NOT EXISTS cache_write_tokens integer;
ALTER TABLE usage_logs ADD COLUMN IF NOT EXISTS reasoning_tokens integer;
