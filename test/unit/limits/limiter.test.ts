import t from 'tap';
import { isAigovError } from '../../../src/errors.js';
import { Limiter, type LimiterOptions, type LimiterState } from '../../../src/limits/limiter.js';
import { MemoryLimitStore } from '../../../src/limits/memory-store.js';
import { ResilientLimitStore, type ResilientStoreOptions } from '../../../src/limits/resilient-store.js';
import { FlakyStore, identity, manualClock, request, rule } from './fixtures.js';

/** A limiter over a FlakyStore, wrapped for resilience the way src/services.ts wraps Redis. */
function setup(options: Partial<LimiterOptions> & Omit<Partial<ResilientStoreOptions>, 'store'> = {}) {
  const clock = manualClock();
  const store = new FlakyStore(new MemoryLimitStore({ now: clock.now }));
  const { defaultOutputTokens, estimateCost, unknownCostUsd, reservationTtlMs, ...resilience } = options;
  const limiter = new Limiter({
    store: new ResilientLimitStore({ store, now: clock.now, ...resilience }),
    defaultOutputTokens,
    estimateCost,
    unknownCostUsd,
    reservationTtlMs,
  });
  return { clock, store, limiter };
}

t.test('allows up to the limit with provider-style headers, then refuses with Retry-After', async (t) => {
  const { limiter, clock } = setup();
  const rules = [rule()];
  const remaining: string[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await limiter.reserve(rules, request(), identity());
    t.equal(r.allowed, true);
    remaining.push(r.headers['x-ratelimit-remaining-requests']!);
    t.equal(r.headers['x-ratelimit-limit-requests'], '3');
    t.equal(r.headers['x-ratelimit-reset-requests'], '50s');
  }
  t.same(remaining, ['2', '1', '0']);

  clock.advance(5_500);
  const denied = await limiter.reserve(rules, request(), identity());
  t.equal(denied.allowed, false);
  if (denied.allowed) return;
  t.equal(denied.retryAfterSeconds, 45, 'rounded up to whole seconds until the window resets');
  t.equal(denied.headers['retry-after'], '45');
  t.equal(denied.headers['x-ratelimit-remaining-requests'], '0');
  t.equal(denied.rule.id, 'per-key-rate');
  t.ok(isAigovError(denied.error));
  t.equal(denied.error.code, 'rate_limited');
  t.equal(denied.error.status, 429);
  t.equal(denied.error.providerCode, 'per-key-rate');
  t.equal(denied.error.retryAfter, 45);
  t.equal(denied.error.headers['retry-after'], '45');
  t.match(denied.error.message, /per-key-rate.*3 requests per 1m by key/);
});

t.test('token estimate is chars/4 rounded up plus max_tokens, or the default output tokens', async (t) => {
  const { limiter } = setup({ defaultOutputTokens: 500 });
  const rules = [rule({ id: 'tok', metric: 'tokens', amount: 10_000 })];
  const a = await limiter.reserve(rules, request({ prompt: 'x'.repeat(13), maxTokens: 100 }), identity());
  t.equal(a.headers['x-ratelimit-remaining-tokens'], String(10_000 - (4 + 100)));
  const b = await limiter.reserve(rules, request({ prompt: '', maxTokens: null }), identity());
  t.equal(b.headers['x-ratelimit-remaining-tokens'], String(10_000 - 104 - 500));
  t.equal(b.headers['x-ratelimit-limit-tokens'], '10000');
});

t.test('reconcile replaces the token estimate with the actual usage; unknown keeps it', async (t) => {
  const { limiter } = setup();
  const rules = [rule({ id: 'tok', metric: 'tokens', amount: 1000 })];
  const req = request({ prompt: 'abcd', maxTokens: 400 });
  const a = await limiter.reserve(rules, req, identity());
  if (!a.allowed) return t.fail('refused');
  t.same(await limiter.reconcile(a.reservation, { totalTokens: 50, costUsd: null }), { applied: true });
  const b = await limiter.reserve(rules, req, identity());
  t.equal(b.headers['x-ratelimit-remaining-tokens'], String(1000 - 50 - 401));
  if (!b.allowed) return t.fail('refused');
  await limiter.reconcile(b.reservation, { totalTokens: null, costUsd: null });
  const peek = await limiter.peek(rules, req, identity());
  t.equal(
    peek.headers['x-ratelimit-remaining-tokens'],
    String(1000 - 50 - 401),
    'unknown usage keeps the estimate',
  );
  t.equal(peek.allowed, true, 'another 401 fits into 549');
  const big = await limiter.peek(rules, request({ prompt: 'abcd', maxTokens: 600 }), identity());
  t.equal(big.allowed, false, '601 does not fit into 549');
});

t.test(
  'budgets: estimated cost is reserved, refused as budget_exceeded, reconciled to the real cost',
  async (t) => {
    const { limiter } = setup({ estimateCost: () => 0.4 });
    const rules = [
      rule({
        id: 'team-budget',
        metric: 'cost_usd',
        amount: 1,
        by: 'team',
        window: { kind: 'calendar_month', label: 'month' },
      }),
    ];
    const a = await limiter.reserve(rules, request(), identity());
    const b = await limiter.reserve(rules, request(), identity());
    t.ok(a.allowed && b.allowed);
    t.equal(b.headers['x-aigov-budget-remaining-usd'], '0.2');
    t.equal(b.headers['x-aigov-budget-limit-usd'], '1');
    const c = await limiter.reserve(rules, request(), identity({ id: 'k_other' }));
    t.equal(c.allowed, false, 'the team shares one budget across keys');
    if (!c.allowed) {
      t.equal(c.error.code, 'budget_exceeded');
      t.equal(c.error.providerCode, 'team-budget');
    }
    if (!a.allowed) return;
    await limiter.reconcile(a.reservation, { totalTokens: 10, costUsd: 0.01 });
    const d = await limiter.reserve(rules, request(), identity());
    t.equal(d.allowed, true, 'the reconciled cost freed room');
    t.equal(d.headers['x-aigov-budget-remaining-usd'], '0.19');
  },
);

t.test('unknown cost reserves the configured conservative default', async (t) => {
  const { limiter } = setup({ estimateCost: () => null, unknownCostUsd: 0.25 });
  const rules = [rule({ metric: 'cost_usd', amount: 1 })];
  const r = await limiter.reserve(rules, request(), identity());
  t.equal(r.headers['x-aigov-budget-remaining-usd'], '0.75');
});

t.test('monitor rules are counted and reported but never refuse', async (t) => {
  const { limiter } = setup();
  const rules = [rule({ id: 'watch', amount: 1, mode: 'monitor' }), rule({ id: 'real', amount: 10 })];
  const first = await limiter.reserve(rules, request(), identity());
  t.same(first.monitorMatches, []);
  const second = await limiter.reserve(rules, request(), identity());
  t.equal(second.allowed, true);
  t.same(second.monitorMatches, ['watch']);
  t.same(second.applied, ['watch', 'real']);
  t.equal(second.headers['x-ratelimit-limit-requests'], '10', 'headers describe enforced rules only');
});

t.test('subjects: key, team (none when absent), owner and global counters', async (t) => {
  const { limiter } = setup();
  const byTeam = [rule({ id: 't', by: 'team', amount: 1 })];
  t.equal((await limiter.reserve(byTeam, request(), identity({ id: 'a', team: null }))).allowed, true);
  t.equal((await limiter.reserve(byTeam, request(), identity({ id: 'b', team: null }))).allowed, false);
  t.equal((await limiter.reserve(byTeam, request(), identity({ id: 'c', team: 'x' }))).allowed, true);
  const byOwner = [rule({ id: 'o', by: 'owner', amount: 1 })];
  t.equal((await limiter.reserve(byOwner, request(), identity({ id: 'a', owner: 'p' }))).allowed, true);
  t.equal((await limiter.reserve(byOwner, request(), identity({ id: 'b', owner: 'p' }))).allowed, false);
  const global = [rule({ id: 'g', by: 'global', amount: 1 })];
  t.equal((await limiter.reserve(global, request(), identity({ id: 'a', owner: 'p' }))).allowed, true);
  t.equal(
    (await limiter.reserve(global, request(), identity({ id: 'z', owner: 'q', team: 'y' }))).allowed,
    false,
  );
  const byKey = [rule({ id: 'k', by: 'key', amount: 1 })];
  t.equal((await limiter.reserve(byKey, request(), identity({ id: 'a' }))).allowed, true);
  t.equal((await limiter.reserve(byKey, request(), identity({ id: 'b' }))).allowed, true);
});

t.test('rules that do not apply are not counted; no rule means no store call', async (t) => {
  const { limiter, store } = setup();
  const r = await limiter.reserve([rule({ appliesTo: () => false })], request(), identity());
  t.equal(r.allowed, true);
  t.equal(store.calls, 0);
  if (r.allowed)
    t.same(await limiter.reconcile(r.reservation, { totalTokens: 1, costUsd: 1 }), { applied: false });
});

t.test('peek answers like reserve without counting', async (t) => {
  const { limiter } = setup();
  const rules = [rule({ amount: 1 })];
  for (let i = 0; i < 3; i++) t.equal((await limiter.peek(rules, request(), identity())).allowed, true);
  t.equal((await limiter.reserve(rules, request(), identity())).allowed, true);
  const p = await limiter.peek(rules, request(), identity());
  t.equal(p.allowed, false);
  if (!p.allowed) t.equal(p.error.code, 'rate_limited');
});

t.test('release takes the whole reservation back', async (t) => {
  const { limiter } = setup();
  const rules = [rule({ amount: 1 })];
  const r = await limiter.reserve(rules, request(), identity());
  if (!r.allowed) return t.fail('refused');
  await limiter.release(r.reservation);
  t.equal((await limiter.reserve(rules, request(), identity())).allowed, true);
});

t.test('fail closed (default): a throwing store refuses with limits_unavailable', async (t) => {
  const changes: LimiterState[] = [];
  const { limiter, store } = setup({ onStateChange: (s) => changes.push(s) });
  store.mode = 'throw';
  const r = await limiter.reserve([rule()], request(), identity());
  t.equal(r.allowed, false);
  if (r.allowed) return;
  t.equal(r.error.code, 'limits_unavailable');
  t.equal(r.error.status, 503);
  t.ok(r.retryAfterSeconds >= 1);
  t.equal(r.degraded, true);
  t.equal(limiter.state(), 'degraded');
  t.same(changes, ['degraded']);
});

t.test('fail closed: a hanging store refuses within the store timeout', async (t) => {
  const { limiter, store } = setup({ timeoutMs: 40 });
  store.mode = 'hang';
  const started = performance.now();
  const r = await limiter.reserve([rule()], request(), identity());
  const elapsed = performance.now() - started;
  t.equal(r.allowed, false);
  if (!r.allowed) t.equal(r.error.code, 'limits_unavailable');
  t.ok(elapsed >= 30 && elapsed < 2_000, `refused after ${elapsed.toFixed(0)} ms`);
});

t.test('fail open: allowed, flagged degraded, counted locally at limit / expectedReplicas', async (t) => {
  const { limiter, store } = setup({ defaultFailMode: 'open', expectedReplicas: 3 });
  store.mode = 'throw';
  const rules = [rule({ amount: 7 })];
  const results = [];
  for (let i = 0; i < 3; i++) results.push(await limiter.reserve(rules, request(), identity()));
  t.same(
    results.map((r) => r.allowed),
    [true, true, false],
    'floor(7 / 3) = 2 per replica',
  );
  t.ok(results.every((r) => r.degraded));
  const denied = results[2]!;
  if (!denied.allowed) t.equal(denied.error.code, 'rate_limited');
  const first = results[0]!;
  if (first.allowed) {
    t.equal(first.reservation.store, 'fallback');
    t.same(await limiter.reconcile(first.reservation, { totalTokens: 1, costUsd: null }), { applied: true });
  }
});

t.test('a rule failMode overrides the default; monitor rules never force a refusal', async (t) => {
  const { limiter, store } = setup({ defaultFailMode: 'closed' });
  store.mode = 'throw';
  const open = await limiter.reserve(
    [rule({ failMode: 'open' }), rule({ id: 'm', mode: 'monitor' })],
    request(),
    identity(),
  );
  t.equal(open.allowed, true);
  t.equal(open.degraded, true);
  const closed = await limiter.reserve(
    [rule({ failMode: 'open' }), rule({ id: 'c', failMode: 'closed' })],
    request(),
    identity(),
  );
  t.equal(closed.allowed, false);
  if (!closed.allowed) t.equal(closed.rule.id, 'c');
});

t.test('circuit breaker: skips the store while down, probes after the interval, recovers', async (t) => {
  const changes: LimiterState[] = [];
  const { limiter, store, clock } = setup({ retryIntervalMs: 1_000, onStateChange: (s) => changes.push(s) });
  store.mode = 'throw';
  await limiter.reserve([rule()], request(), identity());
  t.equal(store.calls, 1);
  for (let i = 0; i < 5; i++) await limiter.reserve([rule()], request(), identity());
  t.equal(store.calls, 1, 'no store calls while the circuit is open');

  clock.advance(1_000);
  const probe = await limiter.reserve([rule()], request(), identity());
  t.equal(store.calls, 2, 'one probe after the interval');
  t.equal(probe.allowed, false);

  store.mode = 'ok';
  await limiter.reserve([rule()], request(), identity());
  t.equal(store.calls, 2, 'the failed probe re-opened the circuit');
  clock.advance(1_000);
  const recovered = await limiter.reserve([rule()], request(), identity());
  t.equal(recovered.allowed, true);
  t.equal(recovered.degraded, false);
  t.equal(limiter.state(), 'ok');
  t.same(changes, ['degraded', 'ok']);
});

t.test('reconcile never throws when the store fails; the estimate stays counted', async (t) => {
  const { limiter, store } = setup();
  const r = await limiter.reserve([rule()], request(), identity());
  if (!r.allowed) return t.fail('refused');
  store.mode = 'throw';
  t.same(await limiter.reconcile(r.reservation, { totalTokens: 3, costUsd: 0 }), { applied: false });
  t.equal(limiter.state(), 'degraded');
});

t.test('a request larger than the whole limit is told so', async (t) => {
  const { limiter } = setup();
  const r = await limiter.reserve(
    [rule({ metric: 'tokens', amount: 100 })],
    request({ maxTokens: 4096 }),
    identity(),
  );
  t.equal(r.allowed, false);
  if (!r.allowed) t.match(r.error.message, /larger than the limit/);
});
