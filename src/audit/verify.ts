import type { Db } from '../db/client.js';
import { CANONICAL_SELECT, GENESIS_HASH, storedRowHash, type StoredRow } from './canonical.js';
import { anchorMessage, checkpointMessage, signatureValid } from './checkpoint.js';

/** A bound of a verify range: a sequence number, or a time (mapped to sequence numbers per chain). */
export type ChainBound = { seq: number } | { date: Date };

export interface VerifyOptions {
  from?: ChainBound;
  to?: ChainBound;
  /** Only this chain; default: every chain in the table. */
  replica?: string;
  /** Checks checkpoint and retention signatures; without it they are not checked. */
  hmacKey?: string | null;
  pageSize?: number;
  onProgress?: (p: { replicaId: string; done: number; total: number }) => void;
}

export type BreakKind =
  'edited' | 'missing' | 'reordered' | 'tail_truncated' | 'bad_checkpoint' | 'bad_anchor';

export interface ChainBreak {
  kind: BreakKind;
  /** The first sequence number that is not as written. */
  seq: number;
  message: string;
}

export interface ChainReport {
  replicaId: string;
  firstSeq: number | null;
  lastSeq: number | null;
  rows: number;
  checkpoints: number;
  /** Where the chain legitimately starts after retention (null: at seq 1). */
  anchorSeq: number | null;
  break: ChainBreak | null;
}

export interface VerifyReport {
  ok: boolean;
  rows: number;
  /** Rows written before chaining existed (migration 002): not covered. */
  legacyRows: number;
  chains: ChainReport[];
  elapsedMs: number;
}

interface CheckpointRow {
  seq: string;
  row_hash: string;
  hmac: string | null;
  created_at: string;
  [key: string]: unknown;
}

interface AnchorRow {
  last_seq: string;
  last_hash: string;
  hmac: string | null;
  [key: string]: unknown;
}

/** Every replica id with rows, checkpoints or retention records; a skip scan, not a full scan. */
export async function listReplicas(db: Db): Promise<string[]> {
  const rows = await db.query<{ replica_id: string }>(
    `WITH RECURSIVE r AS (
       (SELECT replica_id FROM usage_logs WHERE replica_id IS NOT NULL ORDER BY replica_id LIMIT 1)
       UNION ALL
       SELECT (SELECT u.replica_id FROM usage_logs u WHERE u.replica_id > r.replica_id
               ORDER BY u.replica_id LIMIT 1)
         FROM r WHERE r.replica_id IS NOT NULL
     )
     SELECT replica_id FROM r WHERE replica_id IS NOT NULL
     UNION SELECT DISTINCT replica_id FROM audit_checkpoints
     UNION SELECT DISTINCT replica_id FROM audit_retention_log WHERE replica_id IS NOT NULL
     ORDER BY 1`,
  );
  return rows.map((r) => r.replica_id);
}

async function seqFor(db: Db, replicaId: string, bound: ChainBound, side: 'from' | 'to'): Promise<number> {
  if ('seq' in bound) return bound.seq;
  const sql =
    side === 'from'
      ? 'SELECT min(seq)::text AS s FROM usage_logs WHERE replica_id = $1 AND created_at >= $2'
      : 'SELECT max(seq)::text AS s FROM usage_logs WHERE replica_id = $1 AND created_at <= $2';
  const [r] = await db.query<{ s: string | null }>(sql, [replicaId, bound.date]);
  if (r?.s != null) return Number(r.s);
  return side === 'from' ? Number.MAX_SAFE_INTEGER : 0;
}

/** Checkpoints of one chain in seq order, a page at a time (bounded memory). */
class CheckpointCursor {
  private page: CheckpointRow[] = [];
  private index = 0;
  private after: number;
  private done = false;
  count = 0;

  constructor(
    private readonly db: Db,
    private readonly replicaId: string,
    from: number,
    private readonly to: number,
  ) {
    this.after = from - 1;
  }

  async peek(): Promise<CheckpointRow | null> {
    if (this.index < this.page.length) return this.page[this.index]!;
    if (this.done) return null;
    this.page = await this.db.query<CheckpointRow>(
      `SELECT seq::text AS seq, row_hash, hmac, created_at::text AS created_at FROM audit_checkpoints
        WHERE replica_id = $1 AND seq > $2 AND seq <= $3 ORDER BY audit_checkpoints.seq, id LIMIT 1000`,
      [this.replicaId, this.after, this.to],
    );
    this.index = 0;
    if (this.page.length < 1000) this.done = true;
    if (this.page.length === 0) return null;
    return this.page[0]!;
  }

  next(): void {
    if (this.index >= this.page.length) return;
    this.index++;
    this.count++;
    if (this.index >= this.page.length) {
      this.after = Number(this.page[this.page.length - 1]!.seq);
      this.page = [];
      this.index = 0;
    }
  }
}

/**
 * Walks one chain in seq order with keyset pagination: every row's hash is recomputed from its
 * fields, every link checked against the previous row, every checkpoint against the row it names.
 * Stops at the first break, which is reported with its sequence number and kind.
 */
export async function verifyChain(
  db: Db,
  replicaId: string,
  options: VerifyOptions = {},
): Promise<ChainReport> {
  const pageSize = options.pageSize ?? 2_000;
  const key = options.hmacKey ?? null;
  const report: ChainReport = {
    replicaId,
    firstSeq: null,
    lastSeq: null,
    rows: 0,
    checkpoints: 0,
    anchorSeq: null,
    break: null,
  };
  const [anchor] = await db.query<AnchorRow>(
    `SELECT last_seq::text AS last_seq, last_hash, hmac FROM audit_retention_log
      WHERE replica_id = $1 ORDER BY audit_retention_log.last_seq DESC, id DESC LIMIT 1`,
    [replicaId],
  );
  const anchorSeq = anchor ? Number(anchor.last_seq) : 0;
  report.anchorSeq = anchor ? anchorSeq : null;
  if (
    anchor &&
    key &&
    !signatureValid(key, anchorMessage(replicaId, anchorSeq, anchor.last_hash), anchor.hmac)
  ) {
    report.break = {
      kind: 'bad_anchor',
      seq: anchorSeq + 1,
      message: `the retention record claiming rows up to seq ${anchorSeq} were removed is not signed with this key`,
    };
    return report;
  }
  const chainStart = anchorSeq + 1;
  const lo = Math.max(
    chainStart,
    options.from ? await seqFor(db, replicaId, options.from, 'from') : chainStart,
  );
  const hi = options.to ? await seqFor(db, replicaId, options.to, 'to') : Number.MAX_SAFE_INTEGER;

  let expectedSeq = lo;
  let expectedPrev: string | null = anchor ? anchor.last_hash : GENESIS_HASH;
  if (lo > chainStart) {
    const [before] = await db.query<{ row_hash: string }>(
      'SELECT row_hash FROM usage_logs WHERE replica_id = $1 AND seq = $2',
      [replicaId, lo - 1],
    );
    // Without the row before the range, the first row's link cannot be checked: trust it.
    expectedPrev = before ? before.row_hash : null;
  }
  const [tail] = await db.query<{ s: string | null }>(
    'SELECT max(seq)::text AS s FROM usage_logs WHERE replica_id = $1',
    [replicaId],
  );
  const total = Math.max(0, Math.min(hi, Number(tail?.s ?? 0)) - lo + 1);
  const checkpoints = new CheckpointCursor(db, replicaId, lo, hi);

  const fail = (kind: BreakKind, seq: number, message: string): ChainReport => {
    report.break = { kind, seq, message };
    report.checkpoints = checkpoints.count;
    return report;
  };

  let last = lo - 1;
  for (;;) {
    const page = await db.query<StoredRow>(
      `SELECT ${CANONICAL_SELECT} FROM usage_logs
        WHERE replica_id = $1 AND seq > $2 AND seq <= $3 ORDER BY usage_logs.seq LIMIT ${pageSize}`,
      [replicaId, last, hi],
    );
    for (const row of page) {
      const seq = Number(row.seq);
      if (seq > expectedSeq) {
        const what =
          seq - expectedSeq === 1 ? `row ${expectedSeq} is` : `rows ${expectedSeq}..${seq - 1} are`;
        return fail('missing', expectedSeq, `${what} missing (deleted outside retention)`);
      }
      const selfOk = storedRowHash(row) === row.row_hash;
      const linkOk = expectedPrev === null || row.prev_hash === expectedPrev;
      if (!linkOk) {
        const [moved] = await db.query<{ seq: string }>(
          'SELECT seq::text AS seq FROM usage_logs WHERE replica_id = $1 AND prev_hash = $2 AND seq <> $3 LIMIT 1',
          [replicaId, expectedPrev, seq],
        );
        if (moved)
          return fail('reordered', seq, `the row written as seq ${seq} is stored at seq ${moved.seq}`);
        if (selfOk && seq > lo)
          return fail('edited', seq - 1, `row ${seq - 1} was rewritten: row ${seq} does not link to it`);
        return fail('edited', seq, `row ${seq} does not link to the row before it`);
      }
      if (!selfOk) return fail('edited', seq, `row ${seq} does not match its hash (a field was changed)`);
      for (let c = await checkpoints.peek(); c && Number(c.seq) <= seq; c = await checkpoints.peek()) {
        const cSeq = Number(c.seq);
        if (key && !signatureValid(key, checkpointMessage(replicaId, cSeq, c.row_hash), c.hmac))
          return fail('bad_checkpoint', cSeq, `checkpoint at seq ${cSeq} is not signed with this key`);
        if (cSeq === seq && c.row_hash !== row.row_hash)
          return fail(
            'edited',
            seq,
            `row ${seq} differs from the checkpoint of ${c.created_at}: the chain was rewritten up to here`,
          );
        checkpoints.next();
      }
      report.firstSeq ??= seq;
      report.lastSeq = seq;
      report.rows++;
      expectedSeq = seq + 1;
      expectedPrev = row.row_hash;
    }
    if (page.length > 0) {
      last = Number(page[page.length - 1]!.seq);
      options.onProgress?.({ replicaId, done: report.rows, total });
    }
    if (page.length < pageSize) break;
  }
  // Checkpoints beyond the last row: the chain once went further.
  for (let c = await checkpoints.peek(); c; c = await checkpoints.peek()) {
    const cSeq = Number(c.seq);
    if (key && !signatureValid(key, checkpointMessage(replicaId, cSeq, c.row_hash), c.hmac)) {
      checkpoints.next();
      continue; // a forged checkpoint past the end proves nothing
    }
    return fail(
      'tail_truncated',
      expectedSeq,
      `chain ends at seq ${expectedSeq - 1} but a checkpoint of ${c.created_at} records seq ${cSeq}`,
    );
  }
  report.checkpoints = checkpoints.count;
  return report;
}

export async function verifyAll(db: Db, options: VerifyOptions = {}): Promise<VerifyReport> {
  const started = performance.now();
  const replicas = options.replica ? [options.replica] : await listReplicas(db);
  const chains: ChainReport[] = [];
  for (const r of replicas) chains.push(await verifyChain(db, r, options));
  const [legacy] = await db.query<{ n: string }>(
    'SELECT count(*)::text AS n FROM usage_logs WHERE replica_id IS NULL',
  );
  return {
    ok: chains.every((c) => c.break === null),
    rows: chains.reduce((n, c) => n + c.rows, 0),
    legacyRows: Number(legacy?.n ?? 0),
    chains,
    elapsedMs: performance.now() - started,
  };
}
