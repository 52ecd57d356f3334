import type { FastifyError } from 'fastify';
import { AigovError, isAigovError } from '../errors.js';

/** Fastify's body-reading failures as catalogue errors; null for any other error. */
export function bodyReadError(err: FastifyError | AigovError): AigovError | null {
  if (isAigovError(err)) return err.status === 400 || err.status === 413 || err.status === 415 ? err : null;
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AigovError('body_too_large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AigovError('unsupported_media_type');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new AigovError('invalid_json');
    default:
      return null;
  }
}

/** Maps Fastify's own errors (parser, limits) onto the catalogue, so every 4xx has one shape. */
export function toAigovError(err: FastifyError): AigovError {
  const body = bodyReadError(err);
  if (body) return body;
  if (err.statusCode === 400 || err instanceof SyntaxError)
    return new AigovError('invalid_json', { message: `Invalid request body: ${err.message}` });
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500)
    return new AigovError('invalid_request', { message: err.message });
  return new AigovError('internal_error', { cause: err });
}
