import t from 'tap';
import { PostgresAuditSink } from '../../../src/audit/postgres-sink.js';
import { verifyAll } from '../../../src/audit/verify.js';
import type { AuditRow } from '../../../src/audit/row.js';
import { postgresDb } from '../../support/db.js';
import { auditRow } from './fixtures/rows.js';

const KEY = 'k'.repeat(40);
t.setTimeout(300_000);

t.test('100,000 clean rows verify (real Postgres)', async (t) => {
  const pg = await postgresDb();
  if (!pg) {
    t.plan(0, 'no TEST_DATABASE_URL (outside CI)');
    return;
  }
  t.teardown(pg.cleanup);
  const sink = new PostgresAuditSink(pg.db, { replicaId: 'big', hmacKey: KEY, checkpointRows: 10_000 });
  const n = 100_000;
  const started = performance.now();
  for (let i = 0; i < n; i += 1_000) {
    const rows: AuditRow[] = [];
    for (let j = i; j < i + 1_000; j++) rows.push(auditRow(j, 'big'));
    await sink.write(rows);
  }
  await sink.tick(true);
  const insertMs = performance.now() - started;
  const report = await verifyAll(pg.db, { hmacKey: KEY });
  t.ok(report.ok);
  t.equal(report.rows, n);
  t.equal(report.chains[0]!.checkpoints, 10);
  t.comment(
    `100k rows: written in ${(insertMs / 1000).toFixed(1)} s, verified in ${(report.elapsedMs / 1000).toFixed(1)} s ` +
      `(${Math.round(n / (report.elapsedMs / 1000))} rows/s)`,
  );
});
