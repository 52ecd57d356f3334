import { hash } from 'node:crypto';
import type { Db } from '../db/client.js';
import { canonicalJson, canonicalTime, GENESIS_HASH } from './canonical.js';

/**
 * The admin audit trail (table admin_events, migration 003): every admin change and sign-in as
 * one row of a single hash chain. Low volume, so each append is written before the admin call
 * answers, serialised in this process and across replicas (advisory lock), and the chain is
 * dense: seq 1, 2, 3... with row_hash = sha256(version, prev_hash, seq, canonical fields).
 */

const VERSION = 'aigov-admin-v1';
const LOCK_ID = 0x6a160003;

export interface AdminEventInput {
  /** Who: the OIDC subject's email (or subject), or `admin-token` for the break-glass token. */
  actor: string;
  role: string;
  /** How the actor authenticated: `token` | `oidc`. */
  method: string;
  /** What: key.create, key.update, key.revoke, key.rotate, policies.reload, signin, signout... */
  action: string;
  /** The object acted on (a key id, a policy version), or null. */
  target: string | null;
  /** ok | refused (e.g. a failed sign-in) | failed. */
  outcome: 'ok' | 'refused' | 'failed';
  requestId: string | null;
  clientIp: string | null;
  /** Summaries of the object before and after (never secrets). */
  before: unknown;
  after: unknown;
  at?: Date;
}

export interface AdminEvent {
  seq: number;
  created_at: string;
  actor: string;
  actor_role: string;
  auth_method: string;
  action: string;
  target: string | null;
  outcome: string;
  request_id: string | null;
  client_ip: string | null;
  before: unknown;
  after: unknown;
  row_hash: string;
}

interface EventFields {
  seq: string;
  created_at: string;
  actor: string;
  actor_role: string;
  auth_method: string;
  action: string;
  target: string | null;
  outcome: string;
  request_id: string | null;
  client_ip: string | null;
  before: string | null;
  after: string | null;
}

type StoredEvent = EventFields & { prev_hash: string; row_hash: string; [key: string]: unknown };

const SELECT = `seq::text AS seq,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at,
  actor, actor_role, auth_method, action, target, outcome, request_id, client_ip,
  before::text AS before, after::text AS after, prev_hash, row_hash`;

/** JSON-safe copy (dates as strings, undefined dropped): what jsonb will give back. */
function jsonValue(v: unknown): unknown {
  return v === undefined || v === null ? null : (JSON.parse(JSON.stringify(v)) as unknown);
}

function fields(s: EventFields): (string | null)[] {
  return [
    s.seq,
    s.created_at,
    s.actor,
    s.actor_role,
    s.auth_method,
    s.action,
    s.target,
    s.outcome,
    s.request_id,
    s.client_ip,
    s.before === null ? null : canonicalJson(JSON.parse(s.before) as unknown),
    s.after === null ? null : canonicalJson(JSON.parse(s.after) as unknown),
  ];
}

export function adminEventHash(prevHash: string, f: (string | null)[]): string {
  return hash('sha256', `${VERSION}\n${prevHash}\n${JSON.stringify(f)}`, 'hex');
}

function view(s: StoredEvent): AdminEvent {
  return {
    seq: Number(s.seq),
    created_at: s.created_at,
    actor: s.actor,
    actor_role: s.actor_role,
    auth_method: s.auth_method,
    action: s.action,
    target: s.target,
    outcome: s.outcome,
    request_id: s.request_id,
    client_ip: s.client_ip,
    before: s.before === null ? null : (JSON.parse(s.before) as unknown),
    after: s.after === null ? null : (JSON.parse(s.after) as unknown),
    row_hash: s.row_hash,
  };
}

export interface AdminEventQuery {
  limit: number;
  /** Only events with seq below this (the previous page's next_cursor). */
  before?: number;
  actor?: string;
  action?: string;
}

export class AdminEventLog {
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly db: Db) {}

  /** Appends one event at the end of the chain; resolves once it is stored. */
  append(e: AdminEventInput): Promise<AdminEvent> {
    const run = this.tail.then(
      () => this.db.withAdvisoryLock(LOCK_ID, (conn) => this.appendLocked(conn, e)),
      () => this.db.withAdvisoryLock(LOCK_ID, (conn) => this.appendLocked(conn, e)),
    );
    this.tail = run.catch(() => {});
    return run;
  }

  private async appendLocked(conn: Db, e: AdminEventInput): Promise<AdminEvent> {
    const [last] = await conn.query<{ seq: string; row_hash: string }>(
      'SELECT seq::text AS seq, row_hash FROM admin_events ORDER BY admin_events.seq DESC LIMIT 1',
    );
    const seq = last ? Number(last.seq) + 1 : 1;
    const prev = last ? last.row_hash : GENESIS_HASH;
    const before = jsonValue(e.before);
    const after = jsonValue(e.after);
    const stored: EventFields = {
      seq: String(seq),
      created_at: canonicalTime(e.at ?? new Date()),
      actor: e.actor,
      actor_role: e.role,
      auth_method: e.method,
      action: e.action,
      target: e.target,
      outcome: e.outcome,
      request_id: e.requestId,
      client_ip: e.clientIp,
      before: before === null ? null : JSON.stringify(before),
      after: after === null ? null : JSON.stringify(after),
    };
    const rowHash = adminEventHash(prev, fields(stored));
    await conn.query(
      `INSERT INTO admin_events (seq, created_at, actor, actor_role, auth_method, action, target, outcome,
         request_id, client_ip, before, after, prev_hash, row_hash)
       VALUES ($1, $2::timestamptz, $3, $4, $5, $6, $7, $8, $9, $10, $11::text::jsonb, $12::text::jsonb, $13, $14)`,
      [
        seq,
        stored.created_at,
        stored.actor,
        stored.actor_role,
        stored.auth_method,
        stored.action,
        stored.target,
        stored.outcome,
        stored.request_id,
        stored.client_ip,
        stored.before,
        stored.after,
        prev,
        rowHash,
      ],
    );
    return view({ ...stored, prev_hash: prev, row_hash: rowHash });
  }

  /** Newest first, keyset-paginated by seq. */
  async list(q: AdminEventQuery): Promise<{ data: AdminEvent[]; next_cursor: string | null }> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, v: unknown): void => {
      params.push(v);
      where.push(sql.replace('?', `$${params.length}`));
    };
    if (q.before !== undefined) add('admin_events.seq < ?', q.before);
    if (q.actor !== undefined) add('actor = ?', q.actor);
    if (q.action !== undefined) add('action = ?', q.action);
    params.push(q.limit + 1);
    const rows = await this.db.query<StoredEvent>(
      `SELECT ${SELECT} FROM admin_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY admin_events.seq DESC LIMIT $${params.length}`,
      params,
    );
    const page = rows.slice(0, q.limit).map(view);
    return {
      data: page,
      next_cursor: rows.length > q.limit && page.length ? String(page[page.length - 1]!.seq) : null,
    };
  }
}

export interface AdminChainReport {
  rows: number;
  firstSeq: number | null;
  lastSeq: number | null;
  break: { kind: 'edited' | 'missing' | 'reordered'; seq: number; message: string } | null;
}

/** Walks admin_events in seq order, recomputing every hash and link; stops at the first break. */
export async function verifyAdminEvents(db: Db, pageSize = 2_000): Promise<AdminChainReport> {
  const report: AdminChainReport = { rows: 0, firstSeq: null, lastSeq: null, break: null };
  let expectedSeq = 1;
  let expectedPrev = GENESIS_HASH;
  const fail = (kind: 'edited' | 'missing' | 'reordered', seq: number, message: string): AdminChainReport => {
    report.break = { kind, seq, message };
    return report;
  };
  for (;;) {
    const page = await db.query<StoredEvent>(
      `SELECT ${SELECT} FROM admin_events WHERE seq >= $1 ORDER BY admin_events.seq LIMIT ${pageSize}`,
      [expectedSeq],
    );
    for (const row of page) {
      const seq = Number(row.seq);
      if (seq > expectedSeq) {
        const what =
          seq - expectedSeq === 1 ? `event ${expectedSeq} is` : `events ${expectedSeq}..${seq - 1} are`;
        return fail('missing', expectedSeq, `${what} missing (admin events are never deleted)`);
      }
      const selfOk = adminEventHash(row.prev_hash, fields(row)) === row.row_hash;
      if (row.prev_hash !== expectedPrev) {
        const [moved] = await db.query<{ seq: string }>(
          'SELECT seq::text AS seq FROM admin_events WHERE prev_hash = $1 AND seq <> $2 LIMIT 1',
          [expectedPrev, seq],
        );
        if (moved)
          return fail('reordered', seq, `the event written as seq ${seq} is stored at seq ${moved.seq}`);
        if (selfOk && seq > 1)
          return fail('edited', seq - 1, `event ${seq - 1} was rewritten: event ${seq} does not link to it`);
        return fail('edited', seq, `event ${seq} does not link to the event before it`);
      }
      if (!selfOk) return fail('edited', seq, `event ${seq} does not match its hash (a field was changed)`);
      report.firstSeq ??= seq;
      report.lastSeq = seq;
      report.rows++;
      expectedSeq = seq + 1;
      expectedPrev = row.row_hash;
    }
    if (page.length < pageSize) break;
  }
  return report;
}
