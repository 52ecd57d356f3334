import type { AdapterOptions, ProviderAdapter, RouteSpec } from '../adapter.js';
import { findRoute } from '../routes.js';
import { forwardHeaders, joinUrl } from '../upstream.js';
import { anthropicErrorResponse, anthropicStreamErrorEvent } from './errors.js';
import { inferAnthropicRoute, normalizeAnthropic } from './normalize.js';
import { anthropicResponseTexts } from './response-texts.js';
import { createAnthropicStreamTracker } from './stream.js';
import { usageFromAnthropicBody } from './usage.js';

export const ANTHROPIC_ROUTES: readonly RouteSpec[] = Object.freeze([
  { method: 'POST', path: '/v1/messages', kind: 'messages', governed: true },
  { method: 'POST', path: '/v1/messages/count_tokens', kind: 'count_tokens', governed: true },
  { method: 'GET', path: '/v1/models', kind: 'models', governed: false },
]);

/** The API version the Anthropic API requires when the caller sends none. */
export const DEFAULT_ANTHROPIC_VERSION = '2023-06-01';

export function createAnthropicAdapter(_options: AdapterOptions = {}): ProviderAdapter {
  return {
    family: 'anthropic',
    routes: ANTHROPIC_ROUTES,
    routeFor: (method, path) => findRoute(ANTHROPIC_ROUTES, method, path),
    inferRoute: inferAnthropicRoute,
    normalize: normalizeAnthropic,
    buildUpstream(input) {
      const headers = forwardHeaders(input);
      headers['anthropic-version'] ??= DEFAULT_ANTHROPIC_VERSION;
      if (input.credential !== null) headers['x-api-key'] = input.credential;
      return { url: joinUrl(input.baseUrl, input.path ?? input.route, input.search), headers };
    },
    // Anthropic streams always report usage; nothing to ask for.
    prepareBody: (_req, body) => ({ body, changed: false, clientWantsUsage: true }),
    usageFromBody: usageFromAnthropicBody,
    createStreamTracker: createAnthropicStreamTracker,
    responseTexts: anthropicResponseTexts,
    errorBody: anthropicErrorResponse,
    streamErrorEvent: anthropicStreamErrorEvent,
  };
}
