import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyRequest,
} from 'fastify';
import { readFile } from 'node:fs/promises';
import cors from '@fastify/cors';
import underPressure from '@fastify/under-pressure';
import { AigovError, isAigovError } from './errors.js';
import type { Config } from './config/schema.js';
import type { Services } from './services.js';
import { LoopLag } from './http/loop-lag.js';
import { createDualProtocolServer } from './http/h2c.js';
import { requestIdFor } from './http/request-id.js';
import { sendError } from './http/render-error.js';
import { toAigovError } from './http/fastify-errors.js';
import { registerHealthRoutes, type ReadinessCheck } from './routes/health.js';
import { registerEvaluateRoute } from './routes/evaluate.js';
import { registerCheckRoute } from './routes/check.js';
import { registerProviderRoutes } from './routes/provider-routes.js';
import { registerJsonBody } from './http/json-body.js';
import { registerMultipartBody } from './http/multipart.js';
import { registerPassthrough } from './passthrough/index.js';
import { registerRealtime } from './realtime/index.js';
import { registerOpenApi } from './http/openapi.js';
import { registerMetricsRoute } from './routes/metrics.js';
import type { ProviderFamily } from './providers/types.js';
import { registerAdminRoutes, adminSchemas } from './admin/index.js';
import { registerUiRoutes } from './routes/ui.js';
import { registerMcpRoutes } from './routes/mcp.js';

export interface BuildAppOptions {
  readinessChecks?: ReadinessCheck[];
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

/** Which SDK's error shape a path speaks; Anthropic's own routes get Anthropic errors. */
export function familyForPath(url: string): ProviderFamily {
  const path = url.split('?', 1)[0] ?? '';
  return /(^|\/)v1\/messages(\/|$)/.test(path) || path.startsWith('/anthropic/') ? 'anthropic' : 'openai';
}

/** PEM text inline, or a file path (a mounted Kubernetes secret). Both or neither must be set. */
async function tlsOptions(
  server: Config['server'],
): Promise<{ cert: string | Buffer; key: string | Buffer } | null> {
  const { tls_cert: cert, tls_key: key } = server;
  if (!cert && !key) return null;
  if (!cert || !key)
    throw new Error(
      cert
        ? 'server.tls_key (TLS_KEY) is required when server.tls_cert is set'
        : 'server.tls_cert (TLS_CERT) is required when server.tls_key is set',
    );
  const pem = (v: string): Promise<string | Buffer> =>
    v.includes('-----BEGIN ') ? Promise.resolve(v) : readFile(v);
  return { cert: await pem(cert), key: await pem(key) };
}

/** Exact origins, `*` for any, or one-label wildcards such as `https://*.example.com`. */
export function corsOrigin(origins: readonly string[]): '*' | (string | RegExp)[] {
  if (origins.includes('*')) return '*';
  return origins.map((o) =>
    o.includes('*')
      ? new RegExp(`^${o.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^./:]+')}$`)
      : o,
  );
}

const EXPOSED_HEADERS = [
  'x-request-id',
  'x-aigov-decision',
  'x-aigov-policies',
  'x-aigov-overhead-ms',
  'retry-after',
  ...['requests', 'tokens', 'cost_usd'].flatMap((m) => [
    `x-ratelimit-limit-${m}`,
    `x-ratelimit-remaining-${m}`,
    `x-ratelimit-reset-${m}`,
  ]),
];

export async function buildApp(services: Services, options: BuildAppOptions = {}): Promise<FastifyInstance> {
  const { config } = services;
  const https = await tlsOptions(config.server);
  // With `https` Fastify's instance is typed for https.Server; the app uses nothing server-specific.
  // Node's own HTTP parser enforces these before any handler runs: oversized or too many headers
  // (431), slowloris (headers must arrive within headers_timeout; checked every second), and
  // smuggling shapes (CL+TE, duplicate Content-Length, obs-fold, CR/LF in values: 400).
  const serverOptions = {
    maxHeaderSize: config.server.max_header_bytes,
    headersTimeout: config.server.headers_timeout,
    requestTimeout: config.server.request_timeout,
    connectionsCheckingInterval: 1_000,
    requireHostHeader: true,
    joinDuplicateHeaders: false,
  };
  // One port speaks HTTP/1.1 and HTTP/2 (http/h2c.ts): h2c with prior knowledge on plain HTTP (what
  // the AWS SDK sends to an http:// endpoint; each connection's preface is sniffed), ALPN h2 with
  // TLS. HTTP/2 gets its own bounds: header list size and count (stream reset), idle-session
  // GOAWAY, a per-stream request timeout.
  const serverFactory = (handler: Parameters<typeof createDualProtocolServer>[0]) =>
    createDualProtocolServer(handler, {
      http: serverOptions,
      tls: https,
      h2c: config.server.h2c,
      headersTimeout: config.server.headers_timeout,
      requestTimeout: config.server.request_timeout,
      keepAliveTimeout: config.server.keep_alive_timeout,
      maxHeaderBytes: config.server.max_header_bytes,
      maxHeaders: config.server.max_headers,
    });
  const app = Fastify({
    serverFactory,
    // With a serverFactory, `https` only makes Fastify report https:// addresses.
    ...(https ? { https } : {}),
    loggerInstance: services.logger as FastifyBaseLogger,
    // Per-request lines would duplicate the audit log and cost throughput; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    // A child logger per request costs an allocation and a redaction setup on the hot path; at
    // info level nothing logs per request, and error lines carry requestId explicitly.
    childLoggerFactory: (logger, bindings, opts) =>
      logger.level === 'debug' || logger.level === 'trace' ? logger.child(bindings, opts) : logger,
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
  }) as unknown as FastifyInstance;

  app.server.maxConnections = config.server.max_connections;
  app.server.maxHeadersCount = config.server.max_headers;
  app.server.headersTimeout = config.server.headers_timeout;

  // Callback hooks, not async ones: an async hook costs a promise and a microtask on every request.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    // Headers pass through the logger's redaction (credential headers, detected secrets).
    if (request.log.level === 'trace')
      request.log.trace({ method: request.method, url: request.url, headers: request.headers }, 'request');
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    if (request.log.level === 'debug' || request.log.level === 'trace')
      request.log.debug(
        { method: request.method, url: request.url, statusCode: reply.statusCode, ms: reply.elapsedTime },
        'request completed',
      );
    done();
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
      : new AigovError('not_found', {
          message:
            `No route ${request.method} ${path}: aigov serves the provider routes it governs; ` +
            'others are forwarded only when listed in the passthrough setting',
        });
    return sendError(reply, err, familyForPath(path));
  });

  registerPassthrough(app, services);
  registerRealtime(app, services);
  registerJsonBody(app);
  registerMultipartBody(app);
  if (config.server.cors_origins.length > 0)
    await app.register(cors, {
      origin: corsOrigin(config.server.cors_origins),
      methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
      exposedHeaders: EXPOSED_HEADERS,
      maxAge: 600,
    });
  await registerOpenApi(app, services, { componentSchemas: adminSchemas });
  registerMetricsRoute(app, services.metrics);
  registerHealthRoutes(app, services, options.readinessChecks ?? []);
  // Liveness, readiness and metrics stay outside the load shedder: a busy pod is not a dead one.
  await app.register(async (shed) => {
    const lag = new LoopLag(config.server.overload_event_loop_delay, 1_000);
    shed.addHook('onClose', async () => lag.close());
    await shed.register(underPressure, {
      // The lag check is ours (http/loop-lag.ts): the plugin's sheds on an interval without samples.
      healthCheck: async () => lag.healthy(),
      healthCheckInterval: lag.intervalMs,
      ...(config.server.overload_heap_bytes > 0
        ? { maxHeapUsedBytes: config.server.overload_heap_bytes }
        : {}),
      exposeStatusRoute: false,
      pressureHandler: (request, reply, type) => {
        request.log.warn(
          { type: type === 'healthCheck' ? 'eventLoopDelay' : type, lagMs: lag.lagMs },
          'overloaded: shedding request',
        );
        sendError(reply, new AigovError('overloaded', { retryAfter: 2 }), familyForPath(request.url));
      },
    });
    registerEvaluateRoute(shed, services);
    registerCheckRoute(shed, services);
    registerProviderRoutes(shed, services);
    registerMcpRoutes(shed, services);
  });
  registerAdminRoutes(app, services);
  registerUiRoutes(app);
  return app;
}
