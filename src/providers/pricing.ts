import picomatch from 'picomatch';
import type { Usage } from './types.js';

/** USD per 1M tokens. */
export interface Price {
  /** Uncached input. */
  input: number;
  /** Output, reasoning/thinking tokens included (every provider bills them as output). */
  output: number;
  /** Input read from the prompt cache; absent: billed as `input`. */
  cacheRead?: number;
  /** Input written to the prompt cache; absent: billed as `input`. */
  cacheWrite?: number;
}

export interface PriceEntry extends Price {
  /** Model name or glob ("gpt-4o*", "claude-sonnet-4*"); matched case-insensitively. */
  model: string;
}

export type PricingTable = readonly PriceEntry[];

/** Anthropic's multipliers: a 5-minute cache write costs 1.25x input, a cache read 0.1x. */
function claude(model: string, input: number, output: number): PriceEntry {
  return { model, input, output, cacheRead: input / 10, cacheWrite: input * 1.25 };
}

/**
 * List prices (USD per 1M tokens) as known when this was written (2025). Providers change them
 * and negotiated rates differ: deployments override this table in config. Cache prices are the
 * providers' own: OpenAI and Gemini discount cache reads and charge nothing extra for writes
 * (implicit caching); Anthropic (direct and on Bedrock) charges writes at 1.25x and reads at
 * 0.1x input; Amazon Nova reads at a quarter of input. Gemini prices are the <=200k-token tier.
 */
export const DEFAULT_PRICING: PricingTable = Object.freeze([
  // OpenAI (Azure OpenAI global deployments bill the same list prices)
  { model: 'gpt-4o*', input: 2.5, output: 10, cacheRead: 1.25 },
  { model: 'gpt-4o-mini*', input: 0.15, output: 0.6, cacheRead: 0.075 },
  { model: 'gpt-4.1*', input: 2, output: 8, cacheRead: 0.5 },
  { model: 'gpt-4.1-mini*', input: 0.4, output: 1.6, cacheRead: 0.1 },
  { model: 'gpt-4.1-nano*', input: 0.1, output: 0.4, cacheRead: 0.025 },
  { model: 'o3*', input: 2, output: 8, cacheRead: 0.5 },
  { model: 'o3-mini*', input: 1.1, output: 4.4, cacheRead: 0.55 },
  { model: 'o3-pro*', input: 20, output: 80 },
  { model: 'o4-mini*', input: 1.1, output: 4.4, cacheRead: 0.275 },
  { model: 'gpt-5*', input: 1.25, output: 10, cacheRead: 0.125 },
  { model: 'gpt-5-mini*', input: 0.25, output: 2, cacheRead: 0.025 },
  { model: 'gpt-5-nano*', input: 0.05, output: 0.4, cacheRead: 0.005 },
  { model: 'text-embedding-3-small', input: 0.02, output: 0 },
  { model: 'text-embedding-3-large', input: 0.13, output: 0 },
  { model: 'text-embedding-ada-002', input: 0.1, output: 0 },
  // Anthropic
  claude('claude-opus-4*', 15, 75),
  claude('claude-opus-4-5*', 5, 25),
  claude('claude-sonnet-4*', 3, 15),
  claude('claude-3-7-sonnet*', 3, 15),
  claude('claude-3-5-sonnet*', 3, 15),
  claude('claude-haiku-4*', 1, 5),
  claude('claude-3-5-haiku*', 0.8, 4),
  claude('claude-3-haiku*', 0.25, 1.25),
  claude('claude-3-opus*', 15, 75),
  // Google Gemini API
  { model: 'gemini-2.5-pro*', input: 1.25, output: 10, cacheRead: 0.125 },
  { model: 'gemini-2.5-flash*', input: 0.3, output: 2.5, cacheRead: 0.03 },
  { model: 'gemini-2.5-flash-lite*', input: 0.1, output: 0.4, cacheRead: 0.01 },
  { model: 'gemini-2.0-flash*', input: 0.1, output: 0.4, cacheRead: 0.025 },
  { model: 'gemini-2.0-flash-lite*', input: 0.075, output: 0.3 },
  { model: 'gemini-embedding-001', input: 0.15, output: 0 },
  { model: 'text-embedding-004', input: 0, output: 0 },
  // Amazon Bedrock (model ids, with or without a cross-region prefix such as "us.")
  claude('*anthropic.claude-opus-4*', 15, 75),
  claude('*anthropic.claude-sonnet-4*', 3, 15),
  claude('*anthropic.claude-3-7-sonnet*', 3, 15),
  claude('*anthropic.claude-3-5-sonnet*', 3, 15),
  claude('*anthropic.claude-haiku-4*', 1, 5),
  claude('*anthropic.claude-3-5-haiku*', 0.8, 4),
  claude('*anthropic.claude-3-haiku*', 0.25, 1.25),
  { model: '*amazon.nova-premier*', input: 2.5, output: 12.5, cacheRead: 0.625 },
  { model: '*amazon.nova-pro*', input: 0.8, output: 3.2, cacheRead: 0.2 },
  { model: '*amazon.nova-lite*', input: 0.06, output: 0.24, cacheRead: 0.015 },
  { model: '*amazon.nova-micro*', input: 0.035, output: 0.14, cacheRead: 0.00875 },
  { model: '*meta.llama3-1-8b*', input: 0.22, output: 0.22 },
  { model: '*meta.llama3-1-70b*', input: 0.72, output: 0.72 },
  { model: '*meta.llama3-3-70b*', input: 0.72, output: 0.72 },
  { model: '*meta.llama4-maverick*', input: 0.24, output: 0.97 },
  { model: '*meta.llama4-scout*', input: 0.17, output: 0.66 },
]);

const GLOB_CHARS = /[*?[\]{}!()]/g;
const HAS_GLOB = /[*?[\]{}!()]/;

/** More literal characters = more specific; an exact name beats any glob. */
function specificity(pattern: string): number {
  return HAS_GLOB.test(pattern) ? pattern.replace(GLOB_CHARS, '').length : Number.MAX_SAFE_INTEGER;
}

interface Compiled {
  entries: { entry: PriceEntry; test: (s: string) => boolean; specificity: number }[];
  cache: Map<string, Price | null>;
}

const compiled = new WeakMap<PricingTable, Compiled>();
/** Model names come from callers; bound the memo so random names cannot grow it forever. */
const MAX_CACHED_MODELS = 1000;

function compile(table: PricingTable): Compiled {
  let c = compiled.get(table);
  if (c === undefined) {
    c = {
      entries: table.map((entry) => ({
        entry,
        test: picomatch(entry.model, { nocase: true, dot: true }),
        specificity: specificity(entry.model),
      })),
      cache: new Map(),
    };
    compiled.set(table, c);
  }
  return c;
}

function priceOf(e: PriceEntry): Price {
  const p: Price = { input: e.input, output: e.output };
  if (e.cacheRead !== undefined) p.cacheRead = e.cacheRead;
  if (e.cacheWrite !== undefined) p.cacheWrite = e.cacheWrite;
  return p;
}

/** The price of a model: the most specific matching entry; among equals, the first. */
export function priceFor(model: string | null, table: PricingTable = DEFAULT_PRICING): Price | null {
  if (model === null || model === '') return null;
  const c = compile(table);
  const hit = c.cache.get(model);
  if (hit !== undefined) return hit;
  let best: { entry: PriceEntry; specificity: number } | null = null;
  for (const e of c.entries) {
    if (e.specificity > (best?.specificity ?? -1) && e.test(model)) best = e;
  }
  const price = best === null ? null : Object.freeze(priceOf(best.entry));
  if (c.cache.size >= MAX_CACHED_MODELS) c.cache.clear();
  c.cache.set(model, price);
  return price;
}

/**
 * Cost in USD; null when the price or either token count is unknown (unknown is not free).
 * Cache reads and writes (parts of promptTokens) are billed at their own prices; reasoning tokens
 * are part of completionTokens and billed as output, as every provider does.
 */
export function costUsd(usage: Usage, price: Price | null): number | null {
  if (price === null || usage.promptTokens === null || usage.completionTokens === null) return null;
  const cached = Math.min(usage.cachedTokens ?? 0, usage.promptTokens);
  const written = Math.min(usage.cacheWriteTokens ?? 0, usage.promptTokens - cached);
  const uncached = usage.promptTokens - cached - written;
  const cost =
    (uncached * price.input +
      cached * (price.cacheRead ?? price.input) +
      written * (price.cacheWrite ?? price.input) +
      usage.completionTokens * price.output) /
    1_000_000;
  // Round away float noise (0.30000000000000004) at a precision far below a cent.
  return Math.round(cost * 1e12) / 1e12;
}
