/**
 * Target resolution: which configured provider and which route a body is for, and its
 * provider-neutral form. Framework-free: callers pass what they know (the URL's family and
 * provider prefix, or /v1/check's envelope) and get a target or a catalogue error.
 */
import { AigovError } from '../errors.js';
import { getAdapter } from '../providers/families.js';
import type { ProviderRuntime } from '../providers/registry.js';
import type { NormalizedRequest, ProviderFamily } from '../providers/types.js';

/** What the core needs of the provider registry (ProviderRegistry implements it). */
export interface ProviderLookup {
  get(name: string): ProviderRuntime | undefined;
  resolve(family: ProviderFamily, model: string | null): ProviderRuntime | undefined;
  forCheck(name: string | undefined, model: string | null): ProviderRuntime | undefined;
}

export interface Target {
  provider: ProviderRuntime;
  /** The provider route without any /<provider> prefix, e.g. "/v1/chat/completions". */
  route: string;
  /** The concrete request path when the route is a template with the model in it. */
  path?: string;
}

/** The body's top-level `model`, when it is a string. */
export function modelOf(body: unknown): string | null {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return null;
  const m = (body as Record<string, unknown>).model;
  return typeof m === 'string' ? m : null;
}

/**
 * A proxied call: the route comes from the URL; the provider is the URL's `/<provider>` prefix,
 * else the route family's provider whose model globs match the body's model, else the default.
 */
export function resolveForProxy(
  lookup: ProviderLookup,
  family: ProviderFamily,
  providerName: string | null,
  body: unknown,
  /** The concrete request path: families with the model in the path (gemini, bedrock) name it there. */
  path?: string,
): ProviderRuntime {
  const fromPath = path === undefined ? null : (getAdapter(family).modelFromPath?.(path) ?? null);
  const provider = providerName
    ? lookup.get(providerName)
    : lookup.resolve(family, fromPath ?? modelOf(body));
  if (!provider)
    throw new AigovError('provider_not_configured', { message: `No ${family} provider is configured` });
  return provider;
}

/**
 * A decision without a URL (/v1/check, the admin dry run): the named provider, or the one whose
 * model globs match, or the default; the named route, or the one the adapter infers from the body.
 */
export function resolveForCheck(
  lookup: ProviderLookup,
  providerName: string | undefined,
  route: string | undefined,
  body: Record<string, unknown>,
): Target {
  const provider = lookup.forCheck(providerName, modelOf(body));
  if (!provider)
    throw new AigovError('invalid_request', { message: `Unknown provider "${providerName ?? ''}"` });
  const resolved = route ?? provider.adapter.inferRoute(body);
  if (!provider.adapter.routeFor('POST', resolved))
    throw new AigovError('invalid_request', {
      message: `Provider ${provider.name} has no route ${resolved}`,
    });
  return { provider, route: resolved };
}

/** The provider-neutral request policies, limits and audit see; malformed bodies throw invalid_request. */
export function normalizeFor(
  target: Target,
  body: unknown,
  metadata?: Record<string, string>,
): NormalizedRequest {
  return target.provider.adapter.normalize({
    route: target.route,
    provider: target.provider.name,
    body,
    ...(metadata !== undefined ? { metadata } : {}),
    ...(target.path !== undefined ? { path: target.path } : {}),
  });
}
