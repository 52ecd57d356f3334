import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AigovError } from '../errors.js';
import { sendError } from '../http/render-error.js';
import type { ProviderAdapter, RouteSpec } from '../providers/adapter.js';
import { getAdapter, PROVIDER_FAMILIES } from '../providers/families.js';
import { routePathOf } from '../proxy/call.js';
import type { ProviderFamily } from '../providers/types.js';
import { governedCall, type ProxyDeps } from '../proxy/pipeline.js';
import { bodyReadError } from '../http/fastify-errors.js';
import type { Services } from '../services.js';

/**
 * Provider routes at the providers' own paths, so SDKs need only a base URL change:
 * `/v1/...` goes to the family's provider chosen by model, `/<provider>/v1/...` to that provider.
 * Template routes (model or deployment in the path) register their router pattern once; the
 * adapter picks the route for each concrete path (Gemini's `{model}:action` shares one pattern).
 */
export function registerProviderRoutes(app: FastifyInstance, services: Services): void {
  const deps = proxyDeps(services);
  const seen = new Set<string>();
  // Azure's /openai/v1/... is also the prefixed route of a provider named "openai": the family
  // route wins when an Azure provider is configured, the named provider's route otherwise.
  const named = new Set<string>();
  for (const provider of services.providers.all())
    for (const spec of provider.adapter.routes)
      named.add(`${spec.method} /${provider.name}${spec.url ?? spec.path}`);
  const configured = new Set(services.providers.all().map((p) => p.family));
  for (const family of PROVIDER_FAMILIES) {
    const adapter = getAdapter(family);
    for (const spec of adapter.routes) {
      const url = spec.url ?? spec.path;
      const id = `${spec.method} ${url}`;
      if (seen.has(id)) continue; // GET /v1/models: both families; dispatched by header below
      if (named.has(id) && !configured.has(family)) continue;
      seen.add(id);
      const pick = picker(adapter, spec, null);
      app.route({
        method: spec.method,
        url,
        config: { multipart: spec.body === 'multipart' },
        errorHandler: bodyErrorHandler(deps, (request) => {
          const fam = familyFor(spec, family, request);
          return { spec: targetFor(pick(request) ?? spec, family, fam), family: fam, provider: null };
        }),
        handler: (request, reply) => {
          const fam = familyFor(spec, family, request);
          const route = pick(request);
          if (route === undefined) return notFound(reply, request, fam);
          return governedCall(deps, request, reply, targetFor(route, family, fam), fam, null);
        },
      });
    }
  }
  for (const provider of services.providers.all()) {
    const registered = new Set<string>();
    for (const spec of provider.adapter.routes) {
      const url = `/${provider.name}${spec.url ?? spec.path}`;
      if (registered.has(`${spec.method} ${url}`) || seen.has(`${spec.method} ${url}`)) continue;
      registered.add(`${spec.method} ${url}`);
      const pick = picker(provider.adapter, spec, provider.name);
      app.route({
        method: spec.method,
        url,
        config: { multipart: spec.body === 'multipart' },
        errorHandler: bodyErrorHandler(deps, (request) => ({
          spec: pick(request) ?? spec,
          family: provider.family,
          provider: provider.name,
        })),
        handler: (request, reply) => {
          const route = pick(request);
          if (route === undefined) return notFound(reply, request, provider.family);
          return governedCall(deps, request, reply, route, provider.family, provider.name);
        },
      });
    }
  }
}

/** The route for a request: the registered one, or (shared patterns) the adapter's pick by path. */
function picker(
  adapter: ProviderAdapter,
  spec: RouteSpec,
  providerName: string | null,
): (request: FastifyRequest) => RouteSpec | undefined {
  if (spec.url === undefined || !spec.url.includes('*')) return () => spec;
  return (request) => adapter.routeFor(spec.method, routePathOf(request.url, providerName));
}

function notFound(reply: FastifyReply, request: FastifyRequest, family: ProviderFamily): FastifyReply {
  const path = routePathOf(request.url, null);
  return sendError(
    reply,
    new AigovError('not_found', { message: `No route ${request.method} ${path}` }),
    family,
  );
}

function shared(spec: RouteSpec): boolean {
  return spec.method === 'GET' && spec.path === '/v1/models';
}

/** The Anthropic SDK sends anthropic-version on every call, /v1/models included. */
function familyFor(spec: RouteSpec, family: ProviderFamily, request: FastifyRequest): ProviderFamily {
  return shared(spec) && request.headers['anthropic-version'] ? 'anthropic' : family;
}

function targetFor(spec: RouteSpec, family: ProviderFamily, fam: ProviderFamily): RouteSpec {
  return fam === family ? spec : (getAdapter(fam).routeFor(spec.method, spec.path) ?? spec);
}

/**
 * A body that cannot be parsed never reaches the handler, so without this the refusal would
 * leave no audit row. It goes through the pipeline instead: authenticated first (a bad key is a
 * 401 whatever the body), then refused with the provider-shaped 4xx and recorded. Other errors
 * are rethrown to the app's error handler.
 */
function bodyErrorHandler(
  deps: ProxyDeps,
  target: (request: FastifyRequest) => { spec: RouteSpec; family: ProviderFamily; provider: string | null },
) {
  return (err: FastifyError | AigovError, request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const refusal = bodyReadError(err);
    if (!refusal || reply.sent) throw err;
    const { spec, family, provider } = target(request);
    return governedCall(deps, request, reply, spec, family, provider, refusal);
  };
}

/** The slice of the process the pipeline uses, picked once. */
function proxyDeps(services: Services): ProxyDeps {
  return {
    verifier: services.verifier,
    providers: services.providers,
    policies: services.policies,
    limiter: services.limiter,
    audit: services.audit,
    metrics: services.metrics,
    pricing: services.pricing,
    auditContent: (norm, decision) => services.auditContent(norm, decision),
    durability: services.config.audit.durability,
    uploads: { dir: services.config.server.upload_dir, maxBytes: services.config.server.upload_limit_bytes },
  };
}
