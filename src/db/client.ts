import { mkdirSync, openSync, closeSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import postgres from 'postgres';
import { PGlite } from '@electric-sql/pglite';

export type Row = Record<string, unknown>;

/**
 * The one database interface: real Postgres through postgres.js, or embedded PGlite.
 * Same SQL (with $1 placeholders) and same migrations on both.
 */
export interface Db {
  readonly kind: 'postgres' | 'pglite';
  query<T extends Row = Row>(text: string, params?: readonly unknown[]): Promise<T[]>;
  /** Several statements, no parameters (migrations). */
  exec(sql: string): Promise<void>;
  /** Runs fn holding a session-level advisory lock (per schema) on one dedicated connection. */
  withAdvisoryLock<T>(lockId: number, fn: (db: Db) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

type PgParams = postgres.ParameterOrJSON<never>[];

function postgresDb(sql: postgres.Sql | postgres.ReservedSql, owner: postgres.Sql | null): Db {
  const db: Db = {
    kind: 'postgres',
    async query<T extends Row>(text: string, params: readonly unknown[] = []): Promise<T[]> {
      const rows = await sql.unsafe(text, params as PgParams);
      return rows as unknown as T[];
    },
    async exec(text: string): Promise<void> {
      await sql.unsafe(text);
    },
    async withAdvisoryLock<T>(lockId: number, fn: (db: Db) => Promise<T>): Promise<T> {
      if (!owner) return fn(db);
      const reserved = await owner.reserve();
      try {
        await reserved.unsafe('select pg_advisory_lock($1, hashtext(current_schema()))', [lockId]);
        try {
          return await fn(postgresDb(reserved, null));
        } finally {
          await reserved.unsafe('select pg_advisory_unlock($1, hashtext(current_schema()))', [lockId]);
        }
      } finally {
        reserved.release();
      }
    },
    async close(): Promise<void> {
      if (owner) await owner.end({ timeout: 5 });
    },
  };
  return db;
}

export function connectPostgres(url: string, options: { max?: number; searchPath?: string } = {}): Db {
  const sql = postgres(url, {
    max: options.max ?? 10,
    onnotice: () => {},
    connect_timeout: 10,
    idle_timeout: 60,
    connection: {
      application_name: 'aigov',
      ...(options.searchPath ? { search_path: options.searchPath } : {}),
    },
  });
  return postgresDb(sql, sql);
}

/**
 * PGlite is one in-process Postgres over a data folder: two processes must never open the same
 * folder, so a pid lock file refuses the second one with a clear message instead of corrupting it.
 */
function lockDataDir(dir: string): () => void {
  const lockPath = `${dir}.lock`;
  mkdirSync(dirname(lockPath), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockPath, 'wx');
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(lockPath, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(readFileSync(lockPath, 'utf8'));
      if (pid && pid !== process.pid && isAlive(pid))
        throw new EmbeddedDbLockedError(
          `embedded database ${dir} is in use by process ${pid}; stop it or set DATABASE_URL`,
        );
      rmSync(lockPath, { force: true });
    }
  }
  throw new EmbeddedDbLockedError(`cannot lock embedded database ${dir}`);
}

export class EmbeddedDbLockedError extends Error {
  override name = 'EmbeddedDbLockedError';
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** dir = null keeps the database in memory (tests). */
export async function openPglite(dir: string | null): Promise<Db> {
  let unlock: () => void = () => {};
  if (dir) {
    mkdirSync(dir, { recursive: true });
    unlock = lockDataDir(dir);
  }
  let pg: PGlite;
  try {
    pg = dir ? await PGlite.create(dir) : await PGlite.create();
  } catch (err) {
    unlock();
    throw err;
  }
  const db: Db = {
    kind: 'pglite',
    async query<T extends Row>(text: string, params: readonly unknown[] = []): Promise<T[]> {
      const res = await pg.query<T>(text, params as unknown[]);
      return res.rows;
    },
    async exec(text: string): Promise<void> {
      await pg.exec(text);
    },
    // One connection, one process (guarded by the lock file): the lock is implicit.
    withAdvisoryLock: (_lockId, fn) => fn(db),
    async close(): Promise<void> {
      if (pg.closed) return;
      await pg.close();
      unlock();
    },
  };
  return db;
}

export interface DbOptions {
  url: string | null;
  embeddedDir: string;
  poolMax?: number;
}

export async function openDb(options: DbOptions): Promise<Db> {
  if (options.url) return connectPostgres(options.url, { max: options.poolMax ?? 10 });
  return openPglite(options.embeddedDir);
}
