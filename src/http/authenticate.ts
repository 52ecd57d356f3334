import type { FastifyRequest } from 'fastify';
import { AigovError } from '../errors.js';
import { extractApiKey } from '../auth/extract.js';
import type { KeyIdentity } from '../auth/identity.js';
import type { KeyVerifier } from '../auth/verifier.js';

/**
 * Resolves the caller's identity or throws the catalogue's 401. A client IP that keeps failing is
 * refused with 429 before any lookup, so key guessing costs the guesser, not the proxy.
 */
export async function authenticate(
  verifier: KeyVerifier,
  request: FastifyRequest,
  /** A query parameter the route's SDK may carry the key in (Gemini's `key`); headers win. */
  queryKey?: string,
): Promise<KeyIdentity> {
  const throttle = verifier.failureThrottle;
  if (throttle) {
    const wait = throttle.blocked(request.ip);
    if (wait > 0) throw new AigovError('auth_throttled', { retryAfter: wait });
  }
  const raw = extractApiKey(request.headers) ?? (queryKey ? queryParam(request.url, queryKey) : null);
  const result = raw ? await verifier.verify(raw) : null;
  if (result?.ok) return result.identity;
  if (result?.code === 'auth_unavailable') throw new AigovError('auth_unavailable', { retryAfter: 1 });
  throttle?.hit(request.ip);
  if (!result) throw new AigovError('invalid_api_key', { message: 'Missing aigov API key' });
  throw new AigovError(result.code);
}

function queryParam(url: string, name: string): string | null {
  const q = url.indexOf('?');
  if (q === -1) return null;
  const value = new URLSearchParams(url.slice(q + 1)).get(name);
  return value === null || value === '' ? null : value.trim();
}
