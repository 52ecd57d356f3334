import { isPlainObject } from '../text-walk.js';
import type { Usage } from '../types.js';
import { UNKNOWN_USAGE, count, makeUsage, withDetails } from '../usage-helpers.js';

/**
 * Anthropic reports cache writes and reads beside input_tokens; all three are prompt tokens
 * the caller paid for (at different rates), so budgets count them all.
 */
export function promptTokensOf(usage: Record<string, unknown>): number | null {
  const input = count(usage['input_tokens']);
  if (input === null) return null;
  return (
    input +
    (count(usage['cache_creation_input_tokens']) ?? 0) +
    (count(usage['cache_read_input_tokens']) ?? 0)
  );
}

export function usageFromAnthropicBody(route: string, body: unknown): Usage {
  if (!isPlainObject(body)) return UNKNOWN_USAGE;
  // Counting tokens is free: the answer's input_tokens is the result, not consumption.
  if (route === '/v1/messages/count_tokens') return makeUsage(0, 0, 0);
  const usage = body['usage'];
  if (!isPlainObject(usage)) return UNKNOWN_USAGE;
  return withDetails(makeUsage(promptTokensOf(usage), count(usage['output_tokens']), null), cacheOf(usage));
}

/** Cache reads and writes, priced apart from plain input (0.1x and 1.25x). */
export function cacheOf(usage: Record<string, unknown>): {
  cached: number | null;
  cacheWrite: number | null;
} {
  return {
    cached: count(usage['cache_read_input_tokens']),
    cacheWrite: count(usage['cache_creation_input_tokens']),
  };
}
