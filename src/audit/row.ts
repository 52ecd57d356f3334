/** One audit row: one per answered request. Null token/cost fields mean unknown, never 0. */
export interface AuditRow {
  requestId: string;
  createdAt: Date;
  keyId: string | null;
  owner: string | null;
  team: string | null;
  method: string;
  route: string;
  provider: string | null;
  model: string | null;
  /** `passthrough`: an opaque proxied route (config `passthrough`), authenticated and counted, not inspected. */
  decision: 'allow' | 'block' | 'redact' | 'error' | 'passthrough';
  policyIds: string[];
  reasons: unknown;
  riskScore: number | null;
  statusCode: number;
  latencyMs: number | null;
  upstreamMs: number | null;
  overheadMs: number | null;
  promptTokens: number | null;
  completionTokens: number | null;
  totalTokens: number | null;
  costUsd: number | null;
  /** Parts of promptTokens read from / written to the prompt cache, and of completionTokens spent reasoning (migration 004). */
  cachedTokens?: number | null;
  cacheWriteTokens?: number | null;
  reasoningTokens?: number | null;
  stream: boolean;
  aborted: boolean;
  degraded: boolean;
  clientIp: string | null;
  error: string | null;
  content: string | null;
  /** MCP rows (/mcp/{server}): JSON-RPC method, tool of a tools/call, approval used (migration 003). */
  rpcMethod?: string | null;
  tool?: string | null;
  approvalId?: string | null;
}

/** Column order shared by the Postgres sink and anything that serialises rows. */
export const AUDIT_COLUMNS = [
  'request_id',
  'created_at',
  'key_id',
  'owner',
  'team',
  'method',
  'route',
  'provider',
  'model',
  'decision',
  'policy_ids',
  'reasons',
  'risk_score',
  'status_code',
  'latency_ms',
  'upstream_ms',
  'overhead_ms',
  'prompt_tokens',
  'completion_tokens',
  'total_tokens',
  'cost_usd',
  'stream',
  'aborted',
  'degraded',
  'client_ip',
  'error',
  'content',
  'rpc_method',
  'tool',
  'approval_id',
  'cached_tokens',
  'cache_write_tokens',
  'reasoning_tokens',
] as const;

/** Chain columns, written after AUDIT_COLUMNS (migration 002). */
export const CHAIN_COLUMNS = ['replica_id', 'seq', 'prev_hash', 'row_hash'] as const;

/** A row with its place in its replica's hash chain. */
export interface ChainLink {
  replicaId: string;
  seq: number;
  prevHash: string;
  rowHash: string;
}

export function rowValues(r: AuditRow): unknown[] {
  return [
    r.requestId,
    r.createdAt,
    r.keyId,
    r.owner,
    r.team,
    r.method,
    r.route,
    r.provider,
    r.model,
    r.decision,
    r.policyIds,
    r.reasons === null || r.reasons === undefined ? null : JSON.stringify(r.reasons),
    r.riskScore,
    r.statusCode,
    r.latencyMs,
    r.upstreamMs,
    r.overheadMs,
    r.promptTokens,
    r.completionTokens,
    r.totalTokens,
    // Sent as the exact decimal that is hashed, so Postgres never rounds it differently.
    r.costUsd === null ? null : r.costUsd.toFixed(8),
    r.stream,
    r.aborted,
    r.degraded,
    r.clientIp,
    r.error,
    r.content,
    r.rpcMethod ?? null,
    r.tool ?? null,
    r.approvalId ?? null,
    r.cachedTokens ?? null,
    r.cacheWriteTokens ?? null,
    r.reasoningTokens ?? null,
  ];
}

const INT4_MAX = 2_147_483_647;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Strings Postgres would refuse (NUL) or alter (lone surrogates) are fixed before hashing. */
function text(v: unknown): string {
  const s = String(v);
  // Nearly every string is already fine: two native checks instead of two rewriting passes.
  if (s.isWellFormed() && !s.includes('\u0000')) return s;
  return s.replaceAll('\u0000', '').replace(LONE_SURROGATE, '\ufffd');
}

function optText(v: string | null | undefined): string | null {
  return v === null || v === undefined ? null : text(v);
}

/** Beyond float4's range the value would become Infinity, which JSON (the insert's format) cannot carry. */
function optReal(v: number | null | undefined): number | null {
  if (typeof v !== 'number') return null;
  const f = Math.fround(v);
  return Number.isFinite(f) ? f : null;
}

function optInt(v: number | null | undefined): number | null {
  if (typeof v !== 'number' || !Number.isFinite(v)) return null;
  const n = Math.round(v);
  return Math.abs(n) <= INT4_MAX ? n : null;
}

function json(v: unknown): unknown {
  if (typeof v === 'string') return text(v);
  if (Array.isArray(v)) return v.map((x) => (x === undefined ? null : json(x)));
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>))
      if (x !== undefined) out[text(k)] = json(x);
    return out;
  }
  return v;
}

/**
 * The row exactly as Postgres will store it: a row that the database would reject (NUL bytes,
 * out-of-range numbers) would block its batch forever, and one it would silently alter (lone
 * surrogates, float4 rounding, numeric scale) would no longer match its own hash.
 */
export function sanitizeRow(r: AuditRow): AuditRow {
  const created =
    r.createdAt instanceof Date && !Number.isNaN(r.createdAt.getTime()) ? r.createdAt : new Date();
  const cost =
    typeof r.costUsd === 'number' && Number.isFinite(r.costUsd) && Math.abs(r.costUsd) < 1e6
      ? r.costUsd
      : null;
  return {
    requestId: text(r.requestId),
    createdAt: created,
    keyId: optText(r.keyId),
    owner: optText(r.owner),
    team: optText(r.team),
    method: text(r.method),
    route: text(r.route),
    provider: optText(r.provider),
    model: optText(r.model),
    decision: r.decision,
    policyIds: (r.policyIds ?? []).map(text),
    reasons:
      r.reasons === null || r.reasons === undefined
        ? null
        : json(JSON.parse(JSON.stringify(r.reasons) ?? 'null')),
    riskScore: optReal(r.riskScore),
    statusCode: optInt(r.statusCode) ?? 0,
    latencyMs: optReal(r.latencyMs),
    upstreamMs: optReal(r.upstreamMs),
    overheadMs: optReal(r.overheadMs),
    promptTokens: optInt(r.promptTokens),
    completionTokens: optInt(r.completionTokens),
    totalTokens: optInt(r.totalTokens),
    costUsd: cost === null ? null : Number(cost.toFixed(8)),
    stream: Boolean(r.stream),
    aborted: Boolean(r.aborted),
    degraded: Boolean(r.degraded),
    clientIp: optText(r.clientIp),
    error: optText(r.error),
    content: optText(r.content),
    rpcMethod: optText(r.rpcMethod),
    tool: optText(r.tool),
    approvalId: optText(r.approvalId),
    cachedTokens: optInt(r.cachedTokens),
    cacheWriteTokens: optInt(r.cacheWriteTokens),
    reasoningTokens: optInt(r.reasoningTokens),
  };
}
