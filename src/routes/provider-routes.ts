import type { FastifyInstance } from 'fastify';
import { getAdapter, type RouteSpec } from '../providers/adapter.js';
import type { ProviderFamily } from '../providers/types.js';
import { governedCall } from '../proxy/pipeline.js';
import type { Services } from '../services.js';

const FAMILIES: readonly ProviderFamily[] = ['openai', 'anthropic'];

/**
 * Provider routes at the providers' own paths, so SDKs need only a base URL change:
 * `/v1/...` goes to the family's provider chosen by model, `/<provider>/v1/...` to that provider.
 */
export function registerProviderRoutes(app: FastifyInstance, services: Services): void {
  const seen = new Set<string>();
  for (const family of FAMILIES) {
    for (const spec of getAdapter(family).routes) {
      const id = `${spec.method} ${spec.path}`;
      if (seen.has(id)) continue; // GET /v1/models: both families; dispatched by header below
      seen.add(id);
      app.route({
        method: spec.method,
        url: spec.path,
        handler: (request, reply) => {
          // The Anthropic SDK sends anthropic-version on every call, /v1/models included.
          const fam: ProviderFamily =
            shared(spec) && request.headers['anthropic-version'] ? 'anthropic' : family;
          const target = fam === family ? spec : (getAdapter(fam).routeFor(spec.method, spec.path) ?? spec);
          return governedCall(services, request, reply, target, fam, null);
        },
      });
    }
  }
  for (const provider of services.providers.all()) {
    for (const spec of provider.adapter.routes) {
      app.route({
        method: spec.method,
        url: `/${provider.name}${spec.path}`,
        handler: (request, reply) =>
          governedCall(services, request, reply, spec, provider.family, provider.name),
      });
    }
  }
}

function shared(spec: RouteSpec): boolean {
  return spec.method === 'GET' && spec.path === '/v1/models';
}
