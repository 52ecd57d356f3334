import type { LimitWindow } from '../policy/limit-rule.js';

/**
 * Fixed windows. Durations are aligned to the Unix epoch (so `1d` is a UTC day and `1h` a clock
 * hour, identical on every replica without coordination); `month` is the UTC calendar month.
 * Every instant belongs to exactly one window, whose key names it in counter keys.
 */

export interface WindowSpan {
  /** First instant of the window (epoch ms, inclusive). */
  start: number;
  /** First instant of the next window (epoch ms): when the counter resets. */
  end: number;
  /** Stable name of the window, unique per (window definition, period). */
  key: string;
}

export function windowSpan(window: LimitWindow, now: number): WindowSpan {
  if (window.kind === 'calendar_month') {
    const d = new Date(now);
    const year = d.getUTCFullYear();
    const month = d.getUTCMonth();
    // Date.UTC normalises month 12 to January of the next year, which handles Dec -> Jan.
    return {
      start: Date.UTC(year, month, 1),
      end: Date.UTC(year, month + 1, 1),
      key: `${String(year).padStart(4, '0')}-${String(month + 1).padStart(2, '0')}`,
    };
  }
  const ms = window.ms;
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new RangeError(`limit window must be a positive duration, got ${ms}`);
  }
  const index = Math.floor(now / ms);
  // The duration is part of the key so that a policy edit from `per: 1m` to `per: 1h`
  // starts fresh counters instead of reinterpreting the old ones.
  return { start: index * ms, end: (index + 1) * ms, key: `${ms}ms:${index}` };
}

export function windowStart(window: LimitWindow, now: number): number {
  return windowSpan(window, now).start;
}

export function windowKey(window: LimitWindow, now: number): string {
  return windowSpan(window, now).key;
}

/** Epoch ms at which the window containing `now` ends and its counter starts again from zero. */
export function resetAt(window: LimitWindow, now: number): number {
  return windowSpan(window, now).end;
}

/** Milliseconds from `now` until the counter resets; always > 0. */
export function msUntilReset(window: LimitWindow, now: number): number {
  return windowSpan(window, now).end - now;
}
