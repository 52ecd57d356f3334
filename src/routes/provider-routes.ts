import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AigovError } from '../errors.js';
import { type RouteSpec } from '../providers/adapter.js';
import { getAdapter } from '../providers/families.js';
import type { ProviderFamily } from '../providers/types.js';
import { governedCall, type ProxyDeps } from '../proxy/pipeline.js';
import { bodyReadError } from '../http/fastify-errors.js';
import type { Services } from '../services.js';

const FAMILIES: readonly ProviderFamily[] = ['openai', 'anthropic'];

/**
 * Provider routes at the providers' own paths, so SDKs need only a base URL change:
 * `/v1/...` goes to the family's provider chosen by model, `/<provider>/v1/...` to that provider.
 */
export function registerProviderRoutes(app: FastifyInstance, services: Services): void {
  const deps = proxyDeps(services);
  const seen = new Set<string>();
  for (const family of FAMILIES) {
    for (const spec of getAdapter(family).routes) {
      const id = `${spec.method} ${spec.path}`;
      if (seen.has(id)) continue; // GET /v1/models: both families; dispatched by header below
      seen.add(id);
      app.route({
        method: spec.method,
        url: spec.path,
        config: { multipart: spec.body === 'multipart' },
        errorHandler: bodyErrorHandler(deps, (request) => {
          const fam = familyFor(spec, family, request);
          return { spec: targetFor(spec, family, fam), family: fam, provider: null };
        }),
        handler: (request, reply) => {
          const fam = familyFor(spec, family, request);
          return governedCall(deps, request, reply, targetFor(spec, family, fam), fam, null);
        },
      });
    }
  }
  for (const provider of services.providers.all()) {
    for (const spec of provider.adapter.routes) {
      app.route({
        method: spec.method,
        url: `/${provider.name}${spec.path}`,
        config: { multipart: spec.body === 'multipart' },
        errorHandler: bodyErrorHandler(deps, () => ({
          spec,
          family: provider.family,
          provider: provider.name,
        })),
        handler: (request, reply) => governedCall(deps, request, reply, spec, provider.family, provider.name),
      });
    }
  }
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
