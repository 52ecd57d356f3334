import t from 'tap';
import { msUntilReset, resetAt, windowKey, windowSpan, windowStart } from '../../../src/limits/window.js';
import type { LimitWindow } from '../../../src/policy/limit-rule.js';

const minute: LimitWindow = { kind: 'duration', ms: 60_000, label: '1m' };
const day: LimitWindow = { kind: 'duration', ms: 86_400_000, label: '1d' };
const month: LimitWindow = { kind: 'calendar_month', label: 'month' };

t.test('duration windows are aligned to the epoch', async (t) => {
  const now = Date.UTC(2024, 4, 10, 12, 34, 56, 789);
  t.equal(windowStart(minute, now), Date.UTC(2024, 4, 10, 12, 34, 0, 0));
  t.equal(resetAt(minute, now), Date.UTC(2024, 4, 10, 12, 35, 0, 0));
  t.equal(msUntilReset(minute, now), 3_211);
  t.equal(windowStart(day, now), Date.UTC(2024, 4, 10), 'a 1d window is the UTC day');
  t.equal(resetAt(day, now), Date.UTC(2024, 4, 11));
});

t.test('boundaries: the first instant belongs to the new window, the last to the old', async (t) => {
  const boundary = Date.UTC(2024, 0, 1, 0, 1, 0, 0);
  t.equal(windowStart(minute, boundary), boundary);
  t.equal(msUntilReset(minute, boundary), 60_000);
  t.equal(windowStart(minute, boundary - 1), boundary - 60_000);
  t.equal(msUntilReset(minute, boundary - 1), 1);
  t.not(windowKey(minute, boundary), windowKey(minute, boundary - 1));
  t.equal(windowKey(minute, boundary), windowKey(minute, boundary + 59_999));
});

t.test('the duration is part of the key, so a changed window starts fresh', async (t) => {
  const hour: LimitWindow = { kind: 'duration', ms: 3_600_000, label: '1h' };
  t.not(windowKey(minute, 0), windowKey(hour, 0));
});

t.test('calendar month: YYYY-MM key, reset at the first instant of the next month', async (t) => {
  const now = Date.UTC(2024, 4, 17, 8);
  const span = windowSpan(month, now);
  t.same(span, { start: Date.UTC(2024, 4, 1), end: Date.UTC(2024, 5, 1), key: '2024-05' });
});

t.test('December rolls over to January of the next year', async (t) => {
  const lastMs = Date.UTC(2024, 11, 31, 23, 59, 59, 999);
  t.equal(windowKey(month, lastMs), '2024-12');
  t.equal(resetAt(month, lastMs), Date.UTC(2025, 0, 1));
  t.equal(msUntilReset(month, lastMs), 1);
  t.equal(windowKey(month, lastMs + 1), '2025-01');
  t.equal(windowStart(month, lastMs + 1), Date.UTC(2025, 0, 1));
});

t.test('February in leap and common years', async (t) => {
  const leap = Date.UTC(2024, 1, 29, 12);
  t.equal(windowKey(month, leap), '2024-02');
  t.equal(resetAt(month, leap), Date.UTC(2024, 2, 1));
  t.equal(resetAt(month, leap) - windowStart(month, leap), 29 * 86_400_000);
  const common = Date.UTC(2023, 1, 28, 23, 59, 59, 999);
  t.equal(resetAt(month, common) - windowStart(month, common), 28 * 86_400_000);
  t.equal(windowKey(month, Date.UTC(2100, 1, 28)), '2100-02');
  t.equal(resetAt(month, Date.UTC(2100, 1, 28)), Date.UTC(2100, 2, 1), '2100 is not a leap year');
});

t.test('month keys are zero padded and ignore the local time zone', async (t) => {
  t.equal(windowKey(month, Date.UTC(2025, 8, 30, 23, 30)), '2025-09');
  t.equal(windowKey(month, Date.UTC(2025, 9, 1, 0, 0)), '2025-10');
});

t.test('non-positive durations are rejected', async (t) => {
  t.throws(() => windowSpan({ kind: 'duration', ms: 0, label: '0s' }, 0), RangeError);
  t.throws(() => windowSpan({ kind: 'duration', ms: Number.NaN, label: 'x' }, 0), RangeError);
});
