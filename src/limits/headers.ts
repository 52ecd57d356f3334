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

const NAMES: Record<Exclude<LimitMetric, 'cost_usd'>, [string, string, string]> = {
  requests: ['x-ratelimit-limit-requests', 'x-ratelimit-remaining-requests', 'x-ratelimit-reset-requests'],
  tokens: ['x-ratelimit-limit-tokens', 'x-ratelimit-remaining-tokens', 'x-ratelimit-reset-tokens'],
};

/** Whether `a` constrains more than `b`: less remaining; on a tie, the one that resets last. */
function tighter(a: HeaderInput, b: HeaderInput | undefined): boolean {
  return !b || a.remaining < b.remaining || (a.remaining === b.remaining && a.resetMs > b.resetMs);
}

/**
 * One set of headers per metric, from the most constraining counter (least remaining; on a tie
 * the one that resets last), as a provider reports its own tightest limit. On every request:
 * no intermediate collections, header names are constants.
 */
export function limitHeaders(inputs: readonly HeaderInput[]): Record<string, string> {
  let requests: HeaderInput | undefined;
  let tokens: HeaderInput | undefined;
  let cost: HeaderInput | undefined;
  for (const input of inputs) {
    if (input.metric === 'requests') {
      if (tighter(input, requests)) requests = input;
    } else if (input.metric === 'tokens') {
      if (tighter(input, tokens)) tokens = input;
    } else if (tighter(input, cost)) cost = input;
  }
  const headers: Record<string, string> = {};
  for (const h of [requests, tokens]) {
    if (!h) continue;
    const [limit, remaining, reset] = NAMES[h.metric as 'requests' | 'tokens'];
    headers[limit] = String(h.limit);
    headers[remaining] = String(h.remaining);
    headers[reset] = formatResetDuration(h.resetMs);
  }
  if (cost) {
    headers['x-aigov-budget-limit-usd'] = formatUsd(cost.limit);
    headers['x-aigov-budget-remaining-usd'] = formatUsd(cost.remaining);
    headers['x-aigov-budget-reset'] = formatResetDuration(cost.resetMs);
  }
  return headers;
}
