import { readdirSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Db } from './client.js';

/** Kept next to the compiled code too (the build copies the .sql files into dist/db/migrations). */
export const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));

/**
 * Arbitrary but fixed: every aigov process agrees on it, so two migrators of one schema serialise.
 * The schema is the lock's second half, so installs in different schemas of one database (tests,
 * multi-tenant setups) do not queue behind each other.
 */
const MIGRATION_LOCK_ID = 0x6a160001;

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export function listMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{3,}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((file) => {
      const sql = readFileSync(new URL(file, `file://${dir.endsWith('/') ? dir : dir + '/'}`), 'utf8');
      return {
        version: Number(file.split('_', 1)[0]),
        name: file.replace(/\.sql$/, ''),
        sql,
        checksum: createHash('sha256').update(sql).digest('hex'),
      };
    });
}

export class MigrationError extends Error {
  override name = 'MigrationError';
}

/**
 * Applies pending migrations in order, each in its own transaction, under an advisory lock so two
 * processes starting at once do not race. Returns the names applied (empty when up to date).
 */
export async function migrate(db: Db, dir = MIGRATIONS_DIR): Promise<string[]> {
  const migrations = listMigrations(dir);
  return db.withAdvisoryLock(MIGRATION_LOCK_ID, async (conn) => {
    await conn.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const rows = await conn.query<{ version: number; name: string; checksum: string }>(
      'SELECT version, name, checksum FROM schema_migrations ORDER BY version',
    );
    const applied = new Map(rows.map((r) => [Number(r.version), r]));
    const done: string[] = [];
    for (const m of migrations) {
      const seen = applied.get(m.version);
      if (seen) {
        if (seen.checksum !== m.checksum)
          throw new MigrationError(`migration ${m.name} was changed after it was applied (checksum differs)`);
        continue;
      }
      // Checksums are hex and names are [a-z0-9_]: safe to inline in the same simple query.
      try {
        await conn.exec(
          `BEGIN;\n${m.sql}\n;INSERT INTO schema_migrations (version, name, checksum) VALUES (${m.version}, '${m.name}', '${m.checksum}');\nCOMMIT;`,
        );
      } catch (err) {
        await conn.exec('ROLLBACK').catch(() => {});
        throw new MigrationError(`migration ${m.name} failed: ${(err as Error).message}`);
      }
      done.push(m.name);
    }
    return done;
  });
}
