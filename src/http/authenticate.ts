import type { FastifyRequest } from 'fastify';
import { AigovError } from '../errors.js';
import { extractApiKey } from '../auth/extract.js';
import type { KeyIdentity } from '../auth/identity.js';
import { looksLikeJwt } from '../auth/jwt.js';
import { KEY_PREFIX } from '../auth/key-format.js';
import type { KeyVerifier } from '../auth/verifier.js';

/**
 * Resolves the caller's identity or throws the catalogue's 401. A client IP that keeps failing is
 * refused with 429 before any lookup, so key guessing costs the guesser, not the proxy.
 *
 * The credential is an aigov key (`aigov_...`, src/auth/key-format.ts) or, when `auth.jwt` names
 * issuers, a JWT from one of them: same headers, same identity shape, same 401 family. Either way
 * it sits in a credential header, which is never forwarded upstream.
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
  if (raw !== null && verifier.jwt && !raw.startsWith(KEY_PREFIX) && looksLikeJwt(raw)) {
    const jwt = await verifier.jwt.verify(raw);
    if (jwt.ok) return jwt.identity;
    if (jwt.reason === 'unavailable')
      throw new AigovError('auth_unavailable', { retryAfter: 1, message: jwt.message });
    throttle?.hit(request.ip);
    throw new AigovError('invalid_token', { message: jwt.message, providerCode: jwt.reason });
  }
  const result = raw ? await verifier.verify(raw) : null;
  if (result?.ok) return result.identity;
  if (result?.code === 'auth_unavailable') throw new AigovError('auth_unavailable', { retryAfter: 1 });
  throttle?.hit(request.ip);
  if (!result)
    throw new AigovError('invalid_api_key', {
      message: verifier.jwt ? 'Missing aigov API key or bearer token' : 'Missing aigov API key',
    });
  throw new AigovError(result.code);
}

function queryParam(url: string, name: string): string | null {
  const q = url.indexOf('?');
  if (q === -1) return null;
  const value = new URLSearchParams(url.slice(q + 1)).get(name);
  return value === null || value === '' ? null : value.trim();
}
