import t from 'tap';
import { MemoryLimitStore } from '../../../src/limits/memory-store.js';
import type { LimitItem } from '../../../src/limits/types.js';

const minute = { kind: 'duration', ms: 60_000, label: '1m' } as const;
const hour = { kind: 'duration', ms: 3_600_000, label: '1h' } as const;

function item(over: Partial<LimitItem> = {}): LimitItem {
  return { subject: 'key:k1', ruleId: 'r', window: minute, amount: 1, limit: 3, enforce: true, ...over };
}

function clock(start = Date.UTC(2024, 0, 1, 0, 0, 10)): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

t.test('counts up to the limit, then refuses with the reset time', async (t) => {
  const c = clock();
  const store = new MemoryLimitStore({ now: c.now });
  for (let i = 0; i < 3; i++) t.equal((await store.reserve([item()], `r${i}`, 60_000)).ok, true);
  const refused = await store.reserve([item()], 'r3', 60_000);
  t.equal(refused.ok, false);
  if (refused.ok) return;
  t.equal(refused.failedIndex, 0);
  t.same(refused.items[0], { used: 3, limit: 3, remaining: 0, resetMs: 50_000 });
  c.advance(50_000);
  t.equal((await store.reserve([item()], 'r4', 60_000)).ok, true, 'a new window starts from zero');
});

t.test('all-or-nothing: one item over its limit means no item is incremented', async (t) => {
  const store = new MemoryLimitStore({ now: clock().now });
  const a = item({ ruleId: 'a', limit: 100 });
  const b = item({ ruleId: 'b', subject: 'team:x', amount: 50, limit: 60 });
  t.equal((await store.reserve([a, b], 'one', 60_000)).ok, true);
  const second = await store.reserve([a, b], 'two', 60_000);
  t.equal(second.ok, false);
  if (!second.ok) t.equal(second.failedIndex, 1);
  const [sa, sb] = await store.peek([a, b]);
  t.equal(sa!.used, 1, 'the passing item was not incremented by the refused reservation');
  t.equal(sb!.used, 50);
});

t.test('monitor items are counted past their limit and never refuse', async (t) => {
  const store = new MemoryLimitStore({ now: clock().now });
  const m = item({ enforce: false, limit: 1 });
  t.equal((await store.reserve([m], 'a', 60_000)).ok, true);
  const second = await store.reserve([m], 'b', 60_000);
  t.equal(second.ok, true);
  if (second.ok) t.same(second.items[0], { used: 2, limit: 1, remaining: 0, resetMs: 50_000 });
});

t.test('reconcile replaces the estimate with the actual, up or down, clamped at zero', async (t) => {
  const store = new MemoryLimitStore({ now: clock().now });
  const tokens = item({ amount: 1000, limit: 10_000 });
  const r1 = await store.reserve([tokens], 'down', 60_000);
  const r2 = await store.reserve([tokens], 'up', 60_000);
  t.ok(r1.ok && r2.ok);
  if (!r1.ok || !r2.ok) return;
  await store.reconcile('down', [{ counterKey: r1.counterKeys[0]!, actual: 200 }]);
  t.equal((await store.peek([tokens]))[0]!.used, 1200);
  await store.reconcile('up', [{ counterKey: r2.counterKeys[0]!, actual: 3000 }]);
  t.equal((await store.peek([tokens]))[0]!.used, 3200);

  const again = await store.reconcile('up', [{ counterKey: r2.counterKeys[0]!, actual: 0 }]);
  t.equal(again.found, false, 'a reservation is reconciled once');
  t.equal((await store.peek([tokens]))[0]!.used, 3200);
});

t.test('reconcile clamps at zero when the counter was already lower', async (t) => {
  const store = new MemoryLimitStore({ now: clock().now });
  const a = item({ amount: 500, limit: 10_000 });
  const r = await store.reserve([a], 'x', 60_000);
  if (!r.ok) return t.fail('reserve failed');
  // Another reservation of the same counter released first, leaving less than this one reserved.
  const other = await store.reserve([a], 'y', 60_000);
  if (!other.ok) return t.fail('reserve failed');
  await store.reconcile('y', [{ counterKey: other.counterKeys[0]!, actual: -2000 }]);
  t.equal((await store.peek([a]))[0]!.used, 0, 'never negative');
  await store.reconcile('x', [{ counterKey: r.counterKeys[0]!, actual: 0 }]);
  t.equal((await store.peek([a]))[0]!.used, 0);
});

t.test('null actual keeps the estimate', async (t) => {
  const store = new MemoryLimitStore({ now: clock().now });
  const a = item({ amount: 700, limit: 10_000 });
  const r = await store.reserve([a], 'x', 60_000);
  if (!r.ok) return t.fail('reserve failed');
  t.same(await store.reconcile('x', [{ counterKey: r.counterKeys[0]!, actual: null }]), { found: true });
  t.equal((await store.peek([a]))[0]!.used, 700);
});

t.test('an expired reservation cannot be reconciled: its estimate stays counted', async (t) => {
  const c = clock(Date.UTC(2024, 0, 1, 0, 0, 0));
  const store = new MemoryLimitStore({ now: c.now });
  const a = item({ window: hour, amount: 400, limit: 10_000 });
  const r = await store.reserve([a], 'x', 1_000);
  if (!r.ok) return t.fail('reserve failed');
  c.advance(1_001);
  t.same(await store.reconcile('x', [{ counterKey: r.counterKeys[0]!, actual: 10 }]), { found: false });
  t.equal((await store.peek([a]))[0]!.used, 400);
});

t.test('reconcile after the window ended does not resurrect the old counter', async (t) => {
  const c = clock(Date.UTC(2024, 0, 1, 0, 0, 30));
  const store = new MemoryLimitStore({ now: c.now, sweepIntervalMs: 1e12 });
  const a = item({ amount: 10, limit: 100 });
  const r = await store.reserve([a], 'x', 600_000);
  if (!r.ok) return t.fail('reserve failed');
  c.advance(40_000);
  t.same(await store.reconcile('x', [{ counterKey: r.counterKeys[0]!, actual: 50 }]), { found: true });
  t.equal((await store.peek([a]))[0]!.used, 0, 'the new window is untouched');
});

t.test('sweeps drop ended windows and expired reservations', async (t) => {
  const c = clock(Date.UTC(2024, 0, 1));
  const store = new MemoryLimitStore({ now: c.now, sweepIntervalMs: 5_000 });
  for (let i = 0; i < 200; i++) await store.reserve([item({ subject: `key:${i}` })], `r${i}`, 30_000);
  t.same(store.size(), { counters: 200, reservations: 200 });
  c.advance(31_000);
  await store.peek([item()]);
  t.same(store.size(), { counters: 200, reservations: 0 }, 'reservations expire before their window');
  c.advance(30_000);
  await store.peek([item()]);
  t.same(store.size(), { counters: 0, reservations: 0 }, 'ended windows are gone');
});

t.test('calendar-month counters reset on the first of the month', async (t) => {
  const c = clock(Date.UTC(2024, 11, 31, 23, 59, 59));
  const store = new MemoryLimitStore({ now: c.now });
  const budget = item({ window: { kind: 'calendar_month', label: 'month' }, amount: 60, limit: 100 });
  t.equal((await store.reserve([budget], 'a', 60_000)).ok, true);
  const refused = await store.reserve([budget], 'b', 60_000);
  t.equal(refused.ok, false);
  if (!refused.ok) t.equal(refused.items[0]!.resetMs, 1000);
  c.advance(1000);
  t.equal((await store.reserve([budget], 'c', 60_000)).ok, true);
});
