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
