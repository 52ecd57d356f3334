import type { Config } from './config/schema.js';
import { openDb, type Db } from './db/client.js';
import { migrate } from './db/migrate.js';
import { KeyStore } from './auth/key-store.js';
import { KeyVerifier, LastUsedTracker } from './auth/verifier.js';
import { AuditWriter } from './audit/writer.js';
import { PostgresAuditSink } from './audit/postgres-sink.js';
import type { Logger } from './logger.js';

/** Everything the HTTP app needs, built once from config. Tests build it with their own config. */
export interface Services {
  config: Config;
  logger: Logger;
  db: Db;
  keys: KeyStore;
  verifier: KeyVerifier;
  lastUsed: LastUsedTracker;
  audit: AuditWriter;
  /** Stops timers and flushes; does not close the db (the owner of `db` does). */
  stop(deadlineMs: number): Promise<void>;
}

export interface CreateServicesOptions {
  /** Use this database instead of opening one from config (tests share one PGlite). */
  db?: Db;
  migrate?: boolean;
}

export async function createServices(
  config: Config,
  logger: Logger,
  options: CreateServicesOptions = {},
): Promise<Services> {
  const db =
    options.db ?? (await openDb({ url: config.database.url, embeddedDir: config.database.embedded_dir }));
  if (options.migrate ?? config.database.migrate_on_start) {
    const applied = await migrate(db);
    if (applied.length) logger.info({ applied }, 'database migrations applied');
  }
  const keys = new KeyStore(db, config.auth.bcrypt_cost);
  const lastUsed = new LastUsedTracker(
    (ids, at) => keys.touch(ids, at),
    config.auth.last_used_flush,
    (err) => logger.warn({ err }, 'last-used update failed; will retry'),
  );
  const verifier = new KeyVerifier({
    lookup: (id) => keys.findById(id),
    ttlMs: config.auth.cache_ttl,
    negativeTtlMs: config.auth.negative_cache_ttl,
    max: config.auth.cache_max,
    onVerified: (id) => lastUsed.mark(id),
  });
  const audit = new AuditWriter(new PostgresAuditSink(db), {
    batchSize: config.audit.batch_size,
    flushIntervalMs: config.audit.flush_interval,
    queueMax: config.audit.queue_max,
    onFull: config.audit.on_full,
    onError: (err) => logger.error({ err }, 'audit flush failed; rows kept and retried'),
  });
  audit.start();
  lastUsed.start();
  return {
    config,
    logger,
    db,
    keys,
    verifier,
    lastUsed,
    audit,
    async stop(deadlineMs: number) {
      const left = await audit.stop(deadlineMs);
      if (left > 0) logger.error({ rows: left }, 'audit rows could not be written before shutdown');
      await lastUsed.stop();
    },
  };
}
