import picomatch from 'picomatch';
import type { Usage } from './types.js';

/** USD per 1M tokens. */
export interface Price {
  input: number;
  output: number;
}

export interface PriceEntry extends Price {
  /** Model name or glob ("gpt-4o*", "claude-sonnet-4*"); matched case-insensitively. */
  model: string;
}

export type PricingTable = readonly PriceEntry[];

/**
 * List prices (USD per 1M tokens, uncached input / output) as known when this was written
 * (2025). Providers change them and negotiated rates differ: deployments override this table
 * in config. Cached-input discounts are not modelled, so costs err on the high side, which is
 * the safe direction for budgets.
 */
export const DEFAULT_PRICING: PricingTable = Object.freeze([
  // OpenAI
  { model: 'gpt-4o*', input: 2.5, output: 10 },
  { model: 'gpt-4o-mini*', input: 0.15, output: 0.6 },
  { model: 'gpt-4.1*', input: 2, output: 8 },
  { model: 'gpt-4.1-mini*', input: 0.4, output: 1.6 },
  { model: 'gpt-4.1-nano*', input: 0.1, output: 0.4 },
  { model: 'o3*', input: 2, output: 8 },
  { model: 'o3-mini*', input: 1.1, output: 4.4 },
  { model: 'o3-pro*', input: 20, output: 80 },
  { model: 'o4-mini*', input: 1.1, output: 4.4 },
  { model: 'gpt-5*', input: 1.25, output: 10 },
  { model: 'gpt-5-mini*', input: 0.25, output: 2 },
  { model: 'gpt-5-nano*', input: 0.05, output: 0.4 },
  { model: 'text-embedding-3-small', input: 0.02, output: 0 },
  { model: 'text-embedding-3-large', input: 0.13, output: 0 },
  { model: 'text-embedding-ada-002', input: 0.1, output: 0 },
  // Anthropic
  { model: 'claude-opus-4*', input: 15, output: 75 },
  { model: 'claude-opus-4-5*', input: 5, output: 25 },
  { model: 'claude-sonnet-4*', input: 3, output: 15 },
  { model: 'claude-3-7-sonnet*', input: 3, output: 15 },
  { model: 'claude-3-5-sonnet*', input: 3, output: 15 },
  { model: 'claude-haiku-4*', input: 1, output: 5 },
  { model: 'claude-3-5-haiku*', input: 0.8, output: 4 },
  { model: 'claude-3-haiku*', input: 0.25, output: 1.25 },
  { model: 'claude-3-opus*', input: 15, output: 75 },
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
  const price = best === null ? null : Object.freeze({ input: best.entry.input, output: best.entry.output });
  if (c.cache.size >= MAX_CACHED_MODELS) c.cache.clear();
  c.cache.set(model, price);
  return price;
}

/** Cost in USD; null when the price or either token count is unknown (unknown is not free). */
export function costUsd(usage: Usage, price: Price | null): number | null {
  if (price === null || usage.promptTokens === null || usage.completionTokens === null) return null;
  const cost = (usage.promptTokens * price.input + usage.completionTokens * price.output) / 1_000_000;
  // Round away float noise (0.30000000000000004) at a precision far below a cent.
  return Math.round(cost * 1e12) / 1e12;
}
