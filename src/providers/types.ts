/**
 * The provider-neutral view of a request that policies, limits and audit work on.
 * Every provider family produces one from its own body shape (see providers/<family>/normalize.ts).
 */

/** Where a piece of text lives in the original JSON body, so redaction can write it back. */
export type JsonPath = readonly (string | number)[];

export interface TextSlot {
  /** Path into the request body; the value at the path is a string. */
  path: JsonPath;
  /** What the slot holds: system prompt, a message, a tool result... (for messages and audits). */
  role: 'system' | 'user' | 'assistant' | 'tool' | 'input' | 'other';
  text: string;
}

export type ProviderFamily = 'openai' | 'anthropic' | 'azure' | 'gemini' | 'bedrock';

export interface NormalizedRequest {
  /** Configured provider name, e.g. "openai", "anthropic", "groq". */
  provider: string;
  family: ProviderFamily;
  /** Route as the caller used it, without the /<provider> prefix, e.g. "/v1/chat/completions". */
  route: string;
  model: string | null;
  /** Every piece of user-visible text in the body, in body order. */
  texts: TextSlot[];
  /** All texts joined with "\n": what `prompt.*` conditions and detectors look at. */
  prompt: string;
  /** max_tokens / max_completion_tokens / max_output_tokens; null when absent. */
  maxTokens: number | null;
  stream: boolean;
  /** Caller-supplied metadata (string values only), from body.metadata or /v1/check's metadata. */
  metadata: Record<string, string>;
}

/**
 * Token usage; null means unknown, which is not the same as 0.
 * `promptTokens` counts every input token (cache reads and writes included) and
 * `completionTokens` every output token (reasoning included); the optional details say how many
 * of them the provider prices differently. Absent details mean "none reported".
 */
export interface Usage {
  promptTokens: number | null;
  completionTokens: number | null;
  totalTokens: number | null;
  /** Input tokens read from the provider's prompt cache (part of promptTokens). */
  cachedTokens?: number | null;
  /** Input tokens written to the provider's prompt cache (part of promptTokens). */
  cacheWriteTokens?: number | null;
  /** Output tokens spent on reasoning/thinking (part of completionTokens, priced as output). */
  reasoningTokens?: number | null;
}
