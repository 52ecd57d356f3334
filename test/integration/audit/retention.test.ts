import t from 'tap';
import { PostgresAuditSink } from '../../../src/audit/postgres-sink.js';
import { cleanupAuditLog } from '../../../src/audit/retention.js';
import { verifyAll } from '../../../src/audit/verify.js';
import type { AuditRow } from '../../../src/audit/row.js';
import { allDbs, postgresDb } from '../../support/db.js';
import { runLogs } from './fixtures/run-logs.js';
import { tamper } from './fixtures/tamper.js';
import { auditRow } from './fixtures/rows.js';

t.setTimeout(300_000);
const KEY = 'r'.repeat(40);
const DAY = 86_400_000;

function aged(i: number, days: number): AuditRow {
  return auditRow(i, 'ret', new Date(Date.now() - days * DAY + i));
}

t.test('cleanup removes the old prefix in batches and the rest still verifies', async (t) => {
  for (const tdb of await allDbs()) {
    t.teardown(tdb.cleanup);
    const sink = new PostgresAuditSink(tdb.db, { replicaId: 'r', hmacKey: KEY, checkpointRows: 50 });
    const old: AuditRow[] = [];
    for (let i = 0; i < 230; i++) old.push(aged(i, 120));
    await sink.write(old);
    // A late row from the spool: old, but written after a young one; it waits for the next run.
    await sink.write([aged(1000, 1), aged(1001, 200), aged(1002, 1)]);
    await sink.tick(true);
    const progress: number[] = [];
    const result = await cleanupAuditLog(tdb.db, {
      cutoff: new Date(Date.now() - 90 * DAY),
      batchSize: 100,
      hmacKey: KEY,
      onProgress: (p) => progress.push(p.removed),
    });
    t.equal(result.removed, 230, `${tdb.kind}: the old prefix is removed`);
    t.same(progress, [100, 200, 230], 'in batches, with progress');
    const [left] = await tdb.db.query<{ n: string; min: string }>(
      'SELECT count(*)::text AS n, min(seq)::text AS min FROM usage_logs',
    );
    t.same([left!.n, left!.min], ['3', '231']);
    const report = await verifyAll(tdb.db, { hmacKey: KEY });
    t.ok(report.ok, `${tdb.kind}: verifies from the anchor`, { chains: report.chains });
    t.equal(report.chains[0]!.anchorSeq, 230);
    const logs = await tdb.db.query<{ first_seq: string; last_seq: string; rows_removed: string }>(
      'SELECT first_seq::text, last_seq::text, rows_removed::text FROM audit_retention_log ORDER BY id',
    );
    t.same(
      logs.map((l) => [l.first_seq, l.last_seq, l.rows_removed]),
      [
        ['1', '100', '100'],
        ['101', '200', '100'],
        ['201', '230', '30'],
      ],
      'each batch recorded what it removed',
    );
  }
});

t.test('a chain emptied by retention resumes from its anchor', async (t) => {
  for (const tdb of await allDbs()) {
    t.teardown(tdb.cleanup);
    const first = new PostgresAuditSink(tdb.db, { replicaId: 'z', hmacKey: KEY });
    await first.write([aged(1, 100), aged(2, 100)]);
    await cleanupAuditLog(tdb.db, { cutoff: new Date(Date.now() - 90 * DAY), hmacKey: KEY });
    const restarted = new PostgresAuditSink(tdb.db, { replicaId: 'z', hmacKey: KEY });
    await restarted.write([aged(3, 0)]);
    t.equal(restarted.chainHead()?.seq, 3, `${tdb.kind}: seq continues after the removed rows`);
    const report = await verifyAll(tdb.db, { hmacKey: KEY });
    t.ok(report.ok, { chains: report.chains });
  }
});

t.test('aigov logs cleanup: bare number means days; then verify passes', async (t) => {
  const pg = await postgresDb();
  if (!pg) {
    t.plan(0, 'no TEST_DATABASE_URL (outside CI)');
    return;
  }
  t.teardown(pg.cleanup);
  const sink = new PostgresAuditSink(pg.db, { replicaId: 'cli', hmacKey: KEY });
  const rows: AuditRow[] = [];
  for (let i = 0; i < 40; i++) rows.push(aged(i, 100 - i));
  await sink.write(rows);
  const env = { DATABASE_URL: pg.url!, AIGOV_AUDIT_HMAC_KEY: KEY };
  const bad = await runLogs(['cleanup', '--older-than', 'soon'], env);
  t.equal(bad.code, 2, 'bad duration is a usage error');
  const res = await runLogs(['cleanup', '--older-than', '90'], env);
  t.equal(res.code, 0, res.stderr);
  t.match(res.stdout, /removed 11 audit rows older than/);
  const verify = await runLogs(['verify'], env);
  t.equal(verify.code, 0, verify.stdout);
  // Someone "cleans up" by hand: verify sees rows missing, not a legitimate cleanup.
  await tamper(pg, 'DELETE FROM usage_logs WHERE seq <= 15');
  const after = await runLogs(['verify'], env);
  t.equal(after.code, 1);
  t.match(after.stdout, /BROKEN at seq 12: missing/);
});
