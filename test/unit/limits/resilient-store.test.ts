import t from 'tap';
import { MemoryLimitStore } from '../../../src/limits/memory-store.js';
import { ResilientLimitStore, type ResilientStoreOptions } from '../../../src/limits/resilient-store.js';
import { StallTimeoutError } from '../../../src/limits/stall-guard.js';
import { LimitStoreUnavailable, type LimitItem, type StoreHealth } from '../../../src/limits/types.js';
import { Limiter } from '../../../src/limits/limiter.js';
import { FlakyStore, identity, manualClock, request, rule } from './fixtures.js';

function setup(options: Omit<Partial<ResilientStoreOptions>, 'store'> = {}) {
  const clock = manualClock();
  const inner = new MemoryLimitStore({ now: clock.now });
  const flaky = new FlakyStore(inner);
  const changes: StoreHealth[] = [];
  const store = new ResilientLimitStore({
    store: flaky,
    now: clock.now,
    onStateChange: (s) => changes.push(s),
    ...options,
  });
  return { clock, inner, flaky, store, changes };
}

function item(over: Partial<LimitItem> = {}): LimitItem {
  return {
    subject: 'key:k_1',
    ruleId: 'r',
    window: { kind: 'duration', ms: 60_000, label: '1m' },
    amount: 1,
    limit: 7,
    enforce: true,
    ...over,
  };
}

t.test('healthy: passes calls through, counts in the shared store, not degraded', async (t) => {
  const { store, inner, flaky } = setup();
  t.equal(store.kind, 'redis', 'keeps the kind of what it wraps');
  const r = await store.reserve([item()], 'a', 60_000);
  t.equal(r.ok, true);
  t.notOk(r.items[0]!.degraded);
  t.equal((await inner.peek([item()]))[0]!.used, 1, 'counted in the wrapped store');
  if (r.ok)
    t.same(await store.reconcile('a', [{ counterKey: r.counterKeys[0]!, actual: 0 }]), { found: true });
  t.equal((await store.peek([item()]))[0]!.used, 0);
  await store.ping();
  t.equal(flaky.calls, 4);
  t.equal(store.state(), 'ok');
});

t.test('timeout: a hanging store fails the call within the timeout and opens the circuit', async (t) => {
  const { store, flaky, changes } = setup({ timeoutMs: 40 });
  flaky.mode = 'hang';
  const started = performance.now();
  const err = await store.reserve([item()], 'a', 60_000).catch((e: unknown) => e);
  const elapsed = performance.now() - started;
  t.ok(err instanceof LimitStoreUnavailable, 'fail closed by default');
  t.ok((err as LimitStoreUnavailable).cause instanceof StallTimeoutError, 'caused by the timeout');
  t.ok(elapsed >= 30 && elapsed < 2_000, `after ${elapsed.toFixed(0)} ms`);
  t.equal(store.timeouts, 1);
  t.equal(store.state(), 'degraded');
  t.same(changes, ['degraded']);
  await t.rejects(store.ping(), StallTimeoutError, 'ping goes through the same timeout');
});

t.test('breaker: skips the store while open, one probe per interval, closes on success', async (t) => {
  const { store, flaky, clock, changes } = setup({ retryIntervalMs: 1_000, defaultFailMode: 'open' });
  flaky.mode = 'throw';
  await store.reserve([item()], 'a', 60_000);
  t.equal(flaky.calls, 1);
  for (let i = 0; i < 3; i++) await store.reserve([item()], `b${i}`, 60_000);
  await store.peek([item()]);
  t.same(await store.reconcile('x', [{ counterKey: 'k', actual: 1 }]), { found: false }, 'skipped');
  t.equal(flaky.calls, 1, 'nothing reached the store while open');

  clock.advance(999);
  await store.reserve([item()], 'c', 60_000);
  t.equal(flaky.calls, 1, 'still open one millisecond before the interval');
  clock.advance(1);
  await store.reserve([item()], 'd', 60_000);
  t.equal(flaky.calls, 2, 'half-open: one probe');
  await store.reserve([item()], 'e', 60_000);
  t.equal(flaky.calls, 2, 'the failed probe re-opened the circuit');
  t.equal(store.state(), 'degraded');

  flaky.mode = 'ok';
  clock.advance(1_000);
  const probe = await store.reserve([item()], 'f', 60_000);
  t.equal(flaky.calls, 3);
  t.notOk(probe.items[0]!.degraded, 'the successful probe answered from the store');
  t.equal(store.state(), 'ok');
  await store.reserve([item()], 'g', 60_000);
  t.equal(flaky.calls, 4, 'closed: every call goes to the store again');
  t.same(changes, ['degraded', 'ok'], 'one transition each way');
});

t.test('fallback (fail open): counted locally at limit / expectedReplicas, flagged degraded', async (t) => {
  const { store, flaky, inner } = setup({ defaultFailMode: 'open', expectedReplicas: 3 });
  flaky.mode = 'throw';
  const results = [];
  for (let i = 0; i < 3; i++) results.push(await store.reserve([item()], `r${i}`, 60_000));
  t.same(
    results.map((r) => r.ok),
    [true, true, false],
    'floor(7 / 3) = 2 on this replica',
  );
  t.ok(
    results.every((r) => r.items.every((s) => s.degraded === true)),
    'every state is flagged',
  );
  t.equal(results[0]!.items[0]!.limit, 2, 'states carry the local share as their limit');
  const peeked = await store.peek([item()]);
  t.equal(peeked[0]!.degraded, true);
  t.equal(peeked[0]!.used, 2);

  flaky.mode = 'ok';
  const first = results[0]!;
  if (!first.ok) return t.fail('refused');
  const callsBefore = flaky.calls;
  t.same(await store.reconcile('r0', [{ counterKey: first.counterKeys[0]!, actual: 0 }]), { found: true });
  t.equal(flaky.calls, callsBefore, 'a fallback reservation is reconciled in the fallback');
  t.equal((await inner.peek([item()]))[0]!.used, 0, 'nothing leaked into the shared store');
});

t.test('fail mode closed: refuses with the first enforced closed item; monitor items never do', async (t) => {
  const { store, flaky } = setup({ defaultFailMode: 'open', retryIntervalMs: 2_500 });
  flaky.mode = 'throw';
  const open = await store.reserve(
    [item({ failMode: 'open' }), item({ ruleId: 'm', enforce: false, failMode: 'closed' })],
    'a',
    60_000,
  );
  t.equal(open.ok, true, 'a monitor item marked closed does not refuse');
  const err = await store
    .reserve([item(), item({ ruleId: 'c', failMode: 'closed' })], 'b', 60_000)
    .catch((e: unknown) => e);
  t.ok(err instanceof LimitStoreUnavailable);
  t.equal((err as LimitStoreUnavailable).failedIndex, 1, 'the item whose fail mode is closed');
  t.equal((err as LimitStoreUnavailable).retryAfterMs, 2_500, 'retry when the breaker probes again');
  await t.rejects(store.peek([item({ failMode: 'closed' })]), LimitStoreUnavailable, 'peek too');
});

t.test('through the Limiter: fail closed answers limits_unavailable (503) naming the rule', async (t) => {
  const { store, flaky } = setup({ retryIntervalMs: 3_000 });
  const limiter = new Limiter({ store });
  flaky.mode = 'throw';
  const r = await limiter.reserve(
    [rule({ failMode: 'open' }), rule({ id: 'strict' })],
    request(),
    identity(),
  );
  t.equal(r.allowed, false);
  if (r.allowed) return;
  t.equal(r.error.code, 'limits_unavailable');
  t.equal(r.error.status, 503);
  t.equal(r.rule.id, 'strict');
  t.equal(r.retryAfterSeconds, 3);
  t.equal(r.headers['retry-after'], '3');
  t.equal(r.degraded, true);
  t.equal(limiter.state(), 'degraded', 'the limiter reports the wrapper state');
  const p = await limiter.peek([rule({ id: 'strict' })], request(), identity());
  t.equal(p.allowed, false);
  if (!p.allowed) t.equal(p.error.code, 'limits_unavailable');
});

t.test('a plain store that throws (no wrapper) still answers limits_unavailable', async (t) => {
  const flaky = new FlakyStore(new MemoryLimitStore());
  flaky.mode = 'throw';
  const limiter = new Limiter({ store: flaky });
  t.equal(limiter.state(), 'ok', 'a plain store reports no state');
  const r = await limiter.reserve([rule({ id: 'm', mode: 'monitor' }), rule()], request(), identity());
  t.equal(r.allowed, false);
  if (!r.allowed) t.equal(r.error.code, 'limits_unavailable');
  const monitorOnly = await limiter.reserve([rule({ mode: 'monitor' })], request(), identity());
  t.equal(monitorOnly.allowed, true, 'nothing enforced: passes uncounted');
  t.equal(monitorOnly.degraded, true);
});
