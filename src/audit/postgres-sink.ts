import { createHash } from 'node:crypto';
import type { Db } from '../db/client.js';
import {
  CANONICAL_SELECT,
  GENESIS_HASH,
  contentFields,
  rowHash,
  storedContentFields,
  type StoredRow,
} from './canonical.js';
import { checkpointMessage, sign } from './checkpoint.js';
import { defaultReplicaId } from './replica.js';
import {
  AUDIT_COLUMNS,
  CHAIN_COLUMNS,
  rowValues,
  sanitizeRow,
  type AuditRow,
  type ChainLink,
} from './row.js';

export interface AuditSinkWriteOptions {
  /** The rows may already be in the database (spool left by a crashed process): skip those. */
  replay?: boolean;
}

export interface AuditSink {
  /**
   * Writes every row or throws. Must be idempotent per row: a batch whose outcome was unknown
   * (connection lost mid-insert) or a replayed spool may repeat rows.
   */
  write(rows: readonly AuditRow[], options?: AuditSinkWriteOptions): Promise<void>;
  /** Called on idle flush ticks and at shutdown: lets a sink write a due checkpoint. */
  tick?(final: boolean): Promise<void>;
}

export interface PostgresAuditSinkOptions {
  /** This process's chain; default: AIGOV_REPLICA_ID or the host name. */
  replicaId?: string;
  /** Signs checkpoints; without it checkpoints are written unsigned (they still catch accidents). */
  hmacKey?: string | null;
  checkpointRows?: number;
  checkpointIntervalMs?: number;
  onWarn?: (message: string, detail?: Record<string, unknown>) => void;
}

export interface ChainHead {
  seq: number;
  hash: string;
}

const COLUMNS = [...AUDIT_COLUMNS, ...CHAIN_COLUMNS];
/** Columns that are not text, with the cast that turns the JSON element's text into them. */
const CASTS: Partial<Record<(typeof COLUMNS)[number], string>> = {
  created_at: 'timestamptz',
  reasons: 'jsonb',
  risk_score: 'real',
  status_code: 'integer',
  latency_ms: 'real',
  upstream_ms: 'real',
  overhead_ms: 'real',
  prompt_tokens: 'integer',
  completion_tokens: 'integer',
  total_tokens: 'integer',
  cached_tokens: 'integer',
  cache_write_tokens: 'integer',
  reasoning_tokens: 'integer',
  cost_usd: 'numeric',
  stream: 'boolean',
  aborted: 'boolean',
  degraded: 'boolean',
  seq: 'bigint',
};

function selectExpr(column: (typeof COLUMNS)[number], i: number): string {
  // text[] cannot be an element of a positional array without flattening: it stays a JSON array.
  if (column === 'policy_ids') return `ARRAY(SELECT jsonb_array_elements_text(r.v->${i}))`;
  const cast = CASTS[column];
  return cast ? `(r.v->>${i})::${cast}` : `r.v->>${i}`;
}

/**
 * One statement for any batch size: the rows travel as a single JSON array of positional arrays
 * (one bind parameter), unpacked by Postgres. A multi-row VALUES list instead costs ~30 bind
 * parameters per row to serialise on the event loop, and a fresh statement to parse and plan for
 * every distinct batch size. ORDINALITY keeps ids in chain order.
 */
export const INSERT_SQL = `INSERT INTO usage_logs (${COLUMNS.join(', ')})
  SELECT ${COLUMNS.map(selectExpr).join(', ')}
  FROM jsonb_array_elements($1::text::jsonb) WITH ORDINALITY AS r(v, n) ORDER BY r.n`;

function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === '23505';
}

/** A stable alternative id for a row whose request_id another request already used. */
export function disambiguatedId(row: AuditRow): string {
  const digest = createHash('sha256')
    .update(JSON.stringify(contentFields(row)))
    .digest('hex');
  return `${row.requestId}~${digest.slice(0, 12)}`;
}

/**
 * Writes audit rows as one hash chain per replica: each row gets the next seq and
 * row_hash = sha256(prev_hash, its canonical form). Single writer per chain: flushes are
 * sequential, and the unique (replica_id, seq) index turns a second writer into a conflict
 * instead of a fork.
 *
 * Hot path: one INSERT, chained from the head kept in memory. After a failure whose outcome is
 * unknown, on a unique conflict, and for replayed spools, the careful path re-reads the head and
 * the batch's request ids first, so rows already stored are skipped (idempotent) and a request id
 * reused by a client gets a suffixed id instead of being lost.
 */
export class PostgresAuditSink implements AuditSink {
  readonly replicaId: string;
  private head: ChainHead | null = null;
  private uncertain = false;
  private sinceCheckpoint = 0;
  private lastCheckpointAt = Date.now();
  private lastCheckpointSeq = -1;
  checkpoints = 0;

  constructor(
    private readonly db: Db,
    private readonly options: PostgresAuditSinkOptions = {},
  ) {
    this.replicaId = options.replicaId ?? defaultReplicaId();
  }

  /** The last link this process knows (null before the first write). */
  chainHead(): ChainHead | null {
    return this.head;
  }

  async write(rows: readonly AuditRow[], options: AuditSinkWriteOptions = {}): Promise<void> {
    if (rows.length === 0) return;
    const clean = rows.map(sanitizeRow);
    try {
      if (options.replay || this.uncertain || this.head === null) await this.writeCarefully(clean);
      else {
        try {
          await this.insert(clean, this.head);
        } catch (err) {
          if (!isUniqueViolation(err)) throw err;
          this.options.onWarn?.('audit insert conflicted; re-checking the batch', {
            replicaId: this.replicaId,
          });
          await this.writeCarefully(clean);
        }
      }
      this.uncertain = false;
    } catch (err) {
      // The insert may or may not have committed: next time, look before writing.
      this.uncertain = true;
      this.head = null;
      throw err;
    }
    await this.maybeCheckpoint(false);
  }

  async tick(final: boolean): Promise<void> {
    await this.maybeCheckpoint(final);
  }

  /** Where this replica's chain ends: its last row, else the last retention anchor, else genesis. */
  async loadHead(): Promise<ChainHead> {
    const [last] = await this.db.query<{ seq: string; row_hash: string }>(
      'SELECT seq::text AS seq, row_hash FROM usage_logs WHERE replica_id = $1 ORDER BY usage_logs.seq DESC LIMIT 1',
      [this.replicaId],
    );
    if (last) return { seq: Number(last.seq), hash: last.row_hash };
    const [anchor] = await this.db.query<{ seq: string; hash: string }>(
      `SELECT last_seq::text AS seq, last_hash AS hash FROM audit_retention_log
        WHERE replica_id = $1 ORDER BY audit_retention_log.last_seq DESC LIMIT 1`,
      [this.replicaId],
    );
    if (anchor) return { seq: Number(anchor.seq), hash: anchor.hash };
    return { seq: 0, hash: GENESIS_HASH };
  }

  private async writeCarefully(rows: AuditRow[]): Promise<void> {
    const head = await this.loadHead();
    const ids = new Set<string>();
    for (const r of rows) {
      ids.add(r.requestId);
      ids.add(disambiguatedId(r));
    }
    const existing = await this.db.query<StoredRow>(
      `SELECT ${CANONICAL_SELECT} FROM usage_logs WHERE request_id = ANY($1::text[])`,
      [[...ids]],
    );
    const stored = new Map<string, { replicaId: string | null; content: string }>();
    for (const s of existing)
      stored.set(s.request_id, {
        replicaId: s.replica_id,
        content: JSON.stringify(storedContentFields(s).slice(1)),
      });
    const toWrite: AuditRow[] = [];
    const seen = new Set<string>();
    for (const row of rows) {
      const content = JSON.stringify(contentFields(row).slice(1));
      const sameRow = (id: string): boolean => {
        const s = stored.get(id);
        return s !== undefined && s.replicaId === this.replicaId && s.content === content;
      };
      if (sameRow(row.requestId)) continue;
      const altId = disambiguatedId(row);
      if (sameRow(altId)) continue;
      if (stored.has(row.requestId) || seen.has(row.requestId)) {
        if (seen.has(altId)) continue; // the very same row twice in one batch
        this.options.onWarn?.('request id already in the audit log; stored under a suffixed id', {
          requestId: row.requestId,
          storedAs: altId,
        });
        const renamed = { ...row, requestId: altId };
        seen.add(altId);
        toWrite.push(renamed);
        continue;
      }
      seen.add(row.requestId);
      toWrite.push(row);
    }
    if (toWrite.length > 0) await this.insert(toWrite, head);
    else this.head = head;
  }

  private async insert(rows: readonly AuditRow[], head: ChainHead): Promise<void> {
    const values: unknown[][] = [];
    let prev = head;
    for (const row of rows) {
      const seq = prev.seq + 1;
      const link: ChainLink = {
        replicaId: this.replicaId,
        seq,
        prevHash: prev.hash,
        rowHash: rowHash(prev.hash, this.replicaId, seq, contentFields(row)),
      };
      const v = rowValues(row);
      v.push(link.replicaId, link.seq, link.prevHash, link.rowHash);
      values.push(v);
      prev = { seq, hash: link.rowHash };
    }
    // No ON CONFLICT: a silently skipped row would leave a hole in the chain. A conflict fails the
    // whole (atomic) statement and the careful path sorts out what is already there.
    await this.db.query(INSERT_SQL, [JSON.stringify(values)]);
    this.head = prev;
    this.sinceCheckpoint += rows.length;
  }

  private async maybeCheckpoint(final: boolean): Promise<void> {
    const head = this.head;
    if (!head || head.seq === this.lastCheckpointSeq || head.seq === 0) return;
    const due =
      final ||
      this.sinceCheckpoint >= (this.options.checkpointRows ?? 10_000) ||
      Date.now() - this.lastCheckpointAt >= (this.options.checkpointIntervalMs ?? 60_000);
    if (!due) return;
    const key = this.options.hmacKey ?? null;
    const hmac = key ? sign(key, checkpointMessage(this.replicaId, head.seq, head.hash)) : null;
    try {
      await this.db.query(
        'INSERT INTO audit_checkpoints (replica_id, seq, row_hash, hmac) VALUES ($1, $2, $3, $4)',
        [this.replicaId, head.seq, head.hash, hmac],
      );
      this.checkpoints++;
      this.lastCheckpointSeq = head.seq;
      this.sinceCheckpoint = 0;
      this.lastCheckpointAt = Date.now();
    } catch (err) {
      // A missed checkpoint only widens the window verify cannot see; the next one covers it.
      this.options.onWarn?.('audit checkpoint failed', { err: (err as Error).message });
    }
  }
}
