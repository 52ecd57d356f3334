import t from 'tap';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectPostgres } from '../../../src/db/client.js';
import { PostgresAuditSink } from '../../../src/audit/postgres-sink.js';
import { Spool } from '../../../src/audit/spool.js';
import { AuditWriter } from '../../../src/audit/writer.js';
import { verifyAll } from '../../../src/audit/verify.js';
import { postgresDb } from '../../support/db.js';
import { TcpProxy } from './fixtures/tcp-proxy.js';
import { auditRow } from './fixtures/rows.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('Postgres cut mid-load: every row lands once, in one clean chain, spool empty', async (t) => {
  const pg = await postgresDb();
  if (!pg) {
    t.plan(0, 'no TEST_DATABASE_URL (outside CI)');
    return;
  }
  t.teardown(pg.cleanup);
  const target = new URL(pg.url!);
  const proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
  await proxy.start();
  t.teardown(() => proxy.close());
  const db = connectPostgres(proxy.url(pg.url!), { max: 2 });
  t.teardown(() => db.close());
  const dir = mkdtempSync(join(tmpdir(), 'aigov-spool-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));

  const sink = new PostgresAuditSink(db, { replicaId: 'chaos', checkpointRows: 500 });
  const writer = new AuditWriter(sink, {
    batchSize: 200,
    flushIntervalMs: 20,
    queueMax: 100_000,
    onFull: 'reject',
    writeTimeoutMs: 500,
    spool: new Spool({ dir, maxBytes: 64 << 20, segmentBytes: 256 << 10 }),
    onError: () => {},
  });
  writer.start();

  const total = 6_000;
  let maxSpooled = 0;
  let refused = 0;
  for (let i = 0; i < total; i += 100) {
    if (i === 2_000) proxy.cut();
    if (i === 4_500) proxy.restore();
    for (let j = i; j < i + 100; j++) if (!writer.enqueue(auditRow(j, 'chaos'))) refused++;
    maxSpooled = Math.max(maxSpooled, writer.getStats().spooled);
    await sleep(i >= 2_000 && i < 4_500 ? 40 : 5);
  }
  t.equal(refused, 0, 'the writer kept accepting during the outage');
  const left = await writer.stop(60_000);
  const stats = writer.getStats();
  t.equal(left, 0, 'nothing lost at stop');
  t.ok(stats.failedFlushes > 0, `flushes failed during the cut (${stats.failedFlushes})`);
  t.ok(maxSpooled > 0, `rows went to the spool during the cut (up to ${maxSpooled})`);
  t.equal(stats.spooled, 0, 'spool replayed');
  t.same(
    readdirSync(dir).filter((f) => f.endsWith('.jsonl')),
    [],
    'no spool segment left on disk',
  );

  const [counts] = await pg.db.query<{ n: string; ids: string; min: string; max: string }>(
    `SELECT count(*)::text AS n, count(DISTINCT request_id)::text AS ids,
            min(seq)::text AS min, max(seq)::text AS max FROM usage_logs`,
  );
  t.equal(Number(counts!.n), total, 'rows = accepted rows');
  t.equal(Number(counts!.ids), total, 'no duplicates');
  t.equal(Number(counts!.max) - Number(counts!.min) + 1, total, 'seq is dense');
  const [renamed] = await pg.db.query<{ n: string }>(
    "SELECT count(*)::text AS n FROM usage_logs WHERE request_id LIKE '%~%'",
  );
  t.equal(Number(renamed!.n), 0, 'no row was mistaken for a reused request id');
  const report = await verifyAll(pg.db);
  t.ok(report.ok, 'the chain verifies', { report: report.chains });
  t.equal(report.rows, total);
});
