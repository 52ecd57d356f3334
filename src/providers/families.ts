/**
 * Selects the adapter implementation for a family. The contract (adapter.ts) imports no
 * implementation; this file, one level up from the implementations, is the only one that does.
 */
import type { AdapterOptions, ProviderAdapter } from './adapter.js';
import type { ProviderFamily } from './types.js';
import { createAnthropicAdapter } from './anthropic/index.js';
import { createAzureAdapter } from './azure/index.js';
import { createBedrockAdapter } from './bedrock/index.js';
import { createGeminiAdapter } from './gemini/index.js';
import { createOpenAIAdapter } from './openai/index.js';

/** Every family, in route registration order. */
export const PROVIDER_FAMILIES: readonly ProviderFamily[] = Object.freeze([
  'openai',
  'anthropic',
  'azure',
  'gemini',
  'bedrock',
]);

const FACTORIES: Record<ProviderFamily, (options: AdapterOptions) => ProviderAdapter> = {
  openai: createOpenAIAdapter,
  anthropic: createAnthropicAdapter,
  azure: createAzureAdapter,
  gemini: createGeminiAdapter,
  bedrock: createBedrockAdapter,
};

const defaults = new Map<ProviderFamily, ProviderAdapter>();

/** The adapter for a family; adapters are stateless, so instances without options are shared. */
export function getAdapter(family: ProviderFamily, options?: AdapterOptions): ProviderAdapter {
  const create = FACTORIES[family];
  if (options !== undefined && Object.keys(options).length > 0) return create(options);
  const cached = defaults.get(family);
  if (cached !== undefined) return cached;
  const adapter = create({});
  defaults.set(family, adapter);
  return adapter;
}
