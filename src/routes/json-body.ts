import type { FastifyInstance } from 'fastify';
import { AigovError } from '../errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The body bytes as received: forwarded untouched unless redaction changed the body. */
    rawBody?: Buffer;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * JSON bodies are kept as bytes and parsed once. Invalid UTF-8 is refused rather than replaced,
 * so detectors see exactly what the provider would.
 */
export function registerJsonBody(app: FastifyInstance): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body: Buffer, done) => {
    request.rawBody = body;
    if (body.length === 0) {
      done(new AigovError('invalid_json', { message: 'Request body is empty; expected a JSON object' }));
      return;
    }
    let text: string;
    try {
      text = utf8.decode(body);
    } catch {
      done(new AigovError('invalid_json', { message: 'Request body is not valid UTF-8' }));
      return;
    }
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(
        new AigovError('invalid_json', {
          message: `Request body is not valid JSON: ${(err as Error).message}`,
        }),
      );
    }
  });
}
