/**
 * Zod schemas for every admin API input (and the main outputs), in one place so the OpenAPI
 * document (src/http/openapi.ts) can include them with z.toJSONSchema().
 */
import { z } from 'zod';
import { parseDurationMs } from '../config/duration.js';

const MAX_DURATION_MS = 10 * 365 * 86_400_000;

/** "30s", "24h", "30d": a positive duration of at most ten years. */
export const durationText = z
  .string()
  .max(32)
  .refine((s) => {
    const ms = parseDurationMs(s);
    return ms !== null && ms <= MAX_DURATION_MS;
  }, 'must be a duration like 30m, 24h or 30d');

const label = z.string().trim().min(1).max(128);
const tag = z
  .string()
  .trim()
  .min(1)
  .max(64)
  .regex(/^[\w.:/@-]+$/, 'letters, digits and . _ - : / @ only');
const modelPattern = z.string().trim().min(1).max(128);
const keyId = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[\w-]+$/, 'not a key id');

/** A key id, or the identity of a JWT caller (`jwt:<iss>#<sub>`, docs/identity.md). */
const callerId = z.union([keyId, z.string().startsWith('jwt:').max(700)]);

export const keyIdParams = z.object({ id: keyId }).strict();

export const createKeyBody = z
  .object({
    owner: z.string().trim().min(1).max(254),
    name: label.nullable().optional(),
    team: label.nullable().optional(),
    tags: z.array(tag).max(32).optional(),
    models: z.array(modelPattern).max(64).optional(),
    /** Relative expiry ("30d"); or use expires_at. */
    expires_in: durationText.optional(),
    expires_at: z.iso.datetime({ offset: true }).optional(),
  })
  .strict()
  .refine((b) => !(b.expires_in && b.expires_at), 'give expires_in or expires_at, not both');
export type CreateKeyBody = z.infer<typeof createKeyBody>;

export const updateKeyBody = z
  .object({
    name: label.nullable().optional(),
    team: label.nullable().optional(),
    tags: z.array(tag).max(32).optional(),
    models: z.array(modelPattern).max(64).optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'nothing to update: give name, team, tags or models');
export type UpdateKeyBody = z.infer<typeof updateKeyBody>;

export const rotateKeyBody = z
  .object({ grace: durationText.default('24h') })
  .strict()
  .prefault({});

const boolText = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

export const listKeysQuery = z
  .object({
    team: label.optional(),
    owner: z.string().trim().min(1).max(254).optional(),
    include_revoked: boolText.default(true),
  })
  .strict();

export const DECISIONS = ['allow', 'block', 'redact', 'error'] as const;

const timestamp = z.iso.datetime({ offset: true });

export const logsQuery = z
  .object({
    from: timestamp.optional(),
    to: timestamp.optional(),
    key_id: callerId.optional(),
    team: label.optional(),
    owner: z.string().trim().min(1).max(254).optional(),
    model: z.string().trim().min(1).max(128).optional(),
    provider: label.optional(),
    decision: z.enum(DECISIONS).optional(),
    policy: z.string().trim().min(1).max(128).optional(),
    route: z.string().trim().min(1).max(200).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    cursor: z.string().max(200).optional(),
    format: z.enum(['json', 'csv']).default('json'),
  })
  .strict();
export type LogsQuery = z.infer<typeof logsQuery>;

export const logParams = z.object({ request_id: z.string().min(1).max(200) }).strict();

export const statsQuery = z
  .object({
    bucket: z.enum(['hour', 'day']).default('hour'),
    from: timestamp.optional(),
    to: timestamp.optional(),
    team: label.optional(),
    key_id: callerId.optional(),
    model: z.string().trim().min(1).max(128).optional(),
    /** How many rows each of by_team / by_model / by_rule keeps (largest first). */
    top: z.coerce.number().int().min(1).max(100).default(10),
  })
  .strict();
export type StatsQuery = z.infer<typeof statsQuery>;

/** Key attributes a dry run evaluates as (policies scope on team, owner, tags, key id). */
export const dryRunKey = z
  .object({
    id: z.string().max(64).optional(),
    owner: z.string().max(254).optional(),
    name: z.string().max(128).nullable().optional(),
    team: z.string().max(128).nullable().optional(),
    tags: z.array(z.string().max(64)).max(32).optional(),
    models: z.array(modelPattern).max(64).optional(),
  })
  .strict();

export const dryRunBody = z
  .object({
    /** The provider request body as an SDK would send it (or `mcp`: a tool call). */
    request: z.record(z.string(), z.unknown()).optional(),
    /** An MCP tool call to decide instead of a provider body (docs/mcp.md). */
    mcp: z
      .object({
        server: z.string().min(1).max(64),
        tool: z.string().min(1).max(256),
        arguments: z.record(z.string(), z.unknown()).default({}),
      })
      .strict()
      .optional(),
    provider: z.string().min(1).max(64).optional(),
    /** A route of the provider (template paths too: /model/{modelId}/converse-stream). */
    route: z.string().startsWith('/').max(128).optional(),
    metadata: z.record(z.string(), z.string().max(1024)).optional(),
    /** Evaluate as this stored key (its team, owner, tags, models). */
    key_id: keyId.optional(),
    /** Or as these attributes (applied over key_id's when both are given). */
    key: dryRunKey.optional(),
    /** A proposed policy file (YAML) evaluated instead of the active set. */
    policy: z.string().min(1).max(1_000_000).optional(),
  })
  .strict()
  .refine((b) => (b.request === undefined) !== (b.mcp === undefined), 'give exactly one of request, mcp');
export type DryRunBody = z.infer<typeof dryRunBody>;

export const adminEventsQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(500).default(50),
    /** next_cursor of the previous page. */
    cursor: z.coerce.number().int().positive().optional(),
    actor: z.string().trim().min(1).max(254).optional(),
    action: z.string().trim().min(1).max(64).optional(),
  })
  .strict();

/** What the API answers for a key (never the secret or its hash). */
export const keyView = z.object({
  id: z.string(),
  owner: z.string(),
  name: z.string().nullable(),
  team: z.string().nullable(),
  tags: z.array(z.string()),
  models: z.array(z.string()),
  status: z.enum(['active', 'expired', 'revoked']),
  created_at: z.string(),
  expires_at: z.string().nullable(),
  revoked_at: z.string().nullable(),
  last_used_at: z.string().nullable(),
  rotated_from: z.string().nullable(),
  rotated_to: z.string().nullable(),
});
export type KeyView = z.infer<typeof keyView>;

export const logView = z.object({
  id: z.string(),
  request_id: z.string(),
  created_at: z.string(),
  key_id: z.string().nullable(),
  owner: z.string().nullable(),
  team: z.string().nullable(),
  method: z.string(),
  route: z.string(),
  provider: z.string().nullable(),
  model: z.string().nullable(),
  decision: z.string(),
  policy_ids: z.array(z.string()),
  /** [{policy, action, message}] as recorded; null when no rule matched. */
  reasons: z.array(z.record(z.string(), z.unknown())).nullable(),
  risk_score: z.number().nullable(),
  status_code: z.number(),
  latency_ms: z.number().nullable(),
  upstream_ms: z.number().nullable(),
  overhead_ms: z.number().nullable(),
  prompt_tokens: z.number().nullable(),
  completion_tokens: z.number().nullable(),
  total_tokens: z.number().nullable(),
  /** Parts of prompt_tokens read from / written to the provider's prompt cache; null: not reported. */
  cached_tokens: z.number().nullable(),
  cache_write_tokens: z.number().nullable(),
  /** Part of completion_tokens spent on reasoning (thinking); null: not reported. */
  reasoning_tokens: z.number().nullable(),
  cost_usd: z.number().nullable(),
  stream: z.boolean(),
  aborted: z.boolean(),
  degraded: z.boolean(),
  client_ip: z.string().nullable(),
  error: z.string().nullable(),
});
export type LogView = z.infer<typeof logView>;

// ---- answers (documented in /openapi.json; handlers build them, nothing serialises through these) --

/** POST /admin/keys: the key view plus the secret, shown this once. */
export const createdKeyView = keyView.extend({
  key: z.string().describe('The new aigov key (aigov_...): shown only in this answer'),
});

export const keyList = z.object({ data: z.array(keyView).describe('Newest first') });

export const revokedKeyView = keyView.extend({
  already_revoked: z.boolean().describe('true when the key was revoked before this call (nothing changed)'),
});

/** POST /admin/keys/:id/rotate: the new key (with its secret) and the old one, now expiring. */
export const rotatedKeyView = keyView.extend({
  key: z.string().describe('The new aigov key: shown only in this answer'),
  old: keyView.describe('The rotated key, valid until the end of the grace period'),
});

export const logsPage = z.object({
  data: z.array(logView).describe('Newest first'),
  next_cursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page'),
});

const statsTotals = z.object({
  requests: z.number(),
  blocks: z.number(),
  redacts: z.number(),
  errors: z.number(),
  tokens: z.number().describe('Sum of known token counts'),
  cost_usd: z.number(),
  unknown_usage: z.number().describe('Rows whose token usage is unknown (not counted as 0)'),
});

export const statsView = z.object({
  bucket: z.enum(['hour', 'day']),
  from: z.string(),
  to: z.string(),
  totals: statsTotals,
  series: z.array(statsTotals.extend({ t: z.string().describe('Start of the UTC bucket') })),
  by_team: z.array(statsTotals.extend({ team: z.string().nullable() })),
  by_model: z.array(statsTotals.extend({ model: z.string().nullable() })),
  by_rule: z.array(z.object({ rule: z.string(), hits: z.number(), blocks: z.number() })),
});

export const policySummaryView = z.object({
  version: z.string(),
  path: z.string(),
  files: z.array(z.string()),
  defaults: z.record(z.string(), z.unknown()),
  rule_count: z.number(),
  rules: z.array(
    z.object({
      id: z.string(),
      description: z.string().nullable().optional(),
      action: z.string(),
      mode: z.string(),
      phase: z.string(),
      risk: z.number().nullable().optional(),
      file: z.string(),
    }),
  ),
  limits: z.array(
    z.object({
      id: z.string(),
      description: z.string().nullable().optional(),
      metric: z.string(),
      amount: z.number(),
      per: z.string(),
      by: z.unknown(),
      mode: z.string(),
    }),
  ),
  status: z.object({
    loaded_at: z.string(),
    reloads: z.number(),
    failed_reloads: z.number(),
    last_error: z.string().nullable(),
    last_error_at: z.string().nullable(),
  }),
});

export const policyReloadView = z.object({
  reloaded: z.literal(true),
  version: z.string(),
  rule_count: z.number(),
});

/** The decision /v1/check would return (provider body) or the tool-call answer (`mcp`), plus context. */
export const dryRunView = z.looseObject({
  allowed: z.boolean(),
  decision: z.string(),
  risk_score: z.number(),
  reasons: z.array(z.record(z.string(), z.unknown())),
  monitor: z.array(z.record(z.string(), z.unknown())).describe('Rules in monitor mode that matched'),
  policy_source: z.enum(['active', 'proposed']),
  policy_version: z.string(),
  key: z.object({
    id: z.string(),
    owner: z.string(),
    team: z.string().nullable(),
    tags: z.array(z.string()),
  }),
  limits: z.array(z.string()).describe('Ids of the limit rules that would apply (listed, not consumed)'),
});

export const approvalView = z.object({
  id: z.string(),
  state: z.enum(['pending', 'approved', 'denied', 'used', 'expired']),
  status: z.string(),
  created_at: z.string(),
  expires_at: z.string(),
  key_id: z.string(),
  owner: z.string().nullable(),
  team: z.string().nullable(),
  server: z.string(),
  tool: z.string(),
  arguments_sha256: z.string(),
  arguments: z.string().nullable().describe('The arguments as JSON text'),
  policy_version: z.string(),
  rule_ids: z.array(z.string()),
  request_id: z.string().nullable(),
  decided_at: z.string().nullable(),
  decided_by: z.string().nullable(),
  reason: z.string().nullable(),
  used_at: z.string().nullable(),
  used_request_id: z.string().nullable(),
});

export const approvalList = z.object({ data: z.array(approvalView).describe('Newest first') });

export const adminEventView = z.object({
  seq: z.number(),
  created_at: z.string(),
  actor: z.string(),
  actor_role: z.string(),
  auth_method: z.string(),
  action: z.string(),
  target: z.string().nullable(),
  outcome: z.string(),
  request_id: z.string().nullable(),
  client_ip: z.string().nullable(),
  before: z.unknown(),
  after: z.unknown(),
  row_hash: z.string(),
});

export const adminEventsPage = z.object({
  data: z.array(adminEventView).describe('Newest first'),
  next_cursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page'),
});

export const authConfigView = z.object({
  oidc: z.boolean().describe('OIDC sign-in is offered (admin.oidc)'),
  token: z.boolean().describe('ADMIN_TOKEN is configured'),
});

export const authLoginQuery = z.object({
  return_to: z.string().optional().describe('Same-site path to land on after sign-in (default /ui/)'),
});

export const authCallbackQuery = z.object({
  code: z.string().optional(),
  state: z.string().optional(),
  error: z.string().optional(),
});

export const authMeView = z.object({
  actor: z.string(),
  role: z.enum(['viewer', 'operator', 'admin']),
  method: z.enum(['token', 'oidc']),
  name: z.string().nullable(),
  capabilities: z.record(z.string(), z.boolean()),
  csrf_token: z.string().nullable().describe('Send as x-csrf-token on state-changing calls (OIDC sessions)'),
  expires_at: z.string().nullable(),
});

export const logoutView = z.object({ signed_out: z.literal(true) });

/** Every schema by name, for the OpenAPI document. */
export const adminSchemas = {
  CreateKeyBody: createKeyBody,
  UpdateKeyBody: updateKeyBody,
  RotateKeyBody: rotateKeyBody,
  ListKeysQuery: listKeysQuery,
  LogsQuery: logsQuery,
  StatsQuery: statsQuery,
  DryRunBody: dryRunBody,
  KeyView: keyView,
  LogView: logView,
  ApprovalView: approvalView,
  AdminEventView: adminEventView,
} as const;
