import { AigovError } from '../errors.js';

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

function codeOf(err: unknown): string {
  if (typeof err !== 'object' || err === null) return '';
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  const cause = (err as { cause?: unknown }).cause;
  return cause === undefined ? '' : codeOf(cause);
}

/** A connect-phase failure: nothing reached the provider, so a fallback may be tried. */
export function isConnectError(err: unknown): boolean {
  return CONNECT_CODES.has(codeOf(err));
}

/** Maps undici / socket failures to the catalogue: timeouts 504, everything else 502. */
export function upstreamError(provider: string, err: unknown): AigovError {
  const code = codeOf(err);
  if (TIMEOUT_CODES.has(code)) {
    const what =
      code === 'UND_ERR_CONNECT_TIMEOUT'
        ? 'connecting'
        : code === 'UND_ERR_HEADERS_TIMEOUT'
          ? 'waiting for the first byte'
          : 'waiting for the next chunk';
    return new AigovError('upstream_timeout', {
      message: `Provider ${provider} timed out ${what}`,
      cause: err,
    });
  }
  const detail = code || (err instanceof Error ? err.message : 'unknown error');
  return new AigovError('upstream_error', { message: `Provider ${provider} failed: ${detail}`, cause: err });
}
