import { isAigovError } from '../errors.js';
import { governanceHeaders, overheadMs, type DecidedCall, type ProxyDeps } from './call.js';
import { readBody, type UpstreamCall } from './forward.js';
import { recordBeforeAnswer } from './record.js';
import { passBackHeaders } from './response-headers.js';
import { inspectResponse } from './response-policy.js';
import { upstreamError } from './upstream-errors.js';

/** Non-streamed provider answers larger than this are refused rather than buffered. */
export const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

/**
 * Buffered relay: the whole answer is read (bounded), usage taken from it, output rules applied
 * (block throws, redact rewrites); the original bytes go back when nothing changed.
 */
export async function relayBufferedStage(
  call: DecidedCall,
  deps: Pick<ProxyDeps, 'audit' | 'metrics' | 'pricing' | 'auditContent' | 'durability'>,
  upstream: UpstreamCall,
): Promise<void> {
  const { reply, row } = call;
  const { response } = upstream;
  const raw = await readBody(response.body, MAX_RESPONSE_BYTES).catch((err: unknown) => {
    throw isAigovError(err) ? err : upstreamError(upstream.provider.name, err);
  });
  call.upstreamMs = performance.now() - upstream.sentAt;
  let out: Buffer | string = raw;
  const contentType = String(response.headers['content-type'] ?? '');
  if (response.statusCode < 300 && contentType.includes('json') && raw.length > 0) {
    const json = parseJson(raw);
    if (json !== null) {
      call.usage = upstream.provider.adapter.usageFromBody(call.spec.path, json);
      const inspected = inspectResponse(call, json);
      if (inspected.changed) out = JSON.stringify(inspected.body);
    }
  } else if (response.statusCode < 300 && call.spec.kind === 'audio_transcription' && raw.length > 0) {
    // A transcript asked for as text/srt/vtt is still the transcript: output rules see it.
    const inspected = inspectResponse(call, { text: raw.toString('utf8') });
    if (inspected.changed) out = String((inspected.body as { text: unknown }).text);
  }
  row.statusCode = response.statusCode;
  if (response.statusCode >= 400) row.error = `upstream_${response.statusCode}`;
  reply
    .code(response.statusCode)
    .headers(passBackHeaders(response.headers))
    .headers(governanceHeaders(call))
    .header('x-aigov-overhead-ms', overheadMs(call).toFixed(3));
  await recordBeforeAnswer(call, deps);
  await reply.send(out);
}

function parseJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    return null;
  }
}
