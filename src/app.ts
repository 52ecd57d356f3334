import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyRequest,
} from 'fastify';
import { AigovError, isAigovError } from './errors.js';
import type { Services } from './services.js';
import { requestIdFor } from './routes/request-id.js';
import { sendError } from './routes/render-error.js';
import { registerHealthRoutes, type ReadinessCheck } from './routes/health.js';
import { registerEvaluateRoute } from './routes/evaluate.js';
import { registerCheckRoute } from './routes/check.js';
import { registerProviderRoutes } from './routes/provider-routes.js';
import { registerJsonBody } from './routes/json-body.js';
import type { ProviderFamily } from './providers/types.js';

export interface BuildAppOptions {
  readinessChecks?: ReadinessCheck[];
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

/** Which SDK's error shape a path speaks; Anthropic's own routes get Anthropic errors. */
export function familyForPath(url: string): ProviderFamily {
  const path = url.split('?', 1)[0] ?? '';
  return /(^|\/)v1\/messages(\/|$)/.test(path) || path.startsWith('/anthropic/') ? 'anthropic' : 'openai';
}

/** Maps Fastify's own errors (parser, limits) onto the catalogue, so every 4xx has one shape. */
function toAigovError(err: FastifyError): AigovError {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AigovError('body_too_large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AigovError('unsupported_media_type');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new AigovError('invalid_json');
    default:
      if (err.statusCode === 400 || err instanceof SyntaxError)
        return new AigovError('invalid_json', { message: `Invalid request body: ${err.message}` });
      if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500)
        return new AigovError('invalid_request', { message: err.message });
      return new AigovError('internal_error', { cause: err });
  }
}

export async function buildApp(services: Services, options: BuildAppOptions = {}): Promise<FastifyInstance> {
  const { config } = services;
  const app = Fastify({
    loggerInstance: services.logger as FastifyBaseLogger,
    // Per-request lines would duplicate the audit log and cost throughput; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: requestIdFor,
    requestIdHeader: false,
    bodyLimit: config.server.body_limit_bytes,
    trustProxy: config.server.trust_proxy,
    requestTimeout: config.server.request_timeout,
    keepAliveTimeout: config.server.keep_alive_timeout,
    connectionTimeout: 0,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: false, caseSensitive: true, maxParamLength: 200 },
  });

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  app.setErrorHandler((err: FastifyError | AigovError, request: FastifyRequest, reply) => {
    const aigovErr = isAigovError(err) ? err : toAigovError(err);
    if (aigovErr.status >= 500) request.log.error({ err, requestId: request.id }, 'request failed');
    return sendError(reply, aigovErr, familyForPath(request.url));
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?', 1)[0] ?? '';
    const otherMethod = METHODS.some((m) => m !== request.method && app.hasRoute({ url: path, method: m }));
    const err = otherMethod
      ? new AigovError('method_not_allowed', { message: `Method ${request.method} not allowed on ${path}` })
      : new AigovError('not_found', { message: `No route ${request.method} ${path}` });
    return sendError(reply, err, familyForPath(path));
  });

  registerJsonBody(app);
  registerHealthRoutes(app, services, options.readinessChecks ?? []);
  registerEvaluateRoute(app, services);
  registerCheckRoute(app, services);
  registerProviderRoutes(app, services);
  return app;
}
