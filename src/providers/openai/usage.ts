import { isPlainObject } from '../text-walk.js';
import type { Usage } from '../types.js';
import { UNKNOWN_USAGE, count, makeUsage, withDetails } from '../usage-helpers.js';

/**
 * Usage from an OpenAI-style `usage` object, whichever API produced it: chat/completions
 * (prompt_tokens/completion_tokens), responses (input_tokens/output_tokens), embeddings
 * (prompt_tokens only: an embedding has no output, so its completion count is a known 0).
 */
export function usageFromObject(usage: unknown, route?: string): Usage {
  if (!isPlainObject(usage)) return UNKNOWN_USAGE;
  const prompt = count(usage['prompt_tokens']) ?? count(usage['input_tokens']);
  let completion = count(usage['completion_tokens']) ?? count(usage['output_tokens']);
  if (completion === null && prompt !== null && route?.endsWith('/embeddings') === true) completion = 0;
  // Cached input is part of prompt_tokens, reasoning part of completion_tokens (chat and
  // completions: *_tokens_details; responses: input/output_tokens_details).
  const inDetails = usage['prompt_tokens_details'] ?? usage['input_tokens_details'];
  const outDetails = usage['completion_tokens_details'] ?? usage['output_tokens_details'];
  return withDetails(makeUsage(prompt, completion, count(usage['total_tokens'])), {
    cached: isPlainObject(inDetails) ? count(inDetails['cached_tokens']) : null,
    reasoning: isPlainObject(outDetails) ? count(outDetails['reasoning_tokens']) : null,
  });
}

export function usageFromOpenAIBody(route: string, body: unknown): Usage {
  if (!isPlainObject(body)) return UNKNOWN_USAGE;
  if (isPlainObject(body['usage'])) return usageFromObject(body['usage'], route);
  // A responses-API event or wrapper carries the response object one level down.
  if (isPlainObject(body['response'])) return usageFromObject(body['response']['usage'], route);
  return UNKNOWN_USAGE;
}
