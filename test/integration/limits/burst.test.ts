import t from 'tap';
import { randomBytes } from 'node:crypto';
import { Pool } from 'undici';
import { startReplicaSet } from '../../support/replica-set.js';

/**
 * Issue 15: three replicas sharing a healthy Redis, default limit and Redis settings, 1,000
 * concurrent chat requests for one key with a 100-request rule. Every replica's event loop is
 * saturated by its ~333 requests at once; that must not be mistaken for an unreachable Redis.
 * The answer is exactly 100 x 200 and 900 x 429, never 503.
 */

t.test('burst of 1,000 across three replicas with default settings: 100 / 900 / 0', async (t) => {
  const run = randomBytes(4).toString('hex');
  // Nothing about limits or Redis is configured: their defaults are what is under test. The load
  // shedder (server.overload_event_loop_delay, 1 s) is a separate, deliberate 503 in front of the
  // limiter: on a shared 2-core CI host running other suites (load average 20+ measured) this burst
  // lags the loop past it, which says nothing about limits, so it is moved out of the way.
  const set = await startReplicaSet(t, {
    policies: [
      'version: 1',
      'rules:',
      `  - id: burst-${run}`,
      // 30-day windows aligned to the epoch: no boundary falls inside a test run in practice.
      '    limit: { requests: 100, per: 30d, by: key }',
      '',
    ].join('\n'),
    config: [
      'auth: { bcrypt_cost: 4, dev_key: false }',
      'policies: { watch: false }',
      'server: { overload_event_loop_delay: 60s }',
      'log: { level: warn }',
      '',
    ].join('\n'),
    count: 3,
    id: `burst-${run}`,
    record: false,
  });
  if (!set) return;
  const { replicas } = set;
  const key = (await set.keys.create({ owner: 'burst@example.com', team: `burst-${run}` })).key;

  // One connection per request, so all 1,000 are in flight at once (no client-side queueing).
  const pools = replicas.map((r) => new Pool(r.url, { connections: 334, pipelining: 0 }));
  t.teardown(() => Promise.all(pools.map((p) => p.close())));

  for (const r of replicas) t.equal((await fetch(`${r.url}/ready`)).status, 200, `${r.url} ready`);

  const body = JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
  const codes: string[] = [];
  const started = performance.now();
  const statuses = await Promise.all(
    Array.from({ length: 1000 }, async (_, i) => {
      const res = await pools[i % 3]!.request({
        method: 'POST',
        path: '/v1/chat/completions',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body,
      });
      const text = await res.body.text();
      if (res.statusCode === 503) codes.push(/"code":"([^"]+)"/.exec(text)?.[1] ?? text.slice(0, 80));
      return res.statusCode;
    }),
  );
  const elapsed = performance.now() - started;
  const count = (s: number): number => statuses.filter((x) => x === s).length;
  const perReplica = [0, 1, 2].map((r) =>
    [200, 429, 503].map((s) => statuses.filter((x, i) => i % 3 === r && x === s).length).join('/'),
  );
  t.comment(`1,000 requests in ${elapsed.toFixed(0)} ms; per replica 200/429/503: ${perReplica.join(', ')}`);
  t.equal(count(200), 100, 'exactly the limit passed');
  t.equal(count(429), 900, 'everything else was refused with 429');
  t.same(codes, [], 'no 503: a busy event loop is not an unreachable Redis');
  t.same(
    statuses.filter((s) => s !== 200 && s !== 429 && s !== 503),
    [],
    'no other answers',
  );
  if (codes.length > 0)
    for (const r of replicas)
      t.comment(
        r
          .output()
          .split('\n')
          .filter((l) => /"level":[456]0/.test(l))
          .slice(0, 5)
          .join('\n'),
      );
  for (const r of replicas) {
    t.notMatch(r.output(), /limit store unreachable|Limit store timed out/, 'no replica saw a store failure');
    // The second defect appeared under this very burst: "11 close listeners added to [Socket]".
    t.notMatch(r.output(), /MaxListenersExceededWarning/, 'no listener-leak warning from any replica');
  }
});
