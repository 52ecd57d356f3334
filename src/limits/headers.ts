import type { LimitMetric } from '../policy/limit-rule.js';
import { microToUsd } from './estimate.js';

export interface HeaderInput {
  metric: LimitMetric;
  limit: number;
  remaining: number;
  resetMs: number;
}

/**
 * OpenAI's reset format ("1s", "6m0s", "20ms"), which SDKs and clients already parse.
 */
export function formatResetDuration(ms: number): string {
  const total = Math.max(0, Math.ceil(ms));
  if (total < 1000) return `${total}ms`;
  let seconds = Math.ceil(total / 1000);
  const hours = Math.floor(seconds / 3600);
  seconds -= hours * 3600;
  const minutes = Math.floor(seconds / 60);
  seconds -= minutes * 60;
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}

export function retryAfterSeconds(resetMs: number): number {
  return Math.max(1, Math.ceil(resetMs / 1000));
}

function formatUsd(micro: number): string {
  return String(Number(microToUsd(micro).toFixed(6)));
}

/**
 * One set of headers per metric, from the most constraining counter (least remaining; on a tie
 * the one that resets last), as a provider reports its own tightest limit.
 */
export function limitHeaders(inputs: readonly HeaderInput[]): Record<string, string> {
  const tightest = new Map<LimitMetric, HeaderInput>();
  for (const input of inputs) {
    const current = tightest.get(input.metric);
    if (
      !current ||
      input.remaining < current.remaining ||
      (input.remaining === current.remaining && input.resetMs > current.resetMs)
    ) {
      tightest.set(input.metric, input);
    }
  }
  const headers: Record<string, string> = {};
  for (const [metric, h] of tightest) {
    if (metric === 'cost_usd') {
      headers['x-aigov-budget-limit-usd'] = formatUsd(h.limit);
      headers['x-aigov-budget-remaining-usd'] = formatUsd(h.remaining);
      headers['x-aigov-budget-reset'] = formatResetDuration(h.resetMs);
    } else {
      headers[`x-ratelimit-limit-${metric}`] = String(h.limit);
      headers[`x-ratelimit-remaining-${metric}`] = String(h.remaining);
      headers[`x-ratelimit-reset-${metric}`] = formatResetDuration(h.resetMs);
    }
  }
  return headers;
}
