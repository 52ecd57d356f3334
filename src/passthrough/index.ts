/**
 * Passthrough: routes aigov does not govern (config `passthrough: [{provider, routes, methods}]`)
 * proxied as opaque streams with http-proxy. The caller is authenticated, counted by request
 * limits (a `route` condition sees the path), the caller's credentials are stripped and the
 * provider's injected, and one audit row with decision `passthrough` is written per request.
 * Bodies are never parsed or buffered: this runs at onRequest, before any body parser, and only
 * for requests no governed route matched.
 */
import type { IncomingMessage } from 'node:http';
import httpProxy from 'http-proxy';
import picomatch from 'picomatch';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { baseRow } from '../audit/record.js';
import { AigovError, isAigovError } from '../errors.js';
import { authenticate } from '../http/authenticate.js';
import { sendError } from '../http/render-error.js';
import type { Reservation } from '../limits/limiter.js';
import type { ProviderRuntime } from '../providers/registry.js';
import type { NormalizedRequest } from '../providers/types.js';
import type { Services } from '../services.js';

interface Rule {
  provider: ProviderRuntime;
  methods: ReadonlySet<string>;
  match: (path: string) => boolean;
}

/** Where a caller's key may travel; none of these reaches the provider. */
const CALLER_CREDENTIALS = ['authorization', 'x-api-key', 'api-key', 'cookie', 'x-goog-api-key'];
/** Headers the proxy owns on the way out, from the adapter's upstream request. */
const NOT_COPIED = new Set(['content-type', 'accept-encoding']);

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/** Removes the caller's credentials (any header spelling) and aigov's own headers, in place. */
export function stripCallerCredentials(headers: IncomingMessage['headers']): void {
  for (const name of Object.keys(headers)) {
    const folded = name.toLowerCase().replace(/_/g, '-');
    const value = headers[name];
    const joined = Array.isArray(value) ? value.join(', ') : (value ?? '');
    if (
      CALLER_CREDENTIALS.includes(folded) ||
      folded.startsWith('x-aigov-') ||
      folded.startsWith('proxy-') ||
      joined.includes('aigov_')
    )
      delete headers[name];
  }
}

/**
 * An HTTP/2 request's headers hold pseudo-headers (`:path`, `:authority`...), which are no header
 * names on the HTTP/1.1 hop http-proxy opens (Node refuses them). The request gets its own copy
 * without them; its method and url getters read Node's internal map and keep working.
 */
function http1Headers(raw: FastifyRequest['raw']): void {
  if (raw.httpVersionMajor !== 2) return;
  const headers: IncomingMessage['headers'] = {};
  for (const [name, value] of Object.entries(raw.headers)) if (!name.startsWith(':')) headers[name] = value;
  Object.defineProperty(raw, 'headers', { value: headers, configurable: true, enumerable: true });
}

export function registerPassthrough(app: FastifyInstance, services: Services): void {
  const rules: Rule[] = services.config.passthrough.map((p) => {
    const provider = services.providers.get(p.provider);
    if (!provider) throw new Error(`passthrough: unknown provider "${p.provider}"`);
    return { provider, methods: new Set(p.methods), match: picomatch(p.routes, { dot: true }) };
  });
  if (rules.length === 0) return;
  const proxy = httpProxy.createProxyServer({ xfwd: false, changeOrigin: true, ignorePath: true, ws: false });
  // Errors are handled per request (callback below); this keeps an unhandled 'error' from throwing.
  proxy.on('error', () => {});

  app.addHook('onRequest', async (request, reply) => {
    if (!request.is404) return;
    const path = request.url.split('?', 1)[0] ?? '';
    const rule = rules.find((r) => r.methods.has(request.method) && r.match(path));
    if (!rule) return;
    await passthrough(services, rule.provider, path, request, reply, proxy);
  });
}

async function passthrough(
  services: Services,
  provider: ProviderRuntime,
  path: string,
  request: FastifyRequest,
  reply: FastifyReply,
  proxy: httpProxy,
): Promise<void> {
  const started = performance.now();
  const row = baseRow(request, path, null);
  row.provider = provider.name;
  row.decision = 'passthrough';
  const norm: NormalizedRequest = {
    provider: provider.name,
    family: provider.family,
    route: path,
    model: null,
    texts: [],
    prompt: '',
    maxTokens: 0,
    stream: false,
    metadata: {},
  };
  const set = services.policies.current();
  let reservation: Reservation | null = null;
  const finish = async (statusCode: number, error: string | null, upstreamMs: number | null) => {
    row.statusCode = statusCode;
    row.error ??= error;
    row.latencyMs = round3(performance.now() - started);
    row.upstreamMs = upstreamMs === null ? null : round3(upstreamMs);
    services.metrics.observeCall(row);
    services.audit.enqueue(row);
    if (reservation) {
      if (upstreamMs === null) await services.limiter.release(reservation);
      else await services.limiter.reconcile(reservation, { totalTokens: null, costUsd: null });
    }
  };
  try {
    const key = await authenticate(services.verifier, request);
    row.keyId = key.id;
    row.owner = key.owner;
    row.team = key.team;
    if (!services.audit.accepting()) throw new AigovError('audit_unavailable');
    // Opaque bodies have no tokens or cost to estimate: only request limits count them.
    const limits = await services.limiter.reserve(set.limitRules, norm, key, { tokens: 0, costUsd: 0 });
    row.degraded = limits.degraded;
    row.policyIds = [...limits.monitorMatches];
    for (const [name, value] of Object.entries(limits.headers)) reply.header(name, value);
    if (!limits.allowed) {
      row.decision = 'block';
      row.policyIds.push(limits.rule.id);
      throw limits.error;
    }
    reservation = limits.reservation;
  } catch (err) {
    const e = isAigovError(err) ? err : new AigovError('internal_error', { cause: err });
    if (row.decision === 'passthrough') row.decision = e.status < 500 ? 'block' : 'error';
    row.error = e.code;
    await finish(e.status, e.code, null);
    sendError(reply, e, provider.family);
    return reply;
  }

  const search = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
  const upstream = provider.adapter.buildUpstream({
    baseUrl: provider.baseUrl,
    route: path,
    search,
    incomingHeaders: {},
    credential: provider.credential,
    requestId: request.id,
  });
  const inject: Record<string, string> = {};
  for (const [name, value] of Object.entries(upstream.headers))
    if (!NOT_COPIED.has(name)) inject[name] = value;
  http1Headers(request.raw);
  stripCallerCredentials(request.raw.headers);
  reply.hijack();
  const res = reply.raw;
  for (const [name, value] of Object.entries(reply.getHeaders()))
    if (value !== undefined) res.setHeader(name, value as string);
  res.setHeader('x-aigov-decision', 'passthrough');
  const sentAt = performance.now();
  await new Promise<void>((resolve) => {
    let done = false;
    const end = (status: number, error: string | null, upstreamMs: number | null): void => {
      if (done) return;
      done = true;
      void finish(status, error, upstreamMs).finally(resolve);
    };
    proxy.web(request.raw, res, { target: upstream.url, headers: inject }, (err) => {
      if (!res.headersSent) {
        const e = new AigovError('upstream_error', {
          message: `Provider ${provider.name} failed: ${(err as NodeJS.ErrnoException).code ?? err.message}`,
        });
        res.writeHead(e.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(errorBody(provider, e)));
        end(e.status, e.code, null);
      } else {
        res.destroy();
        end(502, 'upstream_error', performance.now() - sentAt);
      }
    });
    res.once('close', () => {
      if (!res.writableFinished) row.aborted = true;
      end(res.statusCode, row.aborted ? 'client_aborted' : null, performance.now() - sentAt);
    });
  });
}

function errorBody(provider: ProviderRuntime, e: AigovError): unknown {
  return provider.adapter.errorBody(e);
}
