import { isUtf8 } from 'node:buffer';
import type { FastifyInstance } from 'fastify';
import { AigovError } from '../errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The body bytes as received: forwarded untouched unless redaction changed the body. */
    rawBody?: Buffer;
  }
}

/** Far beyond any provider request; bounds the work every later stage can be made to do. */
export const MAX_JSON_DEPTH = 64;
export const MAX_JSON_ARRAY = 100_000;

/** Iterative (no recursion to overflow): returns a problem, or null when the shape is acceptable. */
export function jsonShapeProblem(value: unknown): string | null {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (typeof node !== 'object' || node === null) continue;
    if (depth > MAX_JSON_DEPTH) return `JSON nested deeper than ${MAX_JSON_DEPTH} levels`;
    if (Array.isArray(node)) {
      if (node.length > MAX_JSON_ARRAY) return `JSON array longer than ${MAX_JSON_ARRAY} items`;
      for (const item of node) if (typeof item === 'object' && item !== null) stack.push([item, depth + 1]);
    } else {
      for (const key in node) {
        const item = (node as Record<string, unknown>)[key];
        if (typeof item === 'object' && item !== null) stack.push([item, depth + 1]);
      }
    }
  }
  return null;
}

/**
 * JSON bodies are kept as bytes and parsed once. Invalid UTF-8 is refused rather than replaced,
 * so detectors see exactly what the provider would.
 */
export function registerJsonBody(app: FastifyInstance): void {
  // Only JSON: provider APIs take nothing else, and a text/plain parser would let a body through
  // unparsed (to be refused later with a vaguer 400 instead of a clear 415).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body: Buffer, done) => {
    request.rawBody = body;
    if (body.length === 0) {
      done(new AigovError('invalid_json', { message: 'Request body is empty; expected a JSON object' }));
      return;
    }
    // Native validation, then a plain decode: cheaper than a fatal TextDecoder.
    if (!isUtf8(body)) {
      done(new AigovError('invalid_json', { message: 'Request body is not valid UTF-8' }));
      return;
    }
    const text = body.toString('utf8');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      done(
        new AigovError('invalid_json', {
          message: `Request body is not valid JSON: ${(err as Error).message}`,
        }),
      );
      return;
    }
    // Every later stage (normalisers, detectors, redaction) walks the body: bound its shape once.
    const problem = jsonShapeProblem(parsed);
    if (problem !== null) {
      done(new AigovError('invalid_json', { message: `Request body refused: ${problem}` }));
      return;
    }
    done(null, parsed);
  });
}
