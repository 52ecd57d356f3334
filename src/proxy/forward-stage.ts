import { AigovError, isAigovError } from '../errors.js';
import { applyRedactions } from '../policy/index.js';
import { SSE_CODEC } from '../providers/sse.js';
import type { ProviderRuntime } from '../providers/registry.js';
import type { CallAbort } from './call-abort.js';
import { searchOf, type Call, type DecidedCall, type ProxyDeps } from './call.js';
import { sendUpstream, type UpstreamBody, type UpstreamCall } from './forward.js';
import { upstreamError } from './upstream-errors.js';

export interface PreparedRequest {
  /** Bytes to send: the caller's own when nothing changed (no re-serialisation). */
  body: Buffer | string | null;
  /** The client asked for stream usage itself (else an injected usage-only chunk is dropped). */
  clientWantsUsage: boolean;
}

/** The body to forward: redactions applied, provider adjustments (stream usage) made. */
export function prepareRequest(call: DecidedCall): PreparedRequest {
  const { request, provider, norm, decision } = call;
  if (decision.policy.redactions.length > 0) {
    const redacted = applyRedactions(request.body, decision.policy.redactions) as Record<string, unknown>;
    const prepared = provider.adapter.prepareBody(norm, redacted);
    return { body: JSON.stringify(prepared.body), clientWantsUsage: prepared.clientWantsUsage };
  }
  if (typeof request.body === 'object' && request.body !== null) {
    const prepared = provider.adapter.prepareBody(norm, request.body as Record<string, unknown>);
    return {
      body: prepared.changed ? JSON.stringify(prepared.body) : (request.rawBody ?? null),
      clientWantsUsage: prepared.clientWantsUsage,
    };
  }
  return { body: request.rawBody ?? null, clientWantsUsage: true };
}

/**
 * Sends the call upstream (with fallbacks), cancelled when the client leaves. Upstream failures
 * become catalogue errors; a 5xx answer is one too (its body is not passed back).
 */
export async function forwardStage(
  call: Call,
  deps: Pick<ProxyDeps, 'providers'>,
  provider: ProviderRuntime,
  body: UpstreamBody,
  abort: CallAbort,
  /** false: a 5xx answer is passed back as it is (ungoverned routes such as GET /v1/models). */
  rejectServerErrors = true,
): Promise<UpstreamCall> {
  let upstream: UpstreamCall;
  try {
    upstream = await sendUpstream({
      primary: provider,
      registry: deps.providers,
      method: call.spec.method,
      route: call.spec.path,
      path: call.path,
      search: searchOf(call.request.url),
      incomingHeaders: call.request.headers,
      requestId: call.request.id,
      body,
      signal: abort,
    });
  } catch (err) {
    if (abort.aborted) {
      call.row.aborted = true;
      // Same label as a client leaving mid-stream: this is not a provider failure.
      call.row.error = 'client_aborted';
      throw new AigovError('upstream_error', { message: 'Client closed the request' });
    }
    throw isAigovError(err) ? err : upstreamError(provider.name, err);
  }
  call.row.provider = upstream.provider.name;
  if (rejectServerErrors && upstream.response.statusCode >= 500) {
    await upstream.response.body.dump().catch(() => {});
    call.upstreamMs = performance.now() - upstream.sentAt;
    throw new AigovError('upstream_error', {
      message: `Provider ${upstream.provider.name} returned ${upstream.response.statusCode}`,
    });
  }
  return upstream;
}

/** A binary 2xx answer (speech audio, file content): relayed as a stream, untouched. */
export function isBinaryAnswer(call: Call, upstream: UpstreamCall): boolean {
  const type = String(upstream.response.headers['content-type'] ?? '');
  return (
    call.spec.binary === true &&
    upstream.response.statusCode < 300 &&
    !type.includes('json') &&
    !type.includes('text/event-stream')
  );
}

/** A 200 event stream the caller asked for: relayed event by event, not buffered. */
export function isEventStream(call: DecidedCall, upstream: UpstreamCall): boolean {
  return (
    call.norm.stream &&
    upstream.response.statusCode === 200 &&
    String(upstream.response.headers['content-type'] ?? '').includes(
      (upstream.provider.adapter.streamCodec ?? SSE_CODEC).contentType,
    )
  );
}
