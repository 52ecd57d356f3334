import type { Usage } from './types.js';

export const UNKNOWN_USAGE: Usage = Object.freeze({
  promptTokens: null,
  completionTokens: null,
  totalTokens: null,
});

/** A token count, or null: negative, fractional or non-numeric values are not counts. */
export function count(v: unknown): number | null {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : null;
}

export function makeUsage(prompt: number | null, completion: number | null, total: number | null): Usage {
  const t = total ?? (prompt !== null && completion !== null ? prompt + completion : null);
  return { promptTokens: prompt, completionTokens: completion, totalTokens: t };
}

/** Sum of counts where at least one is known; unknown parts count as absent, all unknown -> null. */
export function sumKnown(...values: (number | null)[]): number | null {
  let total: number | null = null;
  for (const v of values) if (v !== null) total = (total ?? 0) + v;
  return total;
}

/** The usage with its cache and reasoning details, keeping only the details that are known. */
export function withDetails(
  usage: Usage,
  details: { cached?: number | null; cacheWrite?: number | null; reasoning?: number | null },
): Usage {
  const out: Usage = { ...usage };
  if (details.cached !== undefined && details.cached !== null) out.cachedTokens = details.cached;
  if (details.cacheWrite !== undefined && details.cacheWrite !== null)
    out.cacheWriteTokens = details.cacheWrite;
  if (details.reasoning !== undefined && details.reasoning !== null) out.reasoningTokens = details.reasoning;
  return out;
}
