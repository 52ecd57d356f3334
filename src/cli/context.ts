import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { openDb, type Db } from '../db/client.js';
import { migrate } from '../db/migrate.js';

/** Opens the configured database (migrated) for one CLI command and closes it afterwards. */
export async function withDb<T>(fn: (db: Db, config: Config) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const db = await openDb({ url: config.database.url, embeddedDir: config.database.embedded_dir });
  try {
    await migrate(db);
    return await fn(db, config);
  } finally {
    await db.close();
  }
}
