import t from 'tap';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Pool } from 'undici';
import { KeyStore } from '../../../src/auth/key-store.js';
import { postgresDb, IN_CI } from '../../support/db.js';
import { redisReachable, REDIS_URL } from '../../support/redis.js';
import { startMockProvider } from '../../support/mock-provider.js';
import { startProxyProcess, type ProxyProcess } from '../../support/proxy-process.js';

/**
 * Limits hold across replicas: three proxy processes share one Redis and one Postgres, and the
 * counters are atomic in Redis, so N replicas never allow N times the limit.
 */

t.test('three replicas sharing Redis', async (t) => {
  const pg = await postgresDb();
  if (!pg) return t.plan(0, 'no TEST_DATABASE_URL: replicas need a shared Postgres (CI always has one)');
  t.teardown(pg.cleanup);
  if (!(await redisReachable())) {
    if (IN_CI) throw new Error(`Redis not reachable at ${REDIS_URL}: CI must test limits against Redis`);
    return t.plan(0, 'Redis not reachable');
  }
  const run = randomBytes(4).toString('hex');
  const mock = await startMockProvider({ record: true });
  t.teardown(() => mock.close());

  const dir = t.testdir({});
  writeFileSync(
    `${dir}/policies.yaml`,
    [
      'version: 1',
      'rules:',
      `  - id: burst-${run}`,
      '    scope: { teams: [burst] }',
      // 30-day windows aligned to the epoch: no boundary falls inside a test run in practice.
      '    limit: { requests: 100, per: 30d, by: team }',
      `  - id: budget-${run}`,
      '    scope: { teams: [budget] }',
      '    limit: { cost_usd: 0.05, per: 30d, by: team }',
      '',
    ].join('\n'),
  );
  writeFileSync(
    `${dir}/aigov.yaml`,
    'auth:\n  bcrypt_cost: 4\n  dev_key: false\naudit:\n  flush_interval: 20ms\nlimits:\n  expected_replicas: 3\n  store_timeout: 5s\nredis:\n  command_timeout: 5s\npolicies:\n  watch: false\n',
  );
  const keys = new KeyStore(pg.db, 4);
  const burstKey = (await keys.create({ owner: 'burst@example.com', team: 'burst' })).key;
  const budgetKey = (await keys.create({ owner: 'budget@example.com', team: 'budget' })).key;

  const env = {
    AIGOV_CONFIG: `${dir}/aigov.yaml`,
    POLICIES_PATH: `${dir}/policies.yaml`,
    DATABASE_URL: pg.url!,
    REDIS_URL,
    OPENAI_BASE_URL: mock.url,
    OPENAI_API_KEY: 'sk-provider',
    AIGOV_MIGRATE_ON_START: 'false',
    AIGOV_AUDIT_SPOOL_DIR: `${dir}/spool`,
  };
  const replicas: ProxyProcess[] = [];
  for (let i = 0; i < 3; i++)
    replicas.push(await startProxyProcess({ ...env, AIGOV_REPLICA_ID: `replica-${i}` }));
  t.teardown(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
  });
  const pools = replicas.map((r) => new Pool(r.url, { connections: 100 }));
  t.teardown(() => Promise.all(pools.map((p) => p.close())));

  await t.test('1,000 concurrent requests at a 100-request limit: exactly 100 forwarded', async (t) => {
    mock.requests.length = 0;
    const body = JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    const statuses = await Promise.all(
      Array.from({ length: 1000 }, async (_, i) => {
        const res = await pools[i % 3]!.request({
          method: 'POST',
          path: '/v1/chat/completions',
          headers: { authorization: `Bearer ${burstKey}`, 'content-type': 'application/json' },
          body,
        });
        await res.body.dump();
        return res.statusCode;
      }),
    );
    const ok = statuses.filter((s) => s === 200).length;
    const limited = statuses.filter((s) => s === 429).length;
    const other = statuses.filter((s) => s !== 200 && s !== 429);
    t.same(other, [], 'no other answers (a timeout would show as 503)');
    t.equal(ok, 100, 'exactly the limit passed');
    t.equal(limited, 900, 'everything else was refused with 429');
    t.equal(mock.requests.length, 100, 'the provider received exactly 100');
  });

  await t.test('a USD budget holds under concurrent streamed calls', async (t) => {
    mock.requests.length = 0;
    // Each call costs exactly 1000 prompt + 1000 completion tokens of gpt-4o = $0.0125, and its
    // estimate (4,000 chars / 4 + max_tokens 1000) is the same, so the budget admits 4 calls.
    const behavior = JSON.stringify({
      usage: { prompt: 1000, completion: 1000 },
      chunks: 3,
      chunkDelayMs: 30,
    });
    const body = JSON.stringify({
      model: 'gpt-4o',
      stream: true,
      max_tokens: 1000,
      messages: [{ role: 'user', content: 'x'.repeat(4000) }],
    });
    const statuses = await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        const res = await pools[i % 3]!.request({
          method: 'POST',
          path: '/v1/chat/completions',
          headers: {
            authorization: `Bearer ${budgetKey}`,
            'content-type': 'application/json',
            'x-mock-behavior': behavior,
          },
          body,
        });
        await res.body.text();
        return res.statusCode;
      }),
    );
    const ok = statuses.filter((s) => s === 200).length;
    t.ok(ok >= 1 && ok <= 5, `${ok} streamed calls admitted`);
    t.equal(mock.requests.length, ok, 'refused calls never reached the provider');
    // Rows are written by three replicas' audit writers; give them a moment to flush.
    let spent = 0;
    let rows = 0;
    for (let i = 0; i < 100 && rows < ok; i++) {
      const r = await pg.db.query<{ n: number; spent: string | null }>(
        "SELECT count(*)::int AS n, sum(cost_usd)::text AS spent FROM usage_logs WHERE team = 'budget' AND status_code = 200",
      );
      rows = Number(r[0]!.n);
      spent = Number(r[0]!.spent ?? 0);
      if (rows < ok) await new Promise((res) => setTimeout(res, 100));
    }
    t.equal(rows, ok, 'every admitted call has an audit row');
    t.ok(spent <= 0.05 + 0.0125 + 1e-9, `recorded spend $${spent} within budget + one estimate`);
    t.ok(spent > 0, 'cost was recorded from the stream usage');
  });
});
