import t from 'tap';
import type { Db } from '../../../src/db/client.js';
import { PostgresAuditSink } from '../../../src/audit/postgres-sink.js';
import { verifyAll } from '../../../src/audit/verify.js';
import type { AuditRow } from '../../../src/audit/row.js';
import { allDbs, pgliteDb, postgresDb, type TestDb } from '../../support/db.js';
import { runLogs } from './fixtures/run-logs.js';
import { tamper } from './fixtures/tamper.js';
import { auditRow } from './fixtures/rows.js';

t.setTimeout(300_000);
const KEY = 'k'.repeat(40);

async function chain(db: Db, n: number, replicaId = 'r1', make = auditRow): Promise<PostgresAuditSink> {
  const sink = new PostgresAuditSink(db, { replicaId, hmacKey: KEY, checkpointRows: 100 });
  for (let i = 0; i < n; i += 250) {
    const rows: AuditRow[] = [];
    for (let j = i; j < Math.min(n, i + 250); j++) rows.push(make(j));
    await sink.write(rows);
  }
  await sink.tick(true);
  return sink;
}

async function brokenAt(db: Db): Promise<{ kind: string; seq: number } | null> {
  const report = await verifyAll(db, { hmacKey: KEY });
  const b = report.chains.find((c) => c.break)?.break;
  return b ? { kind: b.kind, seq: b.seq } : null;
}

const cases: { name: string; sql: string; kind: string; seq: number }[] = [
  {
    name: 'a field edited',
    sql: "UPDATE usage_logs SET owner = 'x@example.com' WHERE seq = 137",
    kind: 'edited',
    seq: 137,
  },
  {
    name: 'a byte of content flipped',
    sql: 'UPDATE usage_logs SET status_code = 201 WHERE seq = 42',
    kind: 'edited',
    seq: 42,
  },
  {
    name: 'a cost changed',
    sql: 'UPDATE usage_logs SET cost_usd = 1 WHERE seq = 300',
    kind: 'edited',
    seq: 300,
  },
  { name: 'a row deleted', sql: 'DELETE FROM usage_logs WHERE seq = 250', kind: 'missing', seq: 250 },
  {
    name: 'two rows swapped',
    sql: `UPDATE usage_logs SET seq = -1 WHERE seq = 60; UPDATE usage_logs SET seq = 60 WHERE seq = 90;
          UPDATE usage_logs SET seq = 90 WHERE seq = -1`,
    kind: 'reordered',
    seq: 60,
  },
  {
    name: 'the tail truncated',
    sql: 'DELETE FROM usage_logs WHERE seq > 321',
    kind: 'tail_truncated',
    seq: 322,
  },
  { name: 'the head deleted', sql: 'DELETE FROM usage_logs WHERE seq <= 5', kind: 'missing', seq: 1 },
  {
    name: 'a forged checkpoint',
    sql: "INSERT INTO audit_checkpoints (replica_id, seq, row_hash, hmac) VALUES ('r1', 150, 'x', NULL)",
    kind: 'bad_checkpoint',
    seq: 150,
  },
  {
    name: 'a forged retention record',
    sql: `INSERT INTO audit_retention_log (replica_id, first_seq, last_seq, last_hash, rows_removed, cutoff)
          VALUES ('r1', 1, 10, 'x', 10, now())`,
    kind: 'bad_anchor',
    seq: 11,
  },
];

for (const backend of ['pglite', 'postgres'] as const) {
  t.test(`${backend}: each kind of tampering is found at the right seq`, async (t) => {
    // PGlite starts slowly: the cases that exercise different code paths are enough there.
    for (const c of backend === 'pglite' ? cases.filter((_, i) => i % 2 === 0) : cases) {
      const tdb: TestDb | null = backend === 'pglite' ? await pgliteDb() : await postgresDb();
      if (!tdb) {
        t.plan(0, 'no TEST_DATABASE_URL (outside CI)');
        return;
      }
      try {
        await chain(tdb.db, 400);
        t.equal(await brokenAt(tdb.db), null, `${c.name}: clean before`);
        await tamper(tdb, c.sql);
        t.same(await brokenAt(tdb.db), { kind: c.kind, seq: c.seq }, c.name);
      } finally {
        await tdb.cleanup();
      }
    }
  });
}

t.test('awkward values hash the same written and read back, on both backends', async (t) => {
  for (const tdb of await allDbs()) {
    t.teardown(tdb.cleanup);
    const odd = (i: number): AuditRow => ({
      ...auditRow(i),
      owner: `n\u0000ul-\ud800-lone-é-${i}`,
      riskScore: 0.1 + 0.2,
      latencyMs: 1e-7 * i,
      upstreamMs: Number.NaN,
      costUsd: i % 2 ? 123456.123456789 : 0.000000125,
      promptTokens: 2 ** 40,
      reasons: { z: [1.5, 'ü', null, { b: 1e21, a: -0 }], a: 'x\u0000y', '\u00e9': true },
      content: 'line1\nline2 "quoted" \\ back',
    });
    await chain(tdb.db, 50, 'odd', odd);
    const report = await verifyAll(tdb.db, { hmacKey: KEY });
    t.ok(report.ok, `${tdb.kind}: verifies`, { chains: report.chains });
    t.equal(report.rows, 50);
  }
});

t.test('--from/--to and several replicas', async (t) => {
  const { db, cleanup } = await pgliteDb();
  t.teardown(cleanup);
  await chain(db, 300, 'a');
  await chain(db, 120, 'b');
  const all = await verifyAll(db, { hmacKey: KEY });
  t.same(
    all.chains.map((c) => [c.replicaId, c.rows, c.break]),
    [
      ['a', 300, null],
      ['b', 120, null],
    ],
  );
  const part = await verifyAll(db, { replica: 'a', from: { seq: 101 }, to: { seq: 200 } });
  t.same([part.chains[0]!.firstSeq, part.chains[0]!.lastSeq, part.rows], [101, 200, 100]);
  const byDate = await verifyAll(db, { replica: 'a', from: { date: new Date(1_700_000_000_000 + 250) } });
  t.equal(byDate.chains[0]!.firstSeq, 251);
});

t.test('aigov logs verify: exit 0 with a summary, exit 1 naming the broken seq', async (t) => {
  const pg = await postgresDb();
  if (!pg) {
    t.plan(0, 'no TEST_DATABASE_URL (outside CI)');
    return;
  }
  t.teardown(pg.cleanup);
  await chain(pg.db, 200);
  const env = { DATABASE_URL: pg.url!, AIGOV_AUDIT_HMAC_KEY: KEY };
  const ok = await runLogs(['verify'], env);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, /chain r1: ok, seq 1\.\.200 \(200 rows\)/);
  t.match(ok.stdout, /verify ok: 200 rows in 1 chains, clean/);
  t.equal(ok.stderr, '', 'no progress bar when stderr is not a terminal');
  await tamper(pg, "UPDATE usage_logs SET model = 'gpt-5' WHERE seq = 77");
  const bad = await runLogs(['verify'], env);
  t.equal(bad.code, 1);
  t.match(bad.stdout, /chain r1: BROKEN at seq 77: edited/);
  t.match(bad.stderr, /verification failed/);
  const partial = await runLogs(['verify', '--from', '78'], env);
  t.equal(partial.code, 0, 'the range after the edit is intact');
  const usage = await runLogs(['verify', '--from', 'yesterday-ish'], env);
  t.equal(usage.code, 2);
});
