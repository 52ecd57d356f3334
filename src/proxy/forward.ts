import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { AigovError } from '../errors.js';
import type { CallAbort } from './call-abort.js';
import type { ProviderRegistry, ProviderRuntime } from '../providers/registry.js';
import { isConnectError, upstreamError } from './upstream-errors.js';

export interface UpstreamCall {
  provider: ProviderRuntime;
  response: Dispatcher.ResponseData;
  /** performance.now() when the request was sent and when response headers arrived. */
  sentAt: number;
  headersAt: number;
}

export interface SendInput {
  primary: ProviderRuntime;
  registry: ProviderRegistry;
  method: 'GET' | 'POST' | 'DELETE';
  route: string;
  /** The concrete request path (route may be a template). */
  path: string;
  search: string;
  incomingHeaders: Record<string, string | string[] | undefined>;
  requestId: string;
  body: UpstreamBody;
  signal: CallAbort;
}

/** JSON bytes, nothing, or a streamed body (multipart) opened afresh for each attempt. */
export type UpstreamBody = Buffer | string | null | StreamedBody;

export interface StreamedBody {
  contentType: string;
  length: number;
  open(): Readable;
}

function isStreamed(body: UpstreamBody): body is StreamedBody {
  return typeof body === 'object' && body !== null && !Buffer.isBuffer(body);
}

function retryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

/**
 * Sends to the provider, then to its configured fallbacks in order when the failure happened
 * before any byte of the answer: a connect error, a 429 or a 5xx. The caller's credentials never
 * leave: the adapter builds headers from scratch with the provider's own credential.
 */
export async function sendUpstream(input: SendInput): Promise<UpstreamCall> {
  const family = input.primary.family;
  // Same family, or a family that can stand in with the same body (openai -> azure) at its own route.
  const primary = { provider: input.primary, route: input.route, path: input.path };
  const chain =
    input.primary.fallbacks.length === 0
      ? [primary] // the common case, without building the fallback list
      : [
          primary,
          ...input.primary.fallbacks
            .flatMap((n) => input.registry.get(n) ?? [])
            .map((provider) => {
              if (provider.family === family) return { provider, route: input.route, path: input.path };
              const route = provider.adapter.fallbackRoute?.(family, input.route);
              return route === undefined ? null : { provider, route, path: route };
            })
            .filter((c) => c !== null),
        ];
  let lastError: unknown = null;
  for (let i = 0; i < chain.length; i++) {
    const { provider, route, path: routePath } = chain[i]!;
    const isLast = i === chain.length - 1;
    if (provider.credential === null && provider.credentialEnv !== null) {
      lastError = new AigovError('provider_not_configured', {
        message: `Provider ${provider.name} has no credential: set ${provider.credentialEnv}`,
      });
      continue;
    }
    const built = provider.adapter.buildUpstream({
      baseUrl: provider.baseUrl,
      route,
      path: routePath,
      search: input.search,
      incomingHeaders: input.incomingHeaders,
      credential: provider.credential,
      requestId: input.requestId,
    });
    const streamed = isStreamed(input.body) ? input.body : null;
    // Signing families (bedrock) take JSON bodies only; a streamed multipart body is OpenAI's.
    const { url, headers } = provider.adapter.sign
      ? await provider.adapter.sign({
          ...built,
          method: input.method,
          body: streamed ? null : (input.body as Buffer | string | null),
        })
      : built;
    // The adapter joined the provider's base URL (whose origin the pool serves) and the route:
    // the request path is the rest, no URL parsing per request.
    const requestPath = url.startsWith(provider.origin)
      ? url.slice(provider.origin.length) || '/'
      : new URL(url).pathname;
    if (streamed) {
      headers['content-type'] = streamed.contentType;
      headers['content-length'] = String(streamed.length);
    } else if (input.body === null && input.method !== 'POST') delete headers['content-type'];
    const sentAt = performance.now();
    try {
      const response = await provider.pool.request({
        method: input.method,
        path: requestPath,
        headers,
        body: streamed ? streamed.open() : (input.body as Buffer | string | null),
        signal: input.signal,
        headersTimeout: provider.timeouts.firstByte,
        bodyTimeout: provider.timeouts.idle,
      });
      if (!isLast && retryableStatus(response.statusCode)) {
        await response.body.dump().catch(() => {});
        lastError = new AigovError('upstream_error', {
          message: `Provider ${provider.name} returned ${response.statusCode}`,
        });
        continue;
      }
      return { provider, response, sentAt, headersAt: performance.now() };
    } catch (err) {
      if (input.signal.aborted) throw err;
      lastError = err instanceof AigovError ? err : upstreamError(provider.name, err);
      if (isLast || !isConnectError(err)) throw lastError;
    }
  }
  throw lastError instanceof AigovError
    ? lastError
    : new AigovError('provider_not_configured', { message: 'No usable provider' });
}

/** Reads a whole (non-streamed) response body, bounded so a runaway upstream cannot exhaust memory. */
export async function readBody(body: Dispatcher.ResponseData['body'], maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > maxBytes) {
      body.destroy();
      throw new AigovError('upstream_error', { message: `Provider response larger than ${maxBytes} bytes` });
    }
    chunks.push(buf);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}
