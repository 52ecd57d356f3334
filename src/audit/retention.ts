import type { Db } from '../db/client.js';
import { anchorMessage, sign } from './checkpoint.js';
import { listReplicas } from './verify.js';

export interface CleanupOptions {
  /** Rows created before this time are removed. */
  cutoff: Date;
  /** Rows per delete statement (one transaction each). */
  batchSize?: number;
  /** Signs the retention anchors, so verify can tell a cleanup from deleted evidence. */
  hmacKey?: string | null;
  onProgress?: (p: { replicaId: string | null; removed: number }) => void;
}

export interface CleanupResult {
  removed: number;
  byReplica: Record<string, number>;
  legacyRemoved: number;
}

/**
 * Retention: removes old rows through the database's retention functions (the only delete path
 * the triggers allow). Per chain it removes a prefix: rows up to the first row that is not old
 * enough, so a chain never gets a hole; each batch leaves a signed anchor (last removed seq and
 * hash) that verify starts the remaining chain from. A row older than the cutoff that follows a
 * newer one (written late from the spool) waits for the next run.
 */
export async function cleanupAuditLog(db: Db, options: CleanupOptions): Promise<CleanupResult> {
  const batch = options.batchSize ?? 5_000;
  const result: CleanupResult = { removed: 0, byReplica: {}, legacyRemoved: 0 };
  for (const replicaId of await listReplicas(db)) {
    let removed = 0;
    // Walks the chain index in seq order and stops at the first young row: cheap, because the
    // rows it passes are exactly the ones about to be removed.
    const [range] = await db.query<{ first: string | null; stop: string | null; last: string | null }>(
      `SELECT (SELECT seq FROM usage_logs WHERE replica_id = $1 ORDER BY seq LIMIT 1)::text AS first,
              (SELECT seq FROM usage_logs WHERE replica_id = $1 AND created_at >= $2
                ORDER BY seq LIMIT 1)::text AS stop,
              (SELECT seq FROM usage_logs WHERE replica_id = $1 ORDER BY seq DESC LIMIT 1)::text AS last`,
      [replicaId, options.cutoff],
    );
    if (range?.first && range.last) {
      const lastOld = range.stop === null ? Number(range.last) : Number(range.stop) - 1;
      for (let from = Number(range.first); from <= lastOld;) {
        const upto = Math.min(lastOld, from + batch - 1);
        const [row] = await db.query<{ row_hash: string }>(
          'SELECT row_hash FROM usage_logs WHERE replica_id = $1 AND seq = $2',
          [replicaId, upto],
        );
        if (!row)
          throw new AuditChainError(`audit chain ${replicaId} has no row ${upto}; run aigov logs verify`);
        const key = options.hmacKey ?? null;
        const hmac = key ? sign(key, anchorMessage(replicaId, upto, row.row_hash)) : null;
        const [done] = await db.query<{ n: string }>(
          'SELECT aigov_audit_remove_prefix($1, $2, $3, $4, $5)::text AS n',
          [replicaId, upto, row.row_hash, options.cutoff, hmac],
        );
        removed += Number(done?.n ?? 0);
        options.onProgress?.({ replicaId, removed });
        from = upto + 1;
      }
    }
    if (removed > 0) result.byReplica[replicaId] = removed;
    result.removed += removed;
  }
  for (;;) {
    const [done] = await db.query<{ n: string }>('SELECT aigov_audit_remove_legacy($1, $2)::text AS n', [
      options.cutoff,
      batch,
    ]);
    const n = Number(done?.n ?? 0);
    if (n === 0) break;
    result.legacyRemoved += n;
    result.removed += n;
    options.onProgress?.({ replicaId: null, removed: result.legacyRemoved });
  }
  return result;
}

/** The chain is not as retention expects it (a row it must anchor on is gone): verify first. */
export class AuditChainError extends Error {
  override name = 'AuditChainError';
}
