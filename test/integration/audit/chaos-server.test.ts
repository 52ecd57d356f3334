import t from 'tap';
import { Pool } from 'undici';
import { connectPostgres } from '../../../src/db/client.js';
import { postgresDb, withSearchPath, type TestDb } from '../../support/db.js';
import { startProxy } from '../../support/proxy.js';
import { startTcpProxy } from '../../support/tcp-proxy.js';

/**
 * The audit promise through a running server: thousands of governed calls, the database cut off
 * in the middle (a TCP hop dropped and refusing, as when Postgres goes away), then back. Every
 * answered request has exactly one row afterwards and the spool is empty.
 */
t.setTimeout(300_000);

t.test('Postgres outage under load, through the proxy', async (t) => {
  const pg = await postgresDb();
  if (!pg) return t.plan(0, 'no TEST_DATABASE_URL (CI always has one)');
  t.teardown(pg.cleanup);
  const target = new URL(process.env.TEST_DATABASE_URL!);
  const hop = await startTcpProxy(target.hostname, Number(target.port || 5432));
  t.teardown(() => hop.close());
  const through = new URL(target.toString());
  through.hostname = '127.0.0.1';
  through.port = String(hop.port);
  const db = connectPostgres(withSearchPath(through.toString(), pg.schema!), { max: 4 });
  const testDb: TestDb = { ...pg, db, cleanup: () => db.close() };
  const h = await startProxy({ testDb, overrides: { audit: { flush_interval: 20, batch_size: 200 } } });
  t.teardown(async () => {
    await h.close();
    await db.close();
  });

  const pool = new Pool(h.url, { connections: 32 });
  t.teardown(() => pool.close());
  const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] });
  const TOTAL = 3_000;
  let sent = 0;
  const statuses = new Map<number, number>();
  const worker = async (): Promise<void> => {
    while (sent < TOTAL) {
      sent++;
      const res = await pool.request({
        method: 'POST',
        path: '/v1/chat/completions',
        headers: { authorization: `Bearer ${h.key}`, 'content-type': 'application/json' },
        body,
      });
      await res.body.dump();
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
    }
  };
  const outage = (async () => {
    while (sent < TOTAL / 3) await new Promise((r) => setTimeout(r, 10));
    hop.cut(true);
    // At least 2 s, and until a flush has failed: on a loaded machine the requests left could all
    // be answered (and queued) before the writer's next flush, and the outage would test nothing.
    const until = Date.now() + 20_000;
    await new Promise((r) => setTimeout(r, 2_000));
    while (h.services.audit.getStats().failedFlushes === 0 && Date.now() < until)
      await new Promise((r) => setTimeout(r, 50));
    hop.cut(false);
  })();
  await Promise.all([...Array.from({ length: 32 }, worker), outage]);
  const answered = [...statuses.values()].reduce((a, b) => a + b, 0);
  t.equal(answered, TOTAL, `every request was answered: ${JSON.stringify(Object.fromEntries(statuses))}`);
  t.ok(h.services.audit.getStats().failedFlushes > 0, 'the outage really hit the audit writer');

  t.equal(await h.services.audit.drain(60_000), 0, 'queue and spool drained once the database was back');
  const [r] = await pg.db.query<{ n: number; distinct_ids: number }>(
    "SELECT count(*)::int AS n, count(DISTINCT request_id)::int AS distinct_ids FROM usage_logs WHERE route = '/v1/chat/completions'",
  );
  t.equal(Number(r!.n), answered, 'one row per answered request');
  t.equal(Number(r!.distinct_ids), Number(r!.n), 'no duplicates');
  const stats = h.services.audit.getStats();
  t.equal(stats.spooled, 0, 'spool empty');
  t.equal(stats.dropped, 0, 'nothing dropped');
});
