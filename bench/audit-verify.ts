/**
 * Audit log figures: writer throughput in batched and sync durability (rows/s until every row is
 * in Postgres), kill -9 exposure, and verify speed over the written chain.
 * Run: node --import tsx bench/audit-verify.ts   (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/aigov_local;
 * ROWS, default 100000). Works in a throw-away schema, dropped at the end.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { connectPostgres } from '../src/db/client.js';
import { migrate } from '../src/db/migrate.js';
import { PostgresAuditSink } from '../src/audit/postgres-sink.js';
import { Spool } from '../src/audit/spool.js';
import { AuditWriter } from '../src/audit/writer.js';
import { verifyAll } from '../src/audit/verify.js';
import type { AuditRow } from '../src/audit/row.js';

const URL_ = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/aigov_local';
const ROWS = Number(process.env.ROWS ?? 100_000);
const CONCURRENCY = 64;

function row(i: number, prefix: string): AuditRow {
  return {
    requestId: `${prefix}-${i}`,
    createdAt: new Date(),
    keyId: 'k1',
    owner: 'owner@example.com',
    team: 'team-a',
    method: 'POST',
    route: '/v1/chat/completions',
    provider: 'openai',
    model: 'gpt-4o-mini',
    decision: 'allow',
    policyIds: [],
    reasons: null,
    riskScore: 0.1,
    statusCode: 200,
    latencyMs: 12.5,
    upstreamMs: 11.9,
    overheadMs: 0.6,
    promptTokens: 120,
    completionTokens: 48,
    totalTokens: 168,
    costUsd: 0.0000468,
    stream: false,
    aborted: false,
    degraded: false,
    clientIp: '10.0.0.1',
    error: null,
    content: null,
  };
}

async function run(mode: 'batched' | 'sync', n: number, schemaUrl: string): Promise<void> {
  const db = connectPostgres(schemaUrl, { max: 4 });
  const dir = mkdtempSync(join(tmpdir(), 'aigov-bench-spool-'));
  const writer = new AuditWriter(new PostgresAuditSink(db, { replicaId: `bench-${mode}` }), {
    batchSize: 500,
    flushIntervalMs: 200,
    queueMax: 1_000_000,
    onFull: 'reject',
    durability: mode,
    spool: new Spool({ dir, maxBytes: 1 << 30 }),
  });
  writer.start();
  const started = performance.now();
  let maxQueued = 0;
  if (mode === 'batched') {
    for (let i = 0; i < n; i++) {
      writer.enqueue(row(i, mode));
      if (i % 1000 === 999) {
        maxQueued = Math.max(maxQueued, writer.getStats().queued);
        await new Promise((r) => setImmediate(r));
      }
    }
  } else {
    // Like requests in flight: CONCURRENCY callers each awaiting their row's fsync.
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < n) await writer.enqueueDurable(row(next++, mode));
      }),
    );
  }
  const acked = performance.now() - started;
  await writer.stop(120_000);
  const total = performance.now() - started;
  console.log(
    `${mode.padEnd(7)} ${n} rows: acknowledged at ${Math.round(n / (acked / 1000))} rows/s, ` +
      `all in Postgres at ${Math.round(n / (total / 1000))} rows/s` +
      (mode === 'batched' ? ` (max in memory ${maxQueued})` : ` (${CONCURRENCY} concurrent callers)`),
  );
  rmSync(dir, { recursive: true, force: true });
  await db.close();
}

const schema = `bench_${randomBytes(4).toString('hex')}`;
const admin = connectPostgres(URL_, { max: 1 });
await admin.exec(`CREATE SCHEMA ${schema}`);
const u = new URL(URL_);
u.searchParams.set('options', `-c search_path=${schema}`);
try {
  const db = connectPostgres(u.toString(), { max: 4 });
  await migrate(db);
  await run('batched', ROWS, u.toString());
  await run('sync', Math.min(ROWS, 20_000), u.toString());
  const report = await verifyAll(db);
  console.log(
    `verify  ${report.rows} rows in ${report.chains.length} chains: ${report.ok ? 'clean' : 'BROKEN'} in ` +
      `${(report.elapsedMs / 1000).toFixed(2)} s (${Math.round(report.rows / (report.elapsedMs / 1000))} rows/s)`,
  );
  await db.close();
} finally {
  await admin.exec(`DROP SCHEMA ${schema} CASCADE`);
  await admin.close();
}
