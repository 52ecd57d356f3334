import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import type { Db } from '../db/client.js';
import type { Logger } from '../logger.js';
import { PostgresAuditSink } from './postgres-sink.js';
import { defaultReplicaId, replicaDirName } from './replica.js';
import { Spool } from './spool.js';
import { AuditWriter } from './writer.js';

export interface AuditParts {
  writer: AuditWriter;
  sink: PostgresAuditSink;
  spool: Spool;
}

/** The audit writer as the server runs it: chained Postgres sink, per-replica spool, config policy. */
export function createAuditWriter(
  db: Db,
  audit: Config['audit'],
  logger: Logger,
  /** The listen port: part of the default replica id (see defaultReplicaId). */
  port?: number,
): AuditParts {
  const replicaId = audit.replica_id ?? defaultReplicaId(process.env, port);
  const sink = new PostgresAuditSink(db, {
    replicaId,
    hmacKey: audit.hmac_key,
    checkpointRows: audit.checkpoint_rows,
    checkpointIntervalMs: audit.checkpoint_interval,
    onWarn: (message, detail) => logger.warn({ ...detail, replicaId }, message),
  });
  if (!audit.hmac_key)
    logger.warn('AIGOV_AUDIT_HMAC_KEY is not set: audit checkpoints are unsigned (see docs/audit.md)');
  const spool = new Spool({
    dir: join(audit.spool_dir, replicaDirName(replicaId)),
    maxBytes: audit.spool_max_bytes,
  });
  const writer = new AuditWriter(sink, {
    batchSize: audit.batch_size,
    flushIntervalMs: audit.flush_interval,
    queueMax: audit.queue_max,
    onFull: audit.on_full,
    durability: audit.durability,
    spool,
    // Only the message: a database error carries the statement's parameters, i.e. prompt content.
    onError: (err) =>
      logger.error(
        { error: (err as Error).message },
        'audit flush failed; rows kept in the spool and retried',
      ),
  });
  return { writer, sink, spool };
}
