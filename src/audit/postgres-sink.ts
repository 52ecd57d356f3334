import type { Db } from '../db/client.js';
import { AUDIT_COLUMNS, rowValues, type AuditRow } from './row.js';

export interface AuditSink {
  /** Writes every row or throws; must be idempotent per request_id (a retried batch may repeat rows). */
  write(rows: readonly AuditRow[]): Promise<void>;
}

const COLUMN_LIST = AUDIT_COLUMNS.join(', ');
const WIDTH = AUDIT_COLUMNS.length;
const RETURNING_SQL_CACHE = new Map<number, string>();

/** One multi-row INSERT per batch; the statement text depends only on the row count, so it is cached. */
function insertSql(count: number): string {
  let sql = RETURNING_SQL_CACHE.get(count);
  if (sql) return sql;
  const tuples: string[] = [];
  for (let r = 0; r < count; r++) {
    const params: string[] = [];
    for (let c = 1; c <= WIDTH; c++) params.push(`$${r * WIDTH + c}`);
    tuples.push(`(${params.join(',')})`);
  }
  sql = `INSERT INTO usage_logs (${COLUMN_LIST}) VALUES ${tuples.join(',')} ON CONFLICT (request_id) DO NOTHING`;
  if (RETURNING_SQL_CACHE.size < 64) RETURNING_SQL_CACHE.set(count, sql);
  return sql;
}

export class PostgresAuditSink implements AuditSink {
  constructor(private readonly db: Db) {}

  async write(rows: readonly AuditRow[]): Promise<void> {
    if (rows.length === 0) return;
    const params: unknown[] = [];
    for (const row of rows) params.push(...rowValues(row));
    await this.db.query(insertSql(rows.length), params);
  }
}
