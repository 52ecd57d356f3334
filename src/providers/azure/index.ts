/**
 * Azure OpenAI: the OpenAI wire format at Azure's paths. Deployment routes
 * (/openai/deployments/{deployment}/...?api-version=) name the deployment in the path; the v1 API
 * (/openai/v1/...) names it in the body's `model`. Either way the model policies, limits and prices
 * see is the deployment's model from config (`deployments`), else the deployment name itself.
 * Bodies, usage, streams and errors are OpenAI's, so this adapter maps its routes onto the
 * OpenAI adapter's and reuses it.
 */
import type { AigovError } from '../../errors.js';
import type { AdapterOptions, PreparedBody, ProviderAdapter, RouteSpec } from '../adapter.js';
import { createOpenAIAdapter } from '../openai/index.js';
import { findRoute, routeParams } from '../routes.js';
import type { NormalizedRequest, ProviderFamily } from '../types.js';
import { cleanSearch, forwardHeaders, joinUrl } from '../upstream.js';

const DEPLOYMENT_PREFIX = '/openai/deployments/{deployment}';

export const AZURE_ROUTES: readonly RouteSpec[] = Object.freeze([
  ...(['chat/completions', 'completions', 'embeddings'] as const).map((tail): RouteSpec => ({
    method: 'POST',
    path: `${DEPLOYMENT_PREFIX}/${tail}`,
    url: `/openai/deployments/:deployment/${tail}`,
    kind: tail === 'chat/completions' ? 'chat' : tail,
    governed: true,
  })),
  { method: 'POST', path: '/openai/v1/chat/completions', kind: 'chat', governed: true },
  { method: 'POST', path: '/openai/v1/completions', kind: 'completions', governed: true },
  { method: 'POST', path: '/openai/v1/embeddings', kind: 'embeddings', governed: true },
  { method: 'POST', path: '/openai/v1/responses', kind: 'responses', governed: true },
  { method: 'GET', path: '/openai/v1/models', kind: 'models', governed: false },
]);

/** OpenAI routes an Azure resource serves with the same body under /openai/v1 (fallbacks). */
const V1_ROUTES = new Set(['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/responses']);

/** The OpenAI route with the same body: /openai/deployments/{d}/x and /openai/v1/x are /v1/x. */
export function openAIRouteOf(route: string): string {
  if (route.startsWith(`${DEPLOYMENT_PREFIX}/`)) return `/v1${route.slice(DEPLOYMENT_PREFIX.length)}`;
  if (route.startsWith('/openai/v1/')) return route.slice('/openai'.length);
  return route;
}

export function createAzureAdapter(options: AdapterOptions = {}): ProviderAdapter {
  const openai = createOpenAIAdapter({ ...options, authHeader: 'api-key' });
  const deployments = options.deployments ?? {};
  const modelOf = (deployment: string): string =>
    Object.hasOwn(deployments, deployment) ? deployments[deployment]! : deployment;
  const deploymentIn = (path: string): string | null => {
    const spec = findRoute(AZURE_ROUTES, 'POST', path);
    if (spec === undefined || !spec.path.startsWith(DEPLOYMENT_PREFIX)) return null;
    const params = routeParams(spec, path);
    return params?.[0] === undefined ? null : safeDecode(params[0]);
  };
  return {
    family: 'azure',
    routes: AZURE_ROUTES,
    routeFor: (method, path) => findRoute(AZURE_ROUTES, method, path),
    inferRoute(body) {
      return `${DEPLOYMENT_PREFIX}${openai.inferRoute(body).slice('/v1'.length)}`;
    },
    normalize(input): NormalizedRequest {
      const norm = openai.normalize({ ...input, route: openAIRouteOf(input.route) });
      const deployment = input.path === undefined ? null : deploymentIn(input.path);
      const named = deployment ?? norm.model;
      return { ...norm, family: 'azure', route: input.route, model: named === null ? null : modelOf(named) };
    },
    modelFromPath(path) {
      const deployment = deploymentIn(path);
      return deployment === null ? null : modelOf(deployment);
    },
    buildUpstream(input) {
      const headers = forwardHeaders(input);
      if (input.credential !== null) headers['api-key'] = input.credential;
      return {
        url: joinUrl(input.baseUrl, input.path ?? input.route, cleanSearch(input.search)),
        headers,
      };
    },
    prepareBody(req, body): PreparedBody {
      return openai.prepareBody({ ...req, route: openAIRouteOf(req.route) }, body);
    },
    usageFromBody: (route, body) => openai.usageFromBody(openAIRouteOf(route), body),
    createStreamTracker: (opts = {}) =>
      openai.createStreamTracker({
        ...opts,
        ...(opts.route !== undefined ? { route: openAIRouteOf(opts.route) } : {}),
      }),
    responseTexts: (route, body) => openai.responseTexts(openAIRouteOf(route), body),
    errorBody: (err: AigovError) => openai.errorBody(err),
    streamErrorEvent: (err: AigovError) => openai.streamErrorEvent(err),
    fallbackRoute(family: ProviderFamily, route: string) {
      return family === 'openai' && V1_ROUTES.has(route) ? `/openai${route}` : undefined;
    },
  };
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
