import { randomBytes } from 'node:crypto';
import { connectPostgres, openPglite, type Db } from '../../src/db/client.js';
import { migrate } from '../../src/db/migrate.js';

/**
 * Test databases. Real Postgres comes from TEST_DATABASE_URL (.ci/run creates a fresh database per
 * run and sets it); each test file gets its own schema in it so parallel files never see each
 * other's rows. Without it, tests use in-memory PGlite; in CI a missing Postgres is a failure.
 */
export interface TestDb {
  db: Db;
  kind: 'postgres' | 'pglite';
  url: string | null;
  schema: string | null;
  cleanup(): Promise<void>;
}

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? null;
export const IN_CI = process.env.CI === 'true' || process.env.CI === '1';

export async function pgliteDb(options: { migrate?: boolean } = {}): Promise<TestDb> {
  const db = await openPglite(null);
  if (options.migrate !== false) await migrate(db);
  return { db, kind: 'pglite', url: null, schema: null, cleanup: () => db.close() };
}

/** A fresh schema in the real test database, or null when none is configured (outside CI). */
export async function postgresDb(options: { migrate?: boolean } = {}): Promise<TestDb | null> {
  if (!TEST_DATABASE_URL) {
    if (IN_CI)
      throw new Error(
        'CI=true but TEST_DATABASE_URL is not set: real Postgres tests cannot be skipped in CI',
      );
    return null;
  }
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const admin = connectPostgres(TEST_DATABASE_URL, { max: 1 });
  await admin.exec(`CREATE SCHEMA ${schema}`);
  await admin.close();
  const db = connectPostgres(TEST_DATABASE_URL, { max: 4, searchPath: schema });
  if (options.migrate !== false) await migrate(db);
  return {
    db,
    kind: 'postgres',
    url: withSearchPath(TEST_DATABASE_URL, schema),
    schema,
    async cleanup() {
      await db.close();
      const a = connectPostgres(TEST_DATABASE_URL!, { max: 1 });
      await a.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await a.close();
    },
  };
}

/** A URL that lands in the schema: libpq `options=-c search_path=...`, which postgres.js honours. */
export function withSearchPath(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}

/** Both backends where available: every database test runs on PGlite and on real Postgres. */
export async function allDbs(): Promise<TestDb[]> {
  const out = [await pgliteDb()];
  const pg = await postgresDb();
  if (pg) out.push(pg);
  return out;
}
