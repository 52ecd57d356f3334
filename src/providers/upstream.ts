import type { UpstreamInput } from './adapter.js';

/**
 * Hop-by-hop and framing headers (meaningful only on the client connection, RFC 9110 §7.6.1),
 * plus the body/encoding headers the proxy sets itself because it re-serialises the JSON body
 * and must read the response.
 */
const DROPPED = new Set([
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'http2-settings',
  'content-encoding',
  'accept-encoding',
  'content-type',
  'expect',
]);

/** Caller credentials: the aigov key travels in any of these and must never reach the provider. */
const CREDENTIALS = new Set(['authorization', 'x-api-key', 'api-key', 'x-goog-api-key', 'cookie']);

/** Join base URL and route without doubling /v1 (see the convention in adapter.ts). */
export function joinUrl(baseUrl: string, route: string, search: string): string {
  let base = baseUrl.replace(/\/+$/, '');
  if (/\/v1$/i.test(base) && /^\/v1(\/|$)/.test(route)) base = base.slice(0, -3);
  const path = route.startsWith('/') ? route : `/${route}`;
  const query = search === '' || search === '?' ? '' : search.startsWith('?') ? search : `?${search}`;
  return base + path + query;
}

/**
 * The caller's headers minus hop-by-hop, credentials, x-aigov-* and anything the caller's
 * Connection header names; then the fixed ones the proxy owns. Provider adapters add auth.
 */
export function forwardHeaders(input: UpstreamInput): Record<string, string> {
  const incoming = input.incomingHeaders;
  const named = new Set<string>();
  const conn = incoming['connection'];
  for (const v of Array.isArray(conn) ? conn : conn === undefined ? [] : [conn]) {
    for (const token of v.split(',')) named.add(token.trim().toLowerCase());
  }
  const out: Record<string, string> = {};
  for (const [rawName, value] of Object.entries(incoming)) {
    if (value === undefined) continue;
    const name = rawName.toLowerCase();
    // `x_api_key` is `x-api-key` to servers (and proxies) that fold underscores: never forward it.
    const folded = name.includes('_') ? name.replace(/_/g, '-') : name;
    if (DROPPED.has(folded) || CREDENTIALS.has(folded) || named.has(name)) continue;
    if (folded.startsWith('proxy-') || folded.startsWith('x-aigov-') || name.startsWith(':')) continue;
    // The caller's network details are not the provider's business, and they are spoofable.
    if (folded.startsWith('x-forwarded-') || folded === 'forwarded' || folded === 'x-real-ip') continue;
    const joined = Array.isArray(value) ? value.join(', ') : value;
    // Belt and braces: an aigov key in any header stays here, whatever the header is called.
    if (joined.includes('aigov_')) continue;
    out[name] = joined;
  }
  out['content-type'] = 'application/json';
  out['accept-encoding'] = 'identity';
  out['x-request-id'] = input.requestId;
  return out;
}

/**
 * The caller's query string without credentials: the named key parameter (Gemini's `key`) and any
 * parameter whose name or value holds an aigov key, whatever it is called.
 */
export function cleanSearch(search: string, keyParam = 'key'): string {
  if (search === '' || search === '?') return '';
  const params = new URLSearchParams(search.startsWith('?') ? search.slice(1) : search);
  for (const [name, value] of [...params]) {
    if (name.toLowerCase() === keyParam || name.includes('aigov_') || value.includes('aigov_'))
      params.delete(name);
  }
  const out = params.toString();
  return out === '' ? '' : `?${out}`;
}
