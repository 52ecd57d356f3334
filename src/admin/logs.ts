import { Readable } from 'node:stream';
import type { Db } from '../db/client.js';
import { AigovError } from '../errors.js';
import type { LogsQuery, LogView } from './schemas.js';

/** Builds a WHERE clause with numbered parameters. */
export class Where {
  readonly params: unknown[] = [];
  private readonly parts: string[] = [];

  /** One condition; `build` gets a placeholder ($n) per value. */
  add(build: (...placeholders: string[]) => string, ...values: unknown[]): this {
    const placeholders = values.map((v) => {
      this.params.push(v);
      return `$${this.params.length}`;
    });
    this.parts.push(build(...placeholders));
    return this;
  }

  addIf(value: unknown, build: (placeholder: string) => string): this {
    return value === undefined ? this : this.add((p) => build(p ?? ''), value);
  }

  sql(): string {
    return this.parts.length ? `WHERE ${this.parts.join(' AND ')}` : '';
  }
}

export type LogFilters = Omit<LogsQuery, 'limit' | 'cursor' | 'format'>;

export function logFilters(q: LogFilters): Where {
  return new Where()
    .addIf(q.from, (p) => `created_at >= ${p}::timestamptz`)
    .addIf(q.to, (p) => `created_at < ${p}::timestamptz`)
    .addIf(q.key_id, (p) => `key_id = ${p}`)
    .addIf(q.team, (p) => `team = ${p}`)
    .addIf(q.owner, (p) => `owner = ${p}`)
    .addIf(q.model, (p) => `model = ${p}`)
    .addIf(q.provider, (p) => `provider = ${p}`)
    .addIf(q.decision, (p) => `decision = ${p}`)
    .addIf(q.policy, (p) => `${p} = ANY(policy_ids)`)
    .addIf(q.route, (p) => `route = ${p}`);
}

/** Microsecond-exact UTC text, so a cursor never skips or repeats rows sharing a millisecond. */
const CREATED_AT_TEXT = `to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** Same casts on postgres.js and PGlite, so both backends return the same JSON types. */
const LOG_COLUMNS = `id::text AS id, request_id, ${CREATED_AT_TEXT} AS created_at, key_id, owner, team, method,
  route, provider, model, decision, policy_ids, reasons, risk_score::float8 AS risk_score, status_code,
  latency_ms::float8 AS latency_ms, upstream_ms::float8 AS upstream_ms, overhead_ms::float8 AS overhead_ms,
  prompt_tokens, completion_tokens, total_tokens, cached_tokens, cache_write_tokens, reasoning_tokens,
  cost_usd::float8 AS cost_usd, stream, aborted, degraded, client_ip, error`;

interface Cursor {
  t: string;
  id: string;
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.t, c.id]), 'utf8').toString('base64url');
}

export function decodeCursor(text: string): Cursor {
  try {
    const v: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    if (
      Array.isArray(v) &&
      v.length === 2 &&
      typeof v[0] === 'string' &&
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$/.test(v[0]) &&
      typeof v[1] === 'string' &&
      /^\d{1,19}$/.test(v[1])
    )
      return { t: v[0], id: v[1] };
  } catch {
    // fall through
  }
  throw new AigovError('invalid_request', { message: 'Invalid cursor: pass next_cursor back unchanged' });
}

function num(v: unknown): number | null {
  if (v === null || v === undefined) return null;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : null;
}

function str(v: unknown): string | null {
  return v === null || v === undefined ? null : String(v);
}

function toLogView(r: Record<string, unknown>): LogView {
  let raw: unknown = r.reasons ?? null;
  if (typeof raw === 'string') {
    try {
      raw = JSON.parse(raw) as unknown;
    } catch {
      raw = null;
    }
  }
  const reasons = Array.isArray(raw)
    ? raw.filter(
        (x): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x),
      )
    : null;
  return {
    id: String(r.id),
    request_id: String(r.request_id),
    created_at: String(r.created_at),
    key_id: str(r.key_id),
    owner: str(r.owner),
    team: str(r.team),
    method: String(r.method),
    route: String(r.route),
    provider: str(r.provider),
    model: str(r.model),
    decision: String(r.decision),
    policy_ids: Array.isArray(r.policy_ids) ? r.policy_ids.map(String) : [],
    reasons,
    risk_score: num(r.risk_score),
    status_code: num(r.status_code) ?? 0,
    latency_ms: num(r.latency_ms),
    upstream_ms: num(r.upstream_ms),
    overhead_ms: num(r.overhead_ms),
    prompt_tokens: num(r.prompt_tokens),
    completion_tokens: num(r.completion_tokens),
    total_tokens: num(r.total_tokens),
    cached_tokens: num(r.cached_tokens),
    cache_write_tokens: num(r.cache_write_tokens),
    reasoning_tokens: num(r.reasoning_tokens),
    cost_usd: num(r.cost_usd),
    stream: r.stream === true,
    aborted: r.aborted === true,
    degraded: r.degraded === true,
    client_ip: str(r.client_ip),
    error: str(r.error),
  };
}

/** One page, newest first, keyset-paginated on (created_at, id). */
export async function queryLogs(
  db: Db,
  filters: LogFilters,
  limit: number,
  cursor: string | undefined,
): Promise<{ data: LogView[]; next_cursor: string | null }> {
  const where = logFilters(filters);
  if (cursor !== undefined) {
    const c = decodeCursor(cursor);
    where.add((t, id) => `(created_at, id) < (${t}::timestamptz, ${id}::bigint)`, c.t, c.id);
  }
  return runPage(db, where, limit);
}

async function runPage(
  db: Db,
  where: Where,
  limit: number,
): Promise<{ data: LogView[]; next_cursor: string | null }> {
  const params = [...where.params, limit + 1];
  const rows = await db.query(
    `SELECT ${LOG_COLUMNS} FROM usage_logs ${where.sql()} ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
    params,
  );
  const data = rows.slice(0, limit).map(toLogView);
  const last = data[data.length - 1];
  return {
    data,
    next_cursor: rows.length > limit && last ? encodeCursor({ t: last.created_at, id: last.id }) : null,
  };
}

/** One row with everything, including the stored prompt content when audit.content keeps it. */
export async function findLog(
  db: Db,
  requestId: string,
): Promise<(LogView & { content: string | null }) | null> {
  const rows = await db.query(`SELECT ${LOG_COLUMNS}, content FROM usage_logs WHERE request_id = $1`, [
    requestId,
  ]);
  const r = rows[0];
  return r ? { ...toLogView(r), content: str(r.content) } : null;
}

export const CSV_COLUMNS = [
  'created_at',
  'request_id',
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
  'prompt_tokens',
  'completion_tokens',
  'total_tokens',
  'cached_tokens',
  'cache_write_tokens',
  'reasoning_tokens',
  'cost_usd',
  'stream',
  'aborted',
  'client_ip',
  'error',
] as const satisfies readonly (keyof LogView)[];

/** RFC 4180 quoting, and a leading ' on cells a spreadsheet would run as a formula. */
export function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  let s = Array.isArray(v)
    ? v.every((x) => typeof x === 'string')
      ? v.join(';')
      : JSON.stringify(v)
    : typeof v === 'object'
      ? JSON.stringify(v)
      : String(v);
  if (/^[=+\-@\t\r]/.test(s) && !/^-?\d+(\.\d+)?(e-?\d+)?$/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvLine(row: LogView): string {
  return `${CSV_COLUMNS.map((c) => csvCell(row[c])).join(',')}\r\n`;
}

/** Every matching row as CSV, read page by page so memory stays flat however large the export. */
export function streamLogsCsv(
  db: Db,
  filters: LogFilters,
  cursor: string | undefined,
  pageSize = 1000,
): Readable {
  async function* lines(): AsyncGenerator<string> {
    yield `${CSV_COLUMNS.join(',')}\r\n`;
    let next = cursor;
    for (;;) {
      const page = await queryLogs(db, filters, pageSize, next);
      if (page.data.length) yield page.data.map(csvLine).join('');
      if (!page.next_cursor) return;
      next = page.next_cursor;
    }
  }
  return Readable.from(lines());
}
