import type { FastifyReply } from 'fastify';
import type { AigovError } from '../errors.js';
import { getAdapter } from '../providers/families.js';
import type { ProviderFamily } from '../providers/types.js';

/** Renders a catalogue error in the shape the caller's SDK parses (the family adapter's errorBody; OpenAI by default). */
export function sendError(
  reply: FastifyReply,
  err: AigovError,
  family: ProviderFamily = 'openai',
): FastifyReply {
  for (const [name, value] of Object.entries(err.headers)) reply.header(name, value);
  if (err.retryAfter !== undefined)
    reply.header('retry-after', String(Math.max(1, Math.ceil(err.retryAfter))));
  const adapter = getAdapter(family);
  for (const [name, value] of Object.entries(adapter.errorHeaders?.(err) ?? {})) reply.header(name, value);
  const body = adapter.errorBody(err);
  return reply.code(err.status).type('application/json').send(body);
}
