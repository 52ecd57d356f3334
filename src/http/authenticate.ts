import type { FastifyRequest } from 'fastify';
import { AigovError } from '../errors.js';
import { extractApiKey } from '../auth/extract.js';
import type { KeyIdentity } from '../auth/identity.js';
import type { KeyVerifier } from '../auth/verifier.js';

/**
 * Resolves the caller's identity or throws the catalogue's 401. A client IP that keeps failing is
 * refused with 429 before any lookup, so key guessing costs the guesser, not the proxy.
 */
export async function authenticate(verifier: KeyVerifier, request: FastifyRequest): Promise<KeyIdentity> {
  const throttle = verifier.failureThrottle;
  if (throttle) {
    const wait = throttle.blocked(request.ip);
    if (wait > 0) throw new AigovError('auth_throttled', { retryAfter: wait });
  }
  const raw = extractApiKey(request.headers);
  const result = raw ? await verifier.verify(raw) : null;
  if (result?.ok) return result.identity;
  if (result?.code === 'auth_unavailable') throw new AigovError('auth_unavailable', { retryAfter: 1 });
  throttle?.hit(request.ip);
  if (!result) throw new AigovError('invalid_api_key', { message: 'Missing aigov API key' });
  throw new AigovError(result.code);
}
