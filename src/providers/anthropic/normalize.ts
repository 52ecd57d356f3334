import { z } from 'zod';
import { AigovError } from '../../errors.js';
import type { NormalizeInput } from '../adapter.js';
import { tokenLimit } from '../openai/normalize.js';
import { collectMetadata, collectStrings, isPlainObject, joinPrompt } from '../text-walk.js';
import type { NormalizedRequest, TextSlot } from '../types.js';
import { parseOrThrow } from '../validation.js';

const block = z.looseObject({ type: z.string({ error: 'expected a content block type string' }) });

const messagesBody = z.looseObject(
  {
    model: z.string({ error: 'expected a string' }).optional(),
    stream: z.boolean({ error: 'expected a boolean' }).nullable().optional(),
    max_tokens: tokenLimit,
    metadata: z.record(z.string(), z.unknown(), { error: 'expected an object' }).nullable().optional(),
    system: z
      .union([z.string(), z.array(block)], { error: 'expected a string or an array of text blocks' })
      .nullable()
      .optional(),
    messages: z.array(
      z.looseObject(
        {
          role: z.string({ error: 'expected a string' }),
          content: z
            .union([z.string(), z.array(block)], { error: 'expected a string or an array of content blocks' })
            .optional(),
        },
        { error: 'expected a message object' },
      ),
      { error: 'expected an array of messages' },
    ),
  },
  { error: 'expected a JSON object' },
);

type Role = TextSlot['role'];

function messageRole(role: string): Role {
  return role === 'user' ? 'user' : role === 'assistant' ? 'assistant' : 'other';
}

/** Text of one content block; tool inputs are user data, so every string in them counts. */
function collectBlock(
  b: Record<string, unknown>,
  path: (string | number)[],
  role: Role,
  out: TextSlot[],
): void {
  const type = typeof b['type'] === 'string' ? b['type'] : '';
  if (type.endsWith('tool_use')) {
    collectStrings(b['input'], [...path, 'input'], role, out, { raw: true });
    return;
  }
  collectStrings(b, path, type.endsWith('tool_result') ? 'tool' : role, out);
}

function normalizeUnsafe(input: NormalizeInput): NormalizedRequest {
  const body = parseOrThrow(messagesBody, input.body);
  const texts: TextSlot[] = [];
  if (typeof body.system === 'string') texts.push({ path: ['system'], role: 'system', text: body.system });
  else body.system?.forEach((b, i) => collectBlock(b, ['system', i], 'system', texts));
  body.messages.forEach((m, i) => {
    const role = messageRole(m.role);
    if (typeof m.content === 'string') {
      texts.push({ path: ['messages', i, 'content'], role, text: m.content });
    } else {
      m.content?.forEach((b, j) => collectBlock(b, ['messages', i, 'content', j], role, texts));
    }
  });
  return {
    provider: input.provider,
    family: 'anthropic',
    route: input.route,
    model: body.model ?? null,
    texts,
    prompt: joinPrompt(texts),
    maxTokens: body.max_tokens ?? null,
    stream: body.stream === true,
    metadata: collectMetadata(body.metadata, input.metadata),
  };
}

export function normalizeAnthropic(input: NormalizeInput): NormalizedRequest {
  try {
    return normalizeUnsafe(input);
  } catch (err) {
    if (err instanceof AigovError) throw err;
    // Fail closed: a shape the walkers did not foresee is refused, never forwarded unscanned.
    throw new AigovError('invalid_request', { message: 'Invalid request body', cause: err });
  }
}

export function inferAnthropicRoute(body: unknown): string {
  return isPlainObject(body) && !('max_tokens' in body) && 'messages' in body
    ? '/v1/messages/count_tokens'
    : '/v1/messages';
}
