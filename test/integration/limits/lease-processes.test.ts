import t from 'tap';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { Pool } from 'undici';
import { REDIS_URL } from '../../support/redis.js';
import { startReplicaSet } from '../../support/replica-set.js';
import { startTcpProxy } from '../../support/tcp-proxy.js';
import type { ProxyProcess } from '../../support/proxy-process.js';

/**
 * Issue 15, lease mode (`counting: lease`) through real processes: three `aigov serve` replicas
 * share one Redis and one Postgres, each spending shares of the limit it took from Redis. The
 * bounds docs/limits.md "Lease mode" states are measured here:
 *  - 1,000 concurrent requests, limit 100, lease 10: never more than 100 admitted, at most
 *    replicas x lease (30) left unspent, everything else 429 with Retry-After, never 503;
 *  - a replica killed (SIGKILL) holding a share: the others keep admitting, the dead share stays
 *    counted in Redis until its window ends (never granted twice) and comes back with the next one;
 *  - Redis unreachable, fail mode closed: the share a replica holds is still spent, then 503
 *    `limits_unavailable`, nothing more reaches the provider; it serves again once Redis is back.
 */

const REDIS = new URL(REDIS_URL);
/** The dead-replica rule's window: short, so the test can see the share come back at its end. */
const DEAD_WINDOW_MS = 10_000;

interface Answer {
  status: number;
  retryAfter: string | null;
  code: string | null;
}

async function call(url: string, key: string, marker: string): Promise<Answer> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: marker }] }),
  });
  const text = await res.text();
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    code: /"code":"([^"]+)"/.exec(text)?.[1] ?? null,
  };
}

t.test('lease mode across three aigov processes on one Redis', async (t) => {
  const run = randomBytes(4).toString('hex');
  const set = await startReplicaSet(t, {
    policies: [
      'version: 1',
      'rules:',
      // 30-day windows aligned to the epoch: no boundary falls inside a test run in practice (a
      // boundary would start a fresh counter and let a second 100 through).
      `  - id: lease-burst-${run}`,
      `    scope: { teams: [burst-${run}] }`,
      '    limit: { requests: 100, per: 30d, by: key, counting: lease, lease: 10 }',
      `  - id: lease-dead-${run}`,
      `    scope: { teams: [dead-${run}] }`,
      `    limit: { requests: 30, per: ${DEAD_WINDOW_MS / 1000}s, by: key, counting: lease, lease: 10 }`,
      `  - id: lease-outage-${run}`,
      `    scope: { teams: [outage-${run}] }`,
      '    limit: { requests: 100, per: 30d, by: key, counting: lease, lease: 10 }',
      '    fail_mode: closed',
      '',
    ].join('\n'),
    // As in burst.test.ts: the load shedder is a separate 503 in front of the limiter; a
    // saturated loop on a shared 2-core host says nothing about limits, so it is moved away.
    config: [
      'auth: { bcrypt_cost: 4, dev_key: false }',
      'policies: { watch: false }',
      'server: { overload_event_loop_delay: 60s }',
      'log: { level: warn }',
      '',
    ].join('\n'),
    count: 3,
    id: `lease-${run}`,
  });
  if (!set) return;
  const { replicas, mock } = set;
  const admin = new Redis(REDIS_URL);
  t.teardown(() => admin.disconnect());
  /** The shared counter of a rule's current window: what Redis has granted to all replicas. */
  const counter = async (ruleId: string): Promise<{ used: number; ttlMs: number; key: string }> => {
    const keys = await admin.keys(`aigov:*:c:${ruleId}:*`);
    if (keys.length === 0) return { used: 0, ttlMs: -2, key: '' };
    const key = keys.sort().at(-1)!;
    return { used: Number(await admin.get(key)), ttlMs: await admin.pttl(key), key };
  };
  const reached = (marker: string): number => mock.requests.filter((r) => r.raw.includes(marker)).length;

  for (const r of replicas) t.equal((await fetch(`${r.url}/ready`)).status, 200, `${r.url} ready`);

  await t.test('1,000 concurrent at limit 100, lease 10: 100 - 3 x 10 <= admitted <= 100', async (t) => {
    const key = (await set.keys.create({ owner: 'lease@example.com', team: `burst-${run}` })).key;
    // One connection per request, so all 1,000 are in flight at once (no client-side queueing).
    const pools = replicas.map((r) => new Pool(r.url, { connections: 334, pipelining: 0 }));
    t.teardown(() => Promise.all(pools.map((p) => p.close())));
    const marker = `burst-${run}`;
    const body = JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: marker }] });
    const started = performance.now();
    const answers = await Promise.all(
      Array.from({ length: 1000 }, async (_, i): Promise<Answer & { replica: number }> => {
        const res = await pools[i % 3]!.request({
          method: 'POST',
          path: '/v1/chat/completions',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body,
        });
        const text = await res.body.text();
        const retryAfter = res.headers['retry-after'];
        return {
          replica: i % 3,
          status: res.statusCode,
          retryAfter: typeof retryAfter === 'string' ? retryAfter : null,
          code: /"code":"([^"]+)"/.exec(text)?.[1] ?? null,
        };
      }),
    );
    const elapsed = performance.now() - started;
    const count = (s: number): number => answers.filter((a) => a.status === s).length;
    const perReplica = [0, 1, 2].map((r) =>
      [200, 429, 503].map((s) => answers.filter((a) => a.replica === r && a.status === s).length).join('/'),
    );
    const shared = await counter(`lease-burst-${run}`);
    t.comment(
      `1,000 requests in ${elapsed.toFixed(0)} ms; admitted ${count(200)}, granted by Redis ${shared.used}; ` +
        `per replica 200/429/503: ${perReplica.join(', ')}`,
    );
    const admitted = count(200);
    t.ok(admitted <= 100, `${admitted} admitted: never more than the limit (overshoot 0)`);
    t.ok(admitted >= 100 - 3 * 10, `${admitted} admitted: at most replicas x lease (30) left unspent`);
    t.equal(count(429), 1000 - admitted, 'everything else was refused with 429');
    t.same(
      answers.filter((a) => a.status === 503).map((a) => a.code),
      [],
      'no 503',
    );
    t.same(
      answers.filter((a) => a.status === 429 && !/^[1-9]\d*$/.test(a.retryAfter ?? '')).length,
      0,
      'every 429 carries Retry-After in whole seconds',
    );
    t.same(
      [...new Set(answers.filter((a) => a.status === 429).map((a) => a.code))],
      [`lease-burst-${run}`],
      'the refusals name the limit rule',
    );
    t.equal(reached(marker), admitted, 'the provider received exactly the admitted requests');
    t.ok(shared.used <= 100, `Redis granted ${shared.used}: grants never take the counter over the limit`);
    t.ok(shared.used - admitted <= 3 * 10, 'unspent shares: at most one lease per replica');
    for (const r of replicas)
      t.notMatch(
        r.output(),
        /limit store unreachable|Limit store timed out/,
        'no replica saw a store failure',
      );
  });

  await t.test(
    'a replica killed holding a share: the others admit the rest, the share returns with the next window',
    async (t) => {
      const key = (await set.keys.create({ owner: 'dead@example.com', team: `dead-${run}` })).key;
      const rule = `lease-dead-${run}`;
      const [doomed, a, b] = replicas as [ProxyProcess, ProxyProcess, ProxyProcess];
      // Start at the beginning of a window so that the whole phase fits in it (it takes well under
      // a second; the window is 10 s). The window boundary is the event under test.
      await sleep(DEAD_WINDOW_MS - (Date.now() % DEAD_WINDOW_MS) + 20);
      const windowIndex = Math.floor(Date.now() / DEAD_WINDOW_MS);
      const windowEnd = (windowIndex + 1) * DEAD_WINDOW_MS;

      t.equal((await call(doomed.url, key, `dead-${run}`)).status, 200, 'the doomed replica admits one');
      const taken = await counter(rule);
      t.equal(taken.used, 10, 'it took one lease (10) from Redis and holds 9 of it unspent');
      t.equal(await doomed.stop('SIGKILL'), null, 'kill -9: no shutdown, nothing handed back');

      const survivors: Answer[] = [];
      for (let i = 0; i < 60; i++) survivors.push(await call([a, b][i % 2]!.url, key, `dead-${run}`));
      const inWindow = Math.floor(Date.now() / DEAD_WINDOW_MS) === windowIndex;
      t.ok(inWindow, 'the phase ran inside one window (else the machine is too slow for this test)');
      const admitted = survivors.filter((s) => s.status === 200).length;
      t.equal(
        admitted,
        30 - 10,
        "the survivors keep admitting: the limit minus the dead replica's whole share",
      );
      const refused = survivors.filter((s) => s.status === 429);
      t.equal(refused.length, 60 - admitted, 'the rest is refused with 429, nothing else');
      t.ok(
        refused.every((s) => {
          const secs = Number(s.retryAfter);
          return secs >= 1 && secs <= Math.ceil((windowEnd - Date.now()) / 1000) + 1;
        }),
        'Retry-After points at the end of the window',
      );
      const readAt = Date.now();
      const dead = await counter(rule);
      t.equal(dead.used, 30, "Redis counts the dead replica's share: it is never granted twice");
      t.ok(
        dead.ttlMs > 0 && dead.ttlMs <= windowEnd - readAt + 60_000,
        `the counter expires with its window (+60 s slack): ${dead.ttlMs} ms`,
      );
      t.equal(reached(`dead-${run}`), 1 + admitted, 'the provider received exactly the admitted requests');

      // The next window: a fresh counter; the lost share is back.
      await sleep(Math.max(0, windowEnd - Date.now()) + 20);
      const next: Answer[] = [];
      for (let i = 0; i < 60; i++) next.push(await call([a, b][i % 2]!.url, key, `next-${run}`));
      t.equal(
        next.filter((s) => s.status === 200).length,
        30,
        'the whole limit is available again in the next window',
      );
      t.not((await counter(rule)).key, dead.key, 'counted in a new window');
    },
  );

  await t.test(
    'Redis unreachable, fail mode closed: the held share is spent, then 503, then recovery',
    async (t) => {
      const tcp = await startTcpProxy(REDIS.hostname, Number(REDIS.port || 6379));
      t.teardown(() => tcp.close());
      const solo = await set.start(`lease-${run}-outage`, { REDIS_URL: tcp.url('redis') });
      const key = (await set.keys.create({ owner: 'outage@example.com', team: `outage-${run}` })).key;
      const marker = `outage-${run}`;
      const rule = `lease-outage-${run}`;

      t.equal((await call(solo.url, key, marker)).status, 200, 'one admitted while Redis answers');
      t.equal((await counter(rule)).used, 10, 'it holds one lease of 10, 9 unspent');
      tcp.cut(true);
      const held: number[] = [];
      for (let i = 0; i < 9; i++) held.push((await call(solo.url, key, marker)).status);
      t.same(held, Array(9).fill(200), 'the 9 left in the share are spent without Redis: they were granted');
      const refused: Answer[] = [];
      for (let i = 0; i < 5; i++) refused.push(await call(solo.url, key, marker));
      t.same(
        refused.map((r) => [r.status, r.code]),
        Array(5).fill([503, 'limits_unavailable']),
        'then fail closed: a refill cannot reach Redis, so 503 limits_unavailable',
      );
      t.equal(reached(marker), 10, 'the provider received the share and nothing more');
      t.equal((await fetch(`${solo.url}/ready`)).status, 503, 'not ready while fail-closed and degraded');

      tcp.cut(false);
      let back: Answer | null = null;
      for (let i = 0; i < 150 && back?.status !== 200; i++) {
        back = await call(solo.url, key, marker);
        if (back.status !== 200) await sleep(100);
      }
      t.equal(back?.status, 200, 'serves again once Redis answers, no restart');
      t.equal((await counter(rule)).used, 20, 'with a new lease from Redis');
    },
  );
});
