import { pipeline } from 'node:stream/promises';
import { governanceHeaders, overheadMs, type Call } from './call.js';
import type { UpstreamCall } from './forward.js';
import { passBackHeaders } from './response-headers.js';
import { upstreamError } from './upstream-errors.js';

/**
 * Binary relay (speech audio, file content): the provider's bytes go back untouched as they
 * arrive, with backpressure, never buffered whole. The row records how the relay ended.
 */
export async function relayBinaryStage(call: Call, upstream: UpstreamCall): Promise<void> {
  const { reply, row } = call;
  const { response } = upstream;
  call.upstreamMs = upstream.headersAt - upstream.sentAt;
  reply.hijack();
  const length = response.headers['content-length'];
  reply.raw.writeHead(response.statusCode, {
    ...passBackHeaders(response.headers),
    ...(typeof length === 'string' ? { 'content-length': length } : {}),
    ...governanceHeaders(call),
    ...(reply.getHeaders() as Record<string, string>),
    'x-aigov-overhead-ms': overheadMs(call).toFixed(3),
  });
  row.statusCode = response.statusCode;
  try {
    await pipeline(response.body, reply.raw);
  } catch (err) {
    if (response.body.errored === null) {
      row.aborted = true;
      row.error = 'client_aborted';
    } else {
      const failure = upstreamError(upstream.provider.name, err);
      row.decision = 'error';
      row.error = failure.message;
    }
    reply.raw.destroy();
  }
  call.upstreamMs = performance.now() - upstream.sentAt;
}
