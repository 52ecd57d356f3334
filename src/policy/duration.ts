import type { LimitWindow } from './limit-rule.js';

const UNIT_MS: Record<string, number> = {
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const MIN_MS = 1_000;
const MAX_MS = 365 * 86_400_000;

const DURATION_RE = /^([1-9][0-9]{0,8})(s|m|h|d)$/;

/**
 * Parses a limit window such as `30s`, `5m`, `1h`, `7d` or `month` (calendar month, UTC).
 * Bare numbers are refused: in a policy file `per: 60` is ambiguous (seconds? minutes?).
 * Returns a message instead of throwing so the schema can report it next to the field.
 */
export function parseDuration(input: string): LimitWindow {
  const result = tryParseDuration(input);
  if (typeof result === 'string') throw new RangeError(result);
  return result;
}

export function tryParseDuration(input: unknown): LimitWindow | string {
  if (typeof input !== 'string') {
    return `duration must be a string like "30s", "5m", "1h", "7d" or "month" (got ${typeof input})`;
  }
  const text = input.trim();
  if (text === 'month') return { kind: 'calendar_month', label: 'month' };
  const match = DURATION_RE.exec(text);
  if (match === null) {
    return `invalid duration "${input}": use a number and a unit (s, m, h, d), e.g. "30s", "5m", "1h", "7d", or "month"`;
  }
  const ms = Number(match[1]) * (UNIT_MS[match[2] ?? ''] ?? 0);
  if (ms < MIN_MS || ms > MAX_MS) return `duration "${input}" is out of range (1s..365d)`;
  return { kind: 'duration', ms, label: text };
}
