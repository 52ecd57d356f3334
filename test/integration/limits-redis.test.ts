/**
 * Limits against a real Redis (REDIS_URL, default redis://127.0.0.1:6379): atomicity under
 * concurrency from several connections and processes, budget bounds, NOSCRIPT recovery, and
 * behaviour when Redis stops answering. With CI=true a missing Redis fails the run.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import t from 'tap';
import { startTcpProxy } from './../support/tcp-proxy.js';
import type { KeyIdentity } from '../../src/auth/identity.js';
import { Limiter } from '../../src/limits/limiter.js';
import { RedisLimitStore } from '../../src/limits/redis-store.js';
import { ResilientLimitStore } from '../../src/limits/resilient-store.js';
import { LeaseLimitStore } from '../../src/limits/lease-store.js';
import { GIVE_BACK_SCRIPT } from '../../src/limits/redis-scripts.js';
import type { LimitItem } from '../../src/limits/types.js';
import type { CompiledLimitRule } from '../../src/policy/limit-rule.js';
import type { NormalizedRequest } from '../../src/providers/types.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `aigov-test:${process.pid}-${randomUUID().slice(0, 8)}:`;
const STORE_MODULE = fileURLToPath(new URL('../../src/limits/redis-store.ts', import.meta.url));

const minute = { kind: 'duration', ms: 60_000, label: '1m' } as const;
// Windows long enough that a test never straddles a boundary.
const day = { kind: 'duration', ms: 86_400_000, label: '1d' } as const;

function rule(over: Partial<CompiledLimitRule> = {}): CompiledLimitRule {
  return {
    id: 'rate',
    description: null,
    metric: 'requests',
    amount: 100,
    window: day,
    by: 'key',
    mode: 'enforce',
    failMode: undefined,
    appliesTo: () => true,
    ...over,
  };
}

const req: NormalizedRequest = {
  provider: 'openai',
  family: 'openai',
  route: '/v1/chat/completions',
  model: 'gpt-4o',
  texts: [],
  prompt: 'hi',
  maxTokens: 10,
  stream: false,
  metadata: {},
};

const key: KeyIdentity = {
  id: 'k_int',
  owner: 'ops@example.com',
  name: null,
  team: 'platform',
  tags: [],
  models: [],
  expiresAt: null,
};

async function redisAvailable(): Promise<boolean> {
  const probe = new Redis(REDIS_URL, {
    lazyConnect: true,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  try {
    await probe.connect();
    await probe.ping();
    return true;
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

async function cleanup(): Promise<void> {
  const admin = new Redis(REDIS_URL);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await admin.del(...keys);
    } while (cursor !== '0');
  } finally {
    admin.disconnect();
  }
}

async function store(
  prefixSuffix: string,
  extra: ConstructorParameters<typeof RedisLimitStore>[0] = {},
): Promise<RedisLimitStore> {
  const s = new RedisLimitStore({
    url: REDIS_URL,
    keyPrefix: `${PREFIX}${prefixSuffix}:`,
    commandTimeoutMs: 2000,
    ...extra,
  });
  // No offline queue: commands sent before the connection is ready fail instead of waiting.
  await s.waitUntilReady();
  return s;
}

async function blackHoleProxy(
  target: URL,
): Promise<{ port: number; mode: { hang: boolean }; close: () => Promise<void> }> {
  const proxy = await startTcpProxy(target.hostname, Number(target.port || 6379));
  let hang = false;
  const mode = {
    get hang(): boolean {
      return hang;
    },
    set hang(value: boolean) {
      hang = value;
      proxy.hang(value);
    },
  };
  return { port: proxy.port, mode, close: () => proxy.close() };
}

const available = await redisAvailable();
if (!available) {
  if (process.env.CI === 'true') {
    t.fail(
      `Redis is not reachable at ${REDIS_URL} and CI=true: the limit store must be tested against Redis`,
    );
  } else {
    t.plan(0, `Redis not reachable at ${REDIS_URL}; skipping (set CI=true to make this a failure)`);
  }
} else {
  t.teardown(cleanup);

  t.test(
    '1,000 concurrent reservations from 3 connections against a limit of 100: exactly 100 pass',
    async (t) => {
      const stores = await Promise.all([store('conc'), store('conc'), store('conc')]);
      t.teardown(() => Promise.all(stores.map((s) => s.close())));
      const item: LimitItem = {
        subject: 'key:k1',
        ruleId: 'rate',
        window: day,
        amount: 1,
        limit: 100,
        enforce: true,
      };
      const results = await Promise.all(
        Array.from({ length: 1000 }, (_, i) => stores[i % 3]!.reserve([item], `r${i}`, 60_000)),
      );
      t.equal(results.filter((r) => r.ok).length, 100);
      const [state] = await stores[0]!.peek([item]);
      t.equal(state!.used, 100, 'the counter holds exactly the admitted amount');
      t.ok(state!.resetMs > 0 && state!.resetMs <= day.ms);
    },
  );

  t.test('3 child processes racing for the same counter: exactly 100 pass', async (t) => {
    const prefix = `${PREFIX}procs:`;
    // Start together once all three are connected, or the first process would finish alone.
    const startAt = Date.now() + 3000;
    const code = `
      const { RedisLimitStore } = await import(${JSON.stringify(STORE_MODULE)});
      const s = new RedisLimitStore({ url: ${JSON.stringify(REDIS_URL)}, keyPrefix: ${JSON.stringify(prefix)}, commandTimeoutMs: 5000 });
      await s.waitUntilReady();
      await new Promise((r) => setTimeout(r, Math.max(0, ${startAt} - Date.now())));
      const item = { subject: 'key:k1', ruleId: 'rate', window: ${JSON.stringify(day)}, amount: 1, limit: 100, enforce: true };
      // Eight lanes of sequential calls, so the processes' commands interleave at Redis
      // instead of arriving as one pipelined batch each.
      let ok = 0;
      let next = 0;
      await Promise.all(Array.from({ length: 8 }, async () => {
        while (next < 334) {
          const i = next++;
          if ((await s.reserve([item], process.pid + ':' + i, 60000)).ok) ok++;
        }
      }));
      process.stdout.write(String(ok));
      await s.close();
    `;
    const run = (): Promise<number> =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.on('error', reject);
        child.on('exit', (status) =>
          status === 0 ? resolve(Number(out)) : reject(new Error(`worker exit ${status}`)),
        );
      });
    const counts = await Promise.all([run(), run(), run()]);
    t.equal(
      counts.reduce((a, b) => a + b, 0),
      100,
      `per process: ${counts.join(', ')}`,
    );
  });

  t.test('a refused multi-rule reservation increments nothing', async (t) => {
    const s = await store('multi');
    t.teardown(() => s.close());
    const a: LimitItem = {
      subject: 'key:k1',
      ruleId: 'a',
      window: minute,
      amount: 1,
      limit: 10,
      enforce: true,
    };
    const b: LimitItem = { subject: 'team:x', ruleId: 'b', window: day, amount: 5, limit: 7, enforce: true };
    t.equal((await s.reserve([a, b], 'one', 60_000)).ok, true);
    const refused = await s.reserve([a, b], 'two', 60_000);
    t.equal(refused.ok, false);
    if (!refused.ok) t.equal(refused.failedIndex, 1);
    t.same(
      (await s.peek([a, b])).map((x) => x.used),
      [1, 5],
    );
  });

  t.test(
    'cluster mode: one script per subject, refusal in a later slot rolls back earlier ones',
    async (t) => {
      const s = await store('cluster', { clusterMode: true });
      t.teardown(() => s.close());
      const a: LimitItem = {
        subject: 'key:k1',
        ruleId: 'a',
        window: day,
        amount: 1,
        limit: 10,
        enforce: true,
      };
      const b: LimitItem = {
        subject: 'team:x',
        ruleId: 'b',
        window: day,
        amount: 5,
        limit: 7,
        enforce: true,
      };
      const ok = await s.reserve([a, b], 'one', 60_000);
      t.equal(ok.ok, true);
      t.equal((await s.reserve([a, b], 'two', 60_000)).ok, false);
      t.same(
        (await s.peek([a, b])).map((x) => x.used),
        [1, 5],
        'the first slot group was compensated',
      );
      if (!ok.ok) return;
      await s.reconcile('one', [
        { counterKey: ok.counterKeys[0]!, actual: 1 },
        { counterKey: ok.counterKeys[1]!, actual: 2 },
      ]);
      t.same(
        (await s.peek([a, b])).map((x) => x.used),
        [1, 2],
      );
    },
  );

  t.test('every key written carries a TTL', async (t) => {
    const s = await store('ttl');
    t.teardown(() => s.close());
    const a: LimitItem = {
      subject: 'key:k1',
      ruleId: 'a',
      window: minute,
      amount: 1,
      limit: 10,
      enforce: true,
    };
    const m: LimitItem = {
      subject: 'key:k1',
      ruleId: 'm',
      window: { kind: 'calendar_month', label: 'month' },
      amount: 1,
      limit: 10,
      enforce: true,
    };
    await s.reserve([a, m], 'one', 30_000);
    const admin = new Redis(REDIS_URL);
    t.teardown(() => admin.disconnect());
    const keys = await admin.keys(`${PREFIX}ttl:*`);
    t.equal(keys.length, 3, 'two counters and one reservation record');
    for (const k of keys) {
      const ttl = await admin.pttl(k);
      t.ok(ttl > 0, `${k} expires (pttl ${ttl})`);
    }
    const record = keys.find((k) => k.includes(':r:'))!;
    t.ok((await admin.pttl(record)) <= 30_000, 'the reservation record lives as long as asked');
  });

  t.test(
    'USD budget under concurrent reserve + reconcile never exceeds the budget by more than one estimate',
    async (t) => {
      const s = await store('budget');
      t.teardown(() => s.close());
      const estimateUsd = 0.05;
      const budgetUsd = 2;
      const limiter = new Limiter({
        store: new ResilientLimitStore({ store: s, timeoutMs: 2000 }),
        estimateCost: () => estimateUsd,
      });
      const rules = [
        rule({
          id: 'budget',
          metric: 'cost_usd',
          amount: budgetUsd,
          by: 'team',
          window: { kind: 'calendar_month', label: 'month' },
        }),
      ];
      let admitted = 0;
      let spentMicro = 0;
      let maxSeenMicro = 0;
      const worker = async (w: number): Promise<void> => {
        for (let i = 0; i < 40; i++) {
          const r = await limiter.reserve(rules, req, key);
          if (!r.allowed) {
            await new Promise((resolve) => setTimeout(resolve, 1));
            continue;
          }
          admitted++;
          const remaining = Number(r.headers['x-aigov-budget-remaining-usd']);
          maxSeenMicro = Math.max(maxSeenMicro, Math.round((budgetUsd - remaining) * 1e6));
          await new Promise((resolve) => setTimeout(resolve, (w + i) % 3));
          // Actual spend: between 10% and 100% of the estimate, in whole micro-dollars.
          const actualMicro = Math.round(estimateUsd * 1e6 * (0.1 + 0.9 * (((w * 7 + i * 13) % 10) / 9)));
          spentMicro += actualMicro;
          await limiter.reconcile(r.reservation, { totalTokens: 10, costUsd: actualMicro / 1e6 });
        }
      };
      await Promise.all(Array.from({ length: 30 }, (_, w) => worker(w)));
      const peek = await limiter.peek(rules, req, key);
      const counterUsd = budgetUsd - Number(peek.headers['x-aigov-budget-remaining-usd']);
      t.ok(
        admitted > budgetUsd / estimateUsd,
        `reconciles freed room for more than budget/estimate requests (${admitted})`,
      );
      t.ok(
        maxSeenMicro <= (budgetUsd + estimateUsd) * 1e6,
        `peak counted $${maxSeenMicro / 1e6} <= budget + one estimate`,
      );
      t.ok(spentMicro <= (budgetUsd + estimateUsd) * 1e6, `total spent $${spentMicro / 1e6}`);
      t.equal(Math.round(counterUsd * 1e6), spentMicro, 'the counter equals the sum of actual costs exactly');
    },
  );

  t.test('SCRIPT FLUSH mid-run: EVALSHA falls back to EVAL and carries on', async (t) => {
    const s = await store('noscript');
    t.teardown(() => s.close());
    const item: LimitItem = {
      subject: 'key:k1',
      ruleId: 'a',
      window: day,
      amount: 1,
      limit: 5,
      enforce: true,
    };
    t.equal((await s.reserve([item], 'one', 60_000)).ok, true);
    t.equal(s.noscriptFallbacks, 0);
    const admin = new Redis(REDIS_URL);
    t.teardown(() => admin.disconnect());
    await admin.script('FLUSH');
    const second = await s.reserve([item], 'two', 60_000);
    t.equal(second.ok, true);
    t.equal(s.noscriptFallbacks, 1, 'the reserve script fell back');
    if (second.ok)
      t.same(await s.reconcile('two', [{ counterKey: second.counterKeys[0]!, actual: 0 }]), { found: true });
    t.equal(s.noscriptFallbacks, 2, 'the reconcile script fell back');
    t.equal((await s.peek([item]))[0]!.used, 1);
    const third = await s.reserve([item], 'three', 60_000);
    if (third.ok) await s.reconcile('three', [{ counterKey: third.counterKeys[0]!, actual: 1 }]);
    t.equal((await s.peek([item]))[0]!.used, 2);
    t.equal(s.noscriptFallbacks, 2, 'EVAL re-cached both scripts; EVALSHA works again');
  });

  t.test(
    "lease mode, 3 replicas on one Redis: never over the limit, a dead replica's share is lost",
    async (t) => {
      // Three replicas as three limiters, each with its own connection and its own shares.
      const stores = await Promise.all([store('lease'), store('lease'), store('lease')]);
      t.teardown(() => Promise.all(stores.map((s) => s.close())));
      const replicas = stores.map(
        (s) => new Limiter({ store: new LeaseLimitStore({ store: new ResilientLimitStore({ store: s }) }) }),
      );
      const leased = rule({ id: 'leased', amount: 100, counting: 'lease', lease: 10 });
      const results = await Promise.all(
        Array.from({ length: 1000 }, (_, i) => replicas[i % 3]!.reserve([leased], req, key)),
      );
      const admitted = results.filter((r) => r.allowed).length;
      t.ok(admitted <= 100, `${admitted} admitted: never more than the limit`);
      t.ok(admitted >= 100 - 3 * 10, 'at most replicas x lease left unspent');
      const item: LimitItem = {
        subject: `key:${key.id}`,
        ruleId: 'leased',
        window: day,
        amount: 0,
        limit: 100,
        enforce: true,
      };
      t.ok((await stores[0]!.peek([item]))[0]!.used <= 100, 'Redis granted no more than the limit');

      // A fresh rule: replica 0 takes a share, spends 1 and dies; the others never get its 9.
      const fresh = rule({ id: 'leased-dead', amount: 50, counting: 'lease', lease: 10 });
      t.equal((await replicas[0]!.reserve([fresh], req, key)).allowed, true);
      let survivors = 0;
      for (let i = 0; i < 100; i++)
        if ((await replicas[1 + (i % 2)]!.reserve([fresh], req, key)).allowed) survivors++;
      t.equal(survivors, 40, "the survivors got the limit minus the dead replica's whole share");
      const admin = new Redis(REDIS_URL);
      t.teardown(() => admin.disconnect());
      const [counter] = await admin.keys(`${PREFIX}lease:*leased-dead*`);
      t.ok(counter, 'one counter');
      t.equal(Number(await admin.get(counter!)), 50);
      const ttl = await admin.pttl(counter!);
      t.ok(ttl > 0 && ttl <= day.ms + 60_000, 'the shares expire with the window (plus the skew slack)');
    },
  );

  t.test('a reconcile that changes nothing costs no script call: its records go in one UNLINK', async (t) => {
    const s = await store('forget');
    const limiter = new Limiter({ store: s });
    const perMinute = rule({ id: 'rpm-forget', amount: 1000, metric: 'requests' });
    const admin = new Redis(REDIS_URL);
    t.teardown(() => admin.disconnect());
    const reservations = [];
    for (let i = 0; i < 3; i++) {
      const r = await limiter.reserve([perMinute], req, key);
      if (!r.allowed) throw new Error('refused');
      reservations.push(r.reservation);
    }
    t.equal((await admin.keys(`${PREFIX}forget:*:r:*`)).length, 3, 'three reservation records');
    for (const r of reservations) await limiter.reconcile(r, { totalTokens: 42, costUsd: 0.01 });
    t.equal(s.unlinks, 0, 'nothing sent yet: the deletions wait for one batch');
    await s.close(); // flushes the batch (so would 50 ms or 500 records)
    t.equal(s.unlinks, 1, 'one UNLINK for the three records');
    t.same(await admin.keys(`${PREFIX}forget:*:r:*`), [], 'the records are gone');
    const [counter] = await admin.keys(`${PREFIX}forget:*rpm-forget*`);
    t.equal(Number(await admin.get(counter!)), 3, 'the requests stay counted, once each');
  });

  t.test('lease mode, graceful close on real Redis: the unspent share goes back, TTL kept', async (t) => {
    const [a, b] = await Promise.all([store('giveback'), store('giveback')]);
    t.teardown(() => b.close());
    const leaseA = new LeaseLimitStore({ store: new ResilientLimitStore({ store: a }) });
    const replicaA = new Limiter({ store: leaseA });
    const replicaB = new Limiter({
      store: new LeaseLimitStore({ store: new ResilientLimitStore({ store: b }) }),
    });
    const shared = rule({ id: 'given-back', amount: 50, counting: 'lease', lease: 10 });
    t.equal((await replicaA.reserve([shared], req, key)).allowed, true);
    const admin = new Redis(REDIS_URL);
    t.teardown(() => admin.disconnect());
    const [counter] = await admin.keys(`${PREFIX}giveback:*given-back*`);
    t.equal(Number(await admin.get(counter!)), 10, 'A holds a share of 10');
    const ttlBefore = await admin.pttl(counter!);
    await leaseA.close(); // SIGTERM path: after the server drained its requests
    t.equal(Number(await admin.get(counter!)), 1, 'the 9 unspent went back');
    const ttlAfter = await admin.pttl(counter!);
    t.ok(ttlAfter > 0 && ttlAfter <= ttlBefore, 'the window TTL is kept');
    let admitted = 0;
    for (let i = 0; i < 60; i++) if ((await replicaB.reserve([shared], req, key)).allowed) admitted++;
    t.equal(admitted, 49, 'the survivor gets the whole rest of the limit');
    // The script never drives a counter below 0, and leaves a missing (ended) window alone.
    const sha = (await admin.script('LOAD', GIVE_BACK_SCRIPT)) as string;
    t.equal(await admin.evalsha(sha, 1, counter!, '500'), '0');
    t.equal(await admin.get(counter!), '0');
    t.equal(await admin.evalsha(sha, 1, `${PREFIX}giveback:missing`, '5'), '0');
    t.equal(await admin.exists(`${PREFIX}giveback:missing`), 0, 'no counter is created');
  });

  t.test('closed port: fail-closed refuses fast, fail-open passes flagged', async (t) => {
    const dead = net.createServer();
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
    const address = dead.address();
    if (address === null || typeof address === 'string') throw new TypeError('no port');
    await new Promise<void>((resolve) => dead.close(() => resolve()));
    const s = new RedisLimitStore({
      url: `redis://127.0.0.1:${address.port}`,
      keyPrefix: `${PREFIX}dead:`,
      commandTimeoutMs: 50,
    });
    t.teardown(() => s.close());
    const closed = new Limiter({ store: new ResilientLimitStore({ store: s, timeoutMs: 100 }) });
    const started = performance.now();
    const r = await closed.reserve([rule()], req, key);
    const elapsed = performance.now() - started;
    t.equal(r.allowed, false);
    if (!r.allowed) t.equal(r.error.code, 'limits_unavailable');
    t.ok(elapsed < 1000, `refused in ${elapsed.toFixed(0)} ms`);
    const open = new Limiter({
      store: new ResilientLimitStore({ store: s, timeoutMs: 100, defaultFailMode: 'open' }),
    });
    const o = await open.reserve([rule()], req, key);
    t.equal(o.allowed, true);
    t.equal(o.degraded, true);
  });

  t.test('Redis that stops answering: bounded refusal, flagged pass, then recovery', async (t) => {
    const proxy = await blackHoleProxy(new URL(REDIS_URL));
    t.teardown(() => proxy.close());
    const s = new RedisLimitStore({
      url: `redis://127.0.0.1:${proxy.port}`,
      keyPrefix: `${PREFIX}hang:`,
      commandTimeoutMs: 60,
    });
    t.teardown(() => s.close());
    await s.waitUntilReady();
    const closed = new Limiter({ store: new ResilientLimitStore({ store: s, retryIntervalMs: 200 }) });
    const open = new Limiter({
      store: new ResilientLimitStore({
        store: s,
        retryIntervalMs: 200,
        defaultFailMode: 'open',
        expectedReplicas: 2,
      }),
    });
    const rules = [rule({ amount: 10 })];
    t.equal((await closed.reserve(rules, req, key)).allowed, true, 'healthy to begin with');

    proxy.mode.hang = true;
    const started = performance.now();
    const refused = await closed.reserve(rules, req, key);
    const elapsed = performance.now() - started;
    t.equal(refused.allowed, false);
    if (!refused.allowed) t.equal(refused.error.code, 'limits_unavailable');
    t.ok(elapsed < 1000, `hung Redis refused in ${elapsed.toFixed(0)} ms`);
    t.equal(closed.state(), 'degraded');

    const passed = await open.reserve(rules, req, key);
    t.equal(passed.allowed, true);
    t.equal(passed.degraded, true);
    if (passed.allowed) t.equal(passed.reservation.store, 'fallback');

    // Timed-out commands stay queued on their socket; after a few in a row the store re-opens it.
    for (let i = 0; i < 3; i++) await s.ping().catch(() => undefined);
    t.ok(s.recycles >= 1, `connection recycled (${s.recycles})`);

    proxy.mode.hang = false;
    // Replies to the timed-out commands may still be in flight; give the pipe a moment and the breaker its interval.
    let recovered = false;
    const deadline = Date.now() + 10_000;
    while (!recovered && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      const r = await closed.reserve(rules, req, key);
      recovered = r.allowed && !r.degraded;
    }
    t.ok(recovered, 'the limiter went back to Redis without a restart');
    t.equal(closed.state(), 'ok');
    t.equal(open.state(), 'degraded', 'the other limiter has not probed yet');
    t.equal((await open.reserve(rules, req, key)).degraded, false, 'and recovers on its next call');
  });
}
