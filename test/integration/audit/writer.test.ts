import t from 'tap';
import { AuditWriter } from '../../../src/audit/writer.js';
import { PostgresAuditSink, type AuditSink } from '../../../src/audit/postgres-sink.js';
import type { AuditRow } from '../../../src/audit/row.js';
import { allDbs } from '../../support/db.js';

function row(i: number): AuditRow {
  return {
    requestId: `req-${i}`,
    // Fixed per i: a retried row is the same row, not a new request reusing the id.
    createdAt: new Date(1_700_000_000_000 + i),
    keyId: 'k',
    owner: 'o@example.com',
    team: 't',
    method: 'POST',
    route: '/v1/chat/completions',
    provider: 'openai',
    model: 'gpt-4o',
    decision: 'allow',
    policyIds: ['a', 'b'],
    reasons: [{ policy: 'a' }],
    riskScore: 0.2,
    statusCode: 200,
    latencyMs: 1.5,
    upstreamMs: 1,
    overheadMs: 0.5,
    promptTokens: 10,
    completionTokens: i % 2 ? null : 5,
    totalTokens: i % 2 ? null : 15,
    costUsd: i % 2 ? null : 0.000123,
    stream: false,
    aborted: false,
    degraded: false,
    clientIp: '127.0.0.1',
    error: null,
    content: null,
  };
}

t.test('rows reach usage_logs in batches, on every backend', async (t) => {
  for (const tdb of await allDbs()) {
    t.teardown(tdb.cleanup);
    const writer = new AuditWriter(new PostgresAuditSink(tdb.db), {
      batchSize: 100,
      flushIntervalMs: 10,
      queueMax: 10_000,
      onFull: 'reject',
    });
    writer.start();
    let kept = 0;
    for (let i = 0; i < 1234; i++) if (writer.enqueue(row(i))) kept++;
    t.equal(kept, 1234);
    t.equal(await writer.stop(10_000), 0, `${tdb.kind}: nothing left`);
    const [count] = await tdb.db.query<{ n: number }>('SELECT count(*)::int AS n FROM usage_logs');
    t.equal(Number(count!.n), 1234, `${tdb.kind}: every row written`);
    const [r] = await tdb.db.query<Record<string, unknown>>(
      "SELECT policy_ids, total_tokens, cost_usd, reasons FROM usage_logs WHERE request_id = 'req-1'",
    );
    t.same(r!.policy_ids, ['a', 'b']);
    t.equal(r!.total_tokens, null, 'unknown tokens stay NULL, not 0');
    t.equal(r!.cost_usd, null);
    t.equal(writer.getStats().written, 1234);
  }
});

t.test('a retried batch never duplicates rows', async (t) => {
  for (const tdb of await allDbs()) {
    t.teardown(tdb.cleanup);
    const sink = new PostgresAuditSink(tdb.db);
    await sink.write([row(1), row(2)]);
    await sink.write([row(1), row(2), row(3)]);
    const [count] = await tdb.db.query<{ n: number }>('SELECT count(*)::int AS n FROM usage_logs');
    t.equal(Number(count!.n), 3, tdb.kind);
  }
});

t.test('a request id reused by another request keeps both rows (the second one suffixed)', async (t) => {
  for (const tdb of await allDbs()) {
    t.teardown(tdb.cleanup);
    const sink = new PostgresAuditSink(tdb.db, { replicaId: 'r1' });
    await sink.write([row(1)]);
    const other = { ...row(1), owner: 'someone-else@example.com' };
    await sink.write([other, row(2)]);
    await sink.write([other]);
    const rows = await tdb.db.query<{ request_id: string; owner: string; seq: string }>(
      'SELECT request_id, owner, seq::text AS seq FROM usage_logs ORDER BY usage_logs.seq',
    );
    t.equal(rows.length, 3, `${tdb.kind}: nothing lost, nothing doubled`);
    t.equal(rows[0]!.request_id, 'req-1');
    t.match(rows[1]!.request_id, /^req-1~[0-9a-f]{12}$/);
    t.equal(rows[1]!.owner, 'someone-else@example.com');
    t.same(
      rows.map((r) => r.seq),
      ['1', '2', '3'],
      'the chain stays dense',
    );
  }
});

t.test('a failed flush keeps its rows and retries them', async (t) => {
  const written: string[] = [];
  let failures = 2;
  const sink: AuditSink = {
    async write(rows) {
      if (failures-- > 0) throw new Error('db down');
      written.push(...rows.map((r) => r.requestId));
    },
  };
  const errors: unknown[] = [];
  const writer = new AuditWriter(sink, {
    batchSize: 10,
    flushIntervalMs: 5,
    queueMax: 100,
    onFull: 'reject',
    onError: (e) => errors.push(e),
  });
  for (let i = 0; i < 25; i++) writer.enqueue(row(i));
  t.equal(await writer.drain(10_000), 0);
  t.equal(errors.length, 2, 'both failures reported');
  t.same(
    written,
    Array.from({ length: 25 }, (_, i) => `req-${i}`),
    'all rows, in order, once',
  );
  t.equal(writer.getStats().failedFlushes, 2);
});

t.test('a full queue is counted and refuses in reject mode', async (t) => {
  const sink: AuditSink = {
    write: () => Promise.reject(new Error('down')),
  };
  const writer = new AuditWriter(sink, {
    batchSize: 1000,
    flushIntervalMs: 1000,
    queueMax: 3,
    onFull: 'reject',
  });
  t.ok(writer.enqueue(row(1)));
  t.ok(writer.enqueue(row(2)));
  t.ok(writer.accepting());
  t.ok(writer.enqueue(row(3)));
  t.notOk(writer.accepting(), 'full: governed requests must be refused');
  t.notOk(writer.enqueue(row(4)));
  t.equal(writer.getStats().dropped, 1);
  const dropMode = new AuditWriter(sink, {
    batchSize: 1000,
    flushIntervalMs: 1000,
    queueMax: 1,
    onFull: 'drop',
  });
  dropMode.enqueue(row(1));
  t.ok(dropMode.accepting(), 'drop mode keeps serving');
  t.notOk(dropMode.enqueue(row(2)));
  t.equal(dropMode.getStats().dropped, 1);
});
