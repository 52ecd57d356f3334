import type { CallAbort } from './call-abort.js';
import { governanceHeaders, overheadMs, type DecidedCall } from './call.js';
import type { UpstreamCall } from './forward.js';
import { passBackHeaders } from './response-headers.js';
import { streamInspector } from './response-policy.js';
import { relayStream } from './stream-relay.js';
import { upstreamError } from './upstream-errors.js';

/**
 * Streamed relay: headers go out at once, events follow as they arrive (untouched bytes when no
 * output rule and no filtering applies), output rules judge the text before each event is sent.
 * The row gets the stream's real outcome: blocked, failed mid-stream, or abandoned by the client.
 */
export async function relayStreamedStage(
  call: DecidedCall,
  upstream: UpstreamCall,
  clientWantsUsage: boolean,
  abort: CallAbort,
): Promise<void> {
  const { reply, row } = call;
  const adapter = upstream.provider.adapter;
  call.upstreamMs = upstream.headersAt - upstream.sentAt;
  reply.hijack();
  reply.raw.writeHead(200, {
    ...passBackHeaders(upstream.response.headers),
    ...governanceHeaders(call),
    ...(reply.getHeaders() as Record<string, string>),
    'x-aigov-overhead-ms': overheadMs(call).toFixed(3),
    'cache-control': 'no-cache',
  });
  reply.raw.flushHeaders();
  const tracker = adapter.createStreamTracker({ route: call.spec.path, clientWantsUsage });
  const inspect = streamInspector(call);
  const outcome = await relayStream({
    body: upstream.response.body,
    raw: reply.raw,
    tracker,
    passThrough: clientWantsUsage && inspect === null,
    inspect,
    streamErrorEvent: (e) => adapter.streamErrorEvent(e),
    ...(adapter.streamCodec ? { codec: adapter.streamCodec } : {}),
    upstreamError: (e) => upstreamError(upstream.provider.name, e),
    abort: () => abort.abort(),
  });
  call.upstreamMs = performance.now() - upstream.sentAt;
  call.usage = tracker.usage();
  row.statusCode = outcome.blocked ? outcome.blocked.status : 200;
  row.aborted = outcome.aborted;
  if (outcome.blocked) row.error = `policy_blocked:${outcome.blocked.providerCode}`;
  else if (outcome.error) {
    // Like a block, a failed stream records the status its error event carried, not the 200
    // status line sent before the failure: the call failed, and error-rate queries must see it.
    const failure = upstreamError(upstream.provider.name, outcome.error);
    row.statusCode = failure.status;
    row.decision = 'error';
    row.error = failure.message;
  } else if (outcome.aborted) row.error = 'client_aborted';
}
