import { hash } from 'node:crypto';
import type { AuditRow } from './row.js';

/**
 * The canonical form a row's hash is computed over. It has to come out identical at write time
 * (from the JS row) and at verify time (from the row read back from real Postgres or PGlite,
 * which disagree on how numeric, bigint, float4 and timestamps come back). So every field becomes
 * a string or null, in a fixed order, through the normalisations below; verify reads the columns
 * with casts (CANONICAL_SELECT) that make both backends return the same JS values.
 */

export const GENESIS_HASH = '0'.repeat(64);
const VERSION = 'aigov-audit-v1';

export type CanonicalFields = (string | null)[];

/** Microsecond ISO form, the precision Postgres stores; JS dates are whole milliseconds. */
export function canonicalTime(d: Date): string {
  const iso = d.toISOString(); // always ends in .mmmZ
  return `${iso.slice(0, -1)}000Z`;
}

/** float4 columns: the float32 value, whatever digits the driver printed. */
function real(v: number | null): string | null {
  return v === null ? null : String(Math.fround(v));
}

function int(v: number | null): string | null {
  return v === null ? null : String(v);
}

/** numeric(14,8): eight decimals, -0 folded to 0. */
export function canonicalCost(v: number | string | null): string | null {
  if (v === null) return null;
  const s = Number(v).toFixed(8);
  return s === '-0.00000000' ? '0.00000000' : s;
}

/** JSON with object keys sorted, so jsonb's own key order does not matter. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const obj = v as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

function bool(v: boolean): string {
  return v ? 't' : 'f';
}

/**
 * MCP fields (migration 003) join the canonical form only when one is set, so every other row,
 * old or new, hashes exactly as before.
 */
function mcpFields(
  rpcMethod: string | null,
  tool: string | null,
  approvalId: string | null,
): CanonicalFields {
  return rpcMethod === null && tool === null && approvalId === null ? [] : [rpcMethod, tool, approvalId];
}

/** The row's own content, without its chain position: also the identity used for idempotent replays. */
export function contentFields(r: AuditRow): CanonicalFields {
  return [
    r.requestId,
    canonicalTime(r.createdAt),
    r.keyId,
    r.owner,
    r.team,
    r.method,
    r.route,
    r.provider,
    r.model,
    r.decision,
    JSON.stringify(r.policyIds),
    r.reasons === null || r.reasons === undefined ? null : canonicalJson(r.reasons),
    real(r.riskScore),
    int(r.statusCode),
    real(r.latencyMs),
    real(r.upstreamMs),
    real(r.overheadMs),
    int(r.promptTokens),
    int(r.completionTokens),
    int(r.totalTokens),
    canonicalCost(r.costUsd),
    bool(r.stream),
    bool(r.aborted),
    bool(r.degraded),
    r.clientIp,
    r.error,
    r.content,
    ...mcpFields(r.rpcMethod ?? null, r.tool ?? null, r.approvalId ?? null),
    ...tokenDetails(r.cachedTokens ?? null, r.cacheWriteTokens ?? null, r.reasoningTokens ?? null),
  ];
}

/**
 * Migration 004's token details join the canonical form only when one is set: rows without them
 * (all rows written before it) hash exactly as they did, so `aigov logs verify` keeps passing.
 */
function tokenDetails(
  cached: number | null,
  written: number | null,
  reasoning: number | null,
): CanonicalFields {
  if (cached === null && written === null && reasoning === null) return [];
  return ['token-details', int(cached), int(written), int(reasoning)];
}

/** row_hash = sha256(version, prev_hash, replica, seq, content): one one-shot hash per row. */
export function rowHash(prevHash: string, replicaId: string, seq: number, content: CanonicalFields): string {
  return hash(
    'sha256',
    `${VERSION}\n${prevHash}\n${JSON.stringify([replicaId, String(seq), ...content])}`,
    'hex',
  );
}

/**
 * Columns as verify and the replay check read them: casts make real Postgres and PGlite return the
 * same JS types (text for bigint, numeric, jsonb and timestamps; float8 for float4).
 */
export const CANONICAL_SELECT = `replica_id, seq::text AS seq, prev_hash, row_hash, request_id,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at,
  key_id, owner, team, method, route, provider, model, decision,
  array_to_json(policy_ids)::text AS policy_ids, reasons::text AS reasons,
  risk_score::float8 AS risk_score, status_code, latency_ms::float8 AS latency_ms,
  upstream_ms::float8 AS upstream_ms, overhead_ms::float8 AS overhead_ms,
  prompt_tokens, completion_tokens, total_tokens, cost_usd::text AS cost_usd,
  stream, aborted, degraded, client_ip, error, content, rpc_method, tool, approval_id,
  cached_tokens, cache_write_tokens, reasoning_tokens`;

export interface StoredRow {
  replica_id: string | null;
  seq: string | null;
  prev_hash: string | null;
  row_hash: string | null;
  request_id: string;
  created_at: string;
  key_id: string | null;
  owner: string | null;
  team: string | null;
  method: string;
  route: string;
  provider: string | null;
  model: string | null;
  decision: string;
  policy_ids: string;
  reasons: string | null;
  risk_score: number | null;
  status_code: number;
  latency_ms: number | null;
  upstream_ms: number | null;
  overhead_ms: number | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  total_tokens: number | null;
  cost_usd: string | null;
  stream: boolean;
  aborted: boolean;
  degraded: boolean;
  client_ip: string | null;
  error: string | null;
  content: string | null;
  rpc_method?: string | null;
  tool?: string | null;
  approval_id?: string | null;
  cached_tokens?: number | null;
  cache_write_tokens?: number | null;
  reasoning_tokens?: number | null;
  [key: string]: unknown;
}

/** The same fields as contentFields(), from a row read with CANONICAL_SELECT. */
export function storedContentFields(s: StoredRow): CanonicalFields {
  return [
    s.request_id,
    s.created_at,
    s.key_id,
    s.owner,
    s.team,
    s.method,
    s.route,
    s.provider,
    s.model,
    s.decision,
    JSON.stringify(JSON.parse(s.policy_ids) as unknown),
    s.reasons === null ? null : canonicalJson(JSON.parse(s.reasons) as unknown),
    real(s.risk_score === null ? null : Number(s.risk_score)),
    int(s.status_code === null ? null : Number(s.status_code)),
    real(s.latency_ms === null ? null : Number(s.latency_ms)),
    real(s.upstream_ms === null ? null : Number(s.upstream_ms)),
    real(s.overhead_ms === null ? null : Number(s.overhead_ms)),
    int(s.prompt_tokens === null ? null : Number(s.prompt_tokens)),
    int(s.completion_tokens === null ? null : Number(s.completion_tokens)),
    int(s.total_tokens === null ? null : Number(s.total_tokens)),
    canonicalCost(s.cost_usd),
    bool(s.stream),
    bool(s.aborted),
    bool(s.degraded),
    s.client_ip,
    s.error,
    s.content,
    ...mcpFields(s.rpc_method ?? null, s.tool ?? null, s.approval_id ?? null),
    ...tokenDetails(optCount(s.cached_tokens), optCount(s.cache_write_tokens), optCount(s.reasoning_tokens)),
  ];
}

function optCount(v: unknown): number | null {
  return v === null || v === undefined ? null : Number(v);
}

export function storedRowHash(s: StoredRow): string | null {
  if (s.replica_id === null || s.seq === null || s.prev_hash === null) return null;
  return rowHash(s.prev_hash, s.replica_id, Number(s.seq), storedContentFields(s));
}
