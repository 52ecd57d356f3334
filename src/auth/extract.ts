import type { IncomingHttpHeaders } from 'node:http';

/**
 * The caller's aigov key, from any header an SDK puts it in: `Authorization: Bearer` (OpenAI
 * SDKs), `x-api-key` (Anthropic SDK), `api-key` (Azure OpenAI style) or `x-goog-api-key`
 * (@google/genai). First present wins.
 */
export function extractApiKey(headers: IncomingHttpHeaders): string | null {
  const auth = headers.authorization;
  if (typeof auth === 'string' && auth.length > 7 && auth.slice(0, 7).toLowerCase() === 'bearer ')
    return auth.slice(7).trim();
  const x = headers['x-api-key'];
  if (typeof x === 'string' && x.length > 0) return x.trim();
  const azure = headers['api-key'];
  if (typeof azure === 'string' && azure.length > 0) return azure.trim();
  const goog = headers['x-goog-api-key'];
  if (typeof goog === 'string' && goog.length > 0) return goog.trim();
  return null;
}

/** Headers that carry caller credentials: never logged, never forwarded upstream. */
export const CREDENTIAL_HEADERS = [
  'authorization',
  'x-api-key',
  'api-key',
  'x-goog-api-key',
  'cookie',
  'proxy-authorization',
] as const;
