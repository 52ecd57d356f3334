import type { NormalizedRequest } from '../providers/types.js';
import type { LimitMetric } from '../policy/limit-rule.js';

/** Budgets are counted in micro-USD so every store adds integers, never drifting floats. */
export const MICRO_USD = 1_000_000;

export function usdToMicro(usd: number): number {
  // The epsilon keeps 0.07 * 1e6 = 70000.00000000001 from rounding up a whole micro-dollar.
  return Math.max(0, Math.ceil(usd * MICRO_USD - 1e-6));
}

export function microToUsd(micro: number): number {
  return micro / MICRO_USD;
}

/**
 * Four characters per token is the usual rule of thumb for English with BPE tokenisers; it is an
 * estimate for the reservation only, replaced by the provider's count at reconcile time.
 */
export function estimatePromptTokens(prompt: string): number {
  return Math.ceil(prompt.length / 4);
}

export type CostEstimator = (
  req: NormalizedRequest,
  promptTokens: number,
  outputTokens: number,
) => number | null;

export interface EstimateOptions {
  /** Output tokens assumed when the request sets no max_tokens. */
  defaultOutputTokens: number;
  estimateCost: CostEstimator | undefined;
  /** USD reserved when the cost cannot be estimated (unknown model price). */
  unknownCostUsd: number;
}

/** What one request is expected to consume, per metric, in store units. */
export function estimateAmounts(
  req: NormalizedRequest,
  options: EstimateOptions,
): Record<LimitMetric, number> {
  const promptTokens = estimatePromptTokens(req.prompt);
  const outputTokens = req.maxTokens ?? options.defaultOutputTokens;
  const cost = options.estimateCost?.(req, promptTokens, outputTokens) ?? null;
  const usd = cost !== null && Number.isFinite(cost) && cost >= 0 ? cost : options.unknownCostUsd;
  return { requests: 1, tokens: promptTokens + outputTokens, cost_usd: usdToMicro(usd) };
}
