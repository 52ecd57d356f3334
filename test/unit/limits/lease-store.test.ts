import t from 'tap';
import { LeaseLimitStore } from '../../../src/limits/lease-store.js';
import { Limiter } from '../../../src/limits/limiter.js';
import { MemoryLimitStore } from '../../../src/limits/memory-store.js';
import { ResilientLimitStore } from '../../../src/limits/resilient-store.js';
import type { LimitItem } from '../../../src/limits/types.js';
import { FlakyStore, identity, manualClock, request, rule } from './fixtures.js';

/** `replicas` lease stores (each its own Limiter) over one shared counter store. */
function setup(replicas = 1, options: { failMode?: 'open' | 'closed'; expectedReplicas?: number } = {}) {
  const clock = manualClock();
  const shared = new MemoryLimitStore({ now: clock.now });
  const flaky = new FlakyStore(shared);
  const limiters = Array.from({ length: replicas }, () => {
    const leases = new LeaseLimitStore({
      store: new ResilientLimitStore({
        store: flaky,
        now: clock.now,
        defaultFailMode: options.failMode,
        expectedReplicas: options.expectedReplicas,
      }),
      now: clock.now,
    });
    return { leases, limiter: new Limiter({ store: leases }) };
  });
  const counter = async (r: ReturnType<typeof rule>): Promise<number> => {
    const item: LimitItem = {
      subject: 'key:k_1',
      ruleId: r.id,
      window: r.window,
      amount: 0,
      limit: r.amount,
      enforce: true,
    };
    return (await shared.peek([item]))[0]!.used;
  };
  return { clock, shared, flaky, limiters, counter };
}

const leaseRule = (over: Partial<ReturnType<typeof rule>> = {}) =>
  rule({ id: 'rpm', amount: 100, counting: 'lease', lease: 10, ...over });

t.test('requests are spent from a local share: a store call per half lease, not per request', async (t) => {
  const { limiters, flaky, counter } = setup();
  const { limiter, leases } = limiters[0]!;
  for (let i = 0; i < 30; i++) {
    const r = await limiter.reserve([leaseRule()], request(), identity());
    t.equal(r.allowed, true);
    if (r.allowed) await limiter.reconcile(r.reservation, { totalTokens: 5, costUsd: null });
  }
  // A share is topped up once half of it is spent: about one call per lease / 2 requests.
  t.ok(flaky.calls <= 6, `${flaky.calls} store calls for 30 requests`);
  t.equal(leases.refills, flaky.calls);
  const used = await counter(leaseRule());
  t.ok(used >= 30 && used <= 40, `the shared counter holds what was granted (${used})`);
  const headers = (await limiter.peek([leaseRule()], request(), identity())).headers;
  t.equal(headers['x-ratelimit-remaining-requests'], '70', "this replica's view: 100 - 30 spent");
});

t.test('bound: 3 replicas, 1,000 concurrent requests, limit 100, lease 10: never over', async (t) => {
  const { limiters, counter } = setup(3);
  const results = await Promise.all(
    Array.from({ length: 1000 }, (_, i) =>
      limiters[i % 3]!.limiter.reserve([leaseRule()], request(), identity()),
    ),
  );
  const admitted = results.filter((r) => r.allowed).length;
  t.ok(admitted <= 100, `${admitted} admitted, never more than the limit`);
  t.ok(admitted >= 100 - 3 * 10, `${admitted} admitted: at most replicas x lease left unspent`);
  t.ok((await counter(leaseRule())) <= 100, 'grants never exceed the limit');
  const refused = results.find((r) => !r.allowed);
  if (refused && !refused.allowed) t.equal(refused.error.code, 'rate_limited');
});

t.test('a replica that dies holding a share: lost for the window, never granted twice', async (t) => {
  const { limiters, counter } = setup(3);
  const [a, b, c] = limiters;
  t.equal((await a!.limiter.reserve([leaseRule()], request(), identity())).allowed, true);
  // a dies here with 9 of its 10 unspent: nothing hands them back.
  let admitted = 0;
  for (let i = 0; i < 200; i++) {
    const r = await [b, c][i % 2]!.limiter.reserve([leaseRule()], request(), identity());
    if (r.allowed) admitted++;
  }
  t.equal(admitted, 90, "the survivors get exactly the limit minus the dead replica's share");
  t.equal(await counter(leaseRule()), 100);
});

t.test('a replica that closes gracefully hands its unspent share back', async (t) => {
  const { limiters, counter } = setup(3);
  const [a, b, c] = limiters;
  t.equal((await a!.limiter.reserve([leaseRule()], request(), identity())).allowed, true);
  t.equal(await counter(leaseRule()), 10, 'a holds a share of 10, 1 spent');
  await a!.leases.close();
  t.equal(await counter(leaseRule()), 1, 'the 9 unspent went back; the spent one stays counted');
  let admitted = 0;
  for (let i = 0; i < 200; i++) {
    const r = await [b, c][i % 2]!.limiter.reserve([leaseRule()], request(), identity());
    if (r.allowed) admitted++;
  }
  t.equal(admitted, 99, 'the survivors get the whole rest of the limit');
  t.equal(await counter(leaseRule()), 100, 'and never more');
});

t.test('closing after the window ended, or with the store down, changes nothing', async (t) => {
  const { limiters, counter, clock, flaky } = setup(2);
  const [a, b] = limiters;
  t.equal((await a!.limiter.reserve([leaseRule()], request(), identity())).allowed, true);
  clock.advance(60_000);
  t.equal((await b!.limiter.reserve([leaseRule()], request(), identity())).allowed, true);
  t.equal(await counter(leaseRule()), 10, "the new window holds only b's share");
  await a!.leases.close();
  t.equal(await counter(leaseRule()), 10, "a's share of the ended window is not taken off the new one");
  flaky.mode = 'throw';
  await b!.leases.close();
  flaky.mode = 'ok';
  t.equal(await counter(leaseRule()), 10, 'unreachable store: the share stays counted (the old bound)');
});

t.test('the next window starts from nothing', async (t) => {
  const { limiters, clock } = setup(1);
  const { limiter } = limiters[0]!;
  const tiny = leaseRule({ amount: 3, lease: 2 });
  for (let i = 0; i < 3; i++) t.equal((await limiter.reserve([tiny], request(), identity())).allowed, true);
  t.equal((await limiter.reserve([tiny], request(), identity())).allowed, false);
  clock.advance(60_000);
  t.equal((await limiter.reserve([tiny], request(), identity())).allowed, true);
});

t.test('an exact rule refusing gives the leased share back', async (t) => {
  const { limiters } = setup(1);
  const { limiter } = limiters[0]!;
  const exact = rule({ id: 'exact', amount: 1 });
  t.equal((await limiter.reserve([leaseRule(), exact], request(), identity())).allowed, true);
  const refused = await limiter.reserve([leaseRule(), exact], request(), identity());
  t.equal(refused.allowed, false);
  if (!refused.allowed) t.equal(refused.rule.id, 'exact');
  const peek = await limiter.peek([leaseRule()], request(), identity());
  t.equal(peek.headers['x-ratelimit-remaining-requests'], '99', 'only the admitted request was spent');
});

t.test('tokens: reconcile refunds the share, or adds the overrun to the counter as debt', async (t) => {
  const { limiters, counter } = setup(1);
  const { limiter } = limiters[0]!;
  const tokens = rule({ id: 'tpm', metric: 'tokens', amount: 1000, counting: 'lease', lease: 200 });
  const req = request({ prompt: '', maxTokens: 50 });
  const a = await limiter.reserve([tokens], req, identity());
  if (!a.allowed) return t.fail('refused');
  t.equal(await counter(tokens), 200, 'one lease taken');
  t.same(await limiter.reconcile(a.reservation, { totalTokens: 10, costUsd: null }), { applied: true });
  t.equal(
    (await limiter.peek([tokens], req, identity())).headers['x-ratelimit-remaining-tokens'],
    '990',
    'the unused 40 went back to the share',
  );
  const b = await limiter.reserve([tokens], req, identity());
  if (!b.allowed) return t.fail('refused');
  await limiter.reconcile(b.reservation, { totalTokens: 400, costUsd: null });
  const c = await limiter.reserve([tokens], req, identity());
  t.equal(c.allowed, true);
  t.equal(await counter(tokens), 200 + 210 + 200, 'the 210 overrun was added with the next lease');
});

t.test('budgets stay exact unless their rule says lease; config default applies to the rest', async (t) => {
  const shared = new MemoryLimitStore();
  const flaky = new FlakyStore(shared);
  const limiter = new Limiter({
    store: new LeaseLimitStore({ store: flaky }),
    defaultCounting: 'lease',
    leaseFraction: 0.1,
    estimateCost: () => 0.01,
  });
  const budget = rule({ id: 'usd', metric: 'cost_usd', amount: 1 });
  const rpm = rule({ id: 'rpm', amount: 100 });
  for (let i = 0; i < 5; i++) await limiter.reserve([budget, rpm], request(), identity());
  t.equal(flaky.calls, 6, 'five exact budget reservations plus one lease of 10 requests');
});

t.test('fail closed: the held share is still spent, then limits_unavailable', async (t) => {
  const { limiters, flaky } = setup(1, { failMode: 'closed' });
  const { limiter } = limiters[0]!;
  const small = leaseRule({ lease: 4 });
  t.equal((await limiter.reserve([small], request(), identity())).allowed, true);
  flaky.mode = 'throw';
  const answers = [];
  for (let i = 0; i < 5; i++) {
    const r = await limiter.reserve([small], request(), identity());
    answers.push(r.allowed ? 200 : r.error.status);
  }
  t.same(answers, [200, 200, 200, 503, 503], 'three left in the share, then refused');
});

t.test('fail open: shares come from the local fallback at limit / expectedReplicas, flagged', async (t) => {
  const { limiters, flaky } = setup(1, { failMode: 'open', expectedReplicas: 4 });
  const { limiter } = limiters[0]!;
  flaky.mode = 'throw';
  const results = [];
  for (let i = 0; i < 30; i++) results.push(await limiter.reserve([leaseRule()], request(), identity()));
  t.equal(results.filter((r) => r.allowed).length, 25, 'floor(100 / 4) on this replica');
  t.ok(
    results.every((r) => r.degraded),
    'every answer is flagged degraded',
  );
});
