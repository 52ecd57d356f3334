import type { AdapterOptions, PreparedBody, ProviderAdapter, RouteSpec } from '../adapter.js';
import { findRoute } from '../routes.js';
import { forwardHeaders, joinUrl } from '../upstream.js';
import { isPlainObject } from '../text-walk.js';
import { openAIErrorResponse, openAIStreamErrorEvent } from './errors.js';
import { inferOpenAIRoute, normalizeOpenAI } from './normalize.js';
import { openAIResponseTexts } from './response-texts.js';
import { createOpenAIStreamTracker } from './stream.js';
import { SURFACE_ROUTES, surfaceResponseTexts } from './surface.js';
import { usageFromOpenAIBody } from './usage.js';

export const OPENAI_ROUTES: readonly RouteSpec[] = Object.freeze([
  { method: 'POST', path: '/v1/chat/completions', kind: 'chat', governed: true },
  { method: 'POST', path: '/v1/completions', kind: 'completions', governed: true },
  { method: 'POST', path: '/v1/embeddings', kind: 'embeddings', governed: true },
  { method: 'POST', path: '/v1/responses', kind: 'responses', governed: true },
  { method: 'GET', path: '/v1/models', kind: 'models', governed: false },
  ...SURFACE_ROUTES,
]);

/** Routes whose streams report usage only when asked (stream_options.include_usage). */
const USAGE_ON_REQUEST = new Set(['/v1/chat/completions', '/v1/completions']);

export function createOpenAIAdapter(options: AdapterOptions = {}): ProviderAdapter {
  const authHeader = options.authHeader ?? 'authorization';
  const injectUsage = options.injectStreamUsage ?? true;
  return {
    family: 'openai',
    routes: OPENAI_ROUTES,
    routeFor: (method, path) => findRoute(OPENAI_ROUTES, method, path),
    inferRoute: inferOpenAIRoute,
    normalize: normalizeOpenAI,
    buildUpstream(input) {
      const headers = forwardHeaders(input);
      if (input.credential !== null) {
        if (authHeader === 'api-key') headers['api-key'] = input.credential;
        else headers['authorization'] = `Bearer ${input.credential}`;
      }
      return { url: joinUrl(input.baseUrl, input.path ?? input.route, input.search), headers };
    },
    prepareBody(req, body): PreparedBody {
      if (!req.stream || !USAGE_ON_REQUEST.has(req.route)) {
        return { body, changed: false, clientWantsUsage: true };
      }
      const so = body['stream_options'];
      if (isPlainObject(so) && so['include_usage'] === true)
        return { body, changed: false, clientWantsUsage: true };
      if (!injectUsage) return { body, changed: false, clientWantsUsage: true };
      const streamOptions = { ...(isPlainObject(so) ? so : {}), include_usage: true };
      return { body: { ...body, stream_options: streamOptions }, changed: true, clientWantsUsage: false };
    },
    usageFromBody: usageFromOpenAIBody,
    createStreamTracker: createOpenAIStreamTracker,
    responseTexts: (route, body) => surfaceResponseTexts(route, body) ?? openAIResponseTexts(route, body),
    errorBody: openAIErrorResponse,
    streamErrorEvent: openAIStreamErrorEvent,
  };
}
