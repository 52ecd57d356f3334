import type { FastifyRequest } from 'fastify';
import { AigovError } from '../errors.js';
import { extractApiKey } from '../auth/extract.js';
import type { KeyIdentity } from '../auth/identity.js';
import type { KeyVerifier } from '../auth/verifier.js';

/** Resolves the caller's identity or throws the catalogue's 401. */
export async function authenticate(verifier: KeyVerifier, request: FastifyRequest): Promise<KeyIdentity> {
  const raw = extractApiKey(request.headers);
  if (!raw) throw new AigovError('invalid_api_key', { message: 'Missing aigov API key' });
  const result = await verifier.verify(raw);
  if (!result.ok) throw new AigovError(result.code);
  return result.identity;
}
