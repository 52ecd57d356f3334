import type { FastifyReply } from 'fastify';
import type { AigovError } from '../errors.js';
import { anthropicErrorBody, openAIErrorBody } from '../errors.js';
import type { ProviderFamily } from '../providers/types.js';

/** Renders a catalogue error in the shape the caller's SDK parses (OpenAI by default). */
export function sendError(
  reply: FastifyReply,
  err: AigovError,
  family: ProviderFamily = 'openai',
): FastifyReply {
  for (const [name, value] of Object.entries(err.headers)) reply.header(name, value);
  if (err.retryAfter !== undefined)
    reply.header('retry-after', String(Math.max(1, Math.ceil(err.retryAfter))));
  const body = family === 'anthropic' ? anthropicErrorBody(err) : openAIErrorBody(err);
  if (err.details !== undefined && family === 'openai')
    (body.error as Record<string, unknown>).details = err.details;
  return reply.code(err.status).type('application/json').send(body);
}
