import type { IncomingHttpHeaders } from 'node:http';

/** Hop-by-hop and framing headers: the proxy's own connection decides these. */
const DROPPED = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-length',
  'content-encoding',
  'trailer',
  'upgrade',
  'proxy-authenticate',
  'proxy-connection',
  'te',
  'date',
  'x-request-id',
]);

/** Upstream response headers worth passing back (rate-limit headers, request ids, content type). */
export function passBackHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || DROPPED.has(name)) continue;
    out[name] = value;
  }
  return out;
}
