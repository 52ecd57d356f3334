import { z } from 'zod';
import { AigovError } from '../../errors.js';
import type { NormalizeInput } from '../adapter.js';
import { collectMetadata, collectStrings, isPlainObject, joinPrompt } from '../text-walk.js';
import type { NormalizedRequest, TextSlot } from '../types.js';
import { parseOrThrow } from '../validation.js';
import { normalizeSurface } from './surface.js';

/** Above any real model's output window: a larger value is a client bug or an attack on budgets. */
export const MAX_TOKENS_LIMIT = 10_000_000;

const TOKEN_LIMIT_ERROR = `expected a non-negative integer up to ${MAX_TOKENS_LIMIT}`;

export const tokenLimit = z
  .int({ error: TOKEN_LIMIT_ERROR })
  .min(0, { error: TOKEN_LIMIT_ERROR })
  .max(MAX_TOKENS_LIMIT, { error: TOKEN_LIMIT_ERROR })
  .nullable()
  .optional();

const common = {
  model: z.string({ error: 'expected a string' }).optional(),
  stream: z.boolean({ error: 'expected a boolean' }).nullable().optional(),
  max_tokens: tokenLimit,
  max_completion_tokens: tokenLimit,
  max_output_tokens: tokenLimit,
  metadata: z.record(z.string(), z.unknown(), { error: 'expected an object' }).nullable().optional(),
};

const objectBody = { error: 'expected a JSON object' };

const content = z
  .union([z.string(), z.array(z.looseObject({})), z.null()], {
    error: 'expected a string, an array of content part objects, or null',
  })
  .optional();

export const chatBody = z.looseObject(
  {
    ...common,
    messages: z.array(
      z.looseObject(
        {
          role: z.string({ error: 'expected a string' }),
          content,
          name: z.string({ error: 'expected a string' }).optional(),
          tool_calls: z.array(z.looseObject({}), { error: 'expected an array' }).nullable().optional(),
        },
        { error: 'expected a message object' },
      ),
      { error: 'expected an array of messages' },
    ),
  },
  objectBody,
);

const tokenOrText = z
  .union([z.string(), z.array(z.string()), z.array(z.int()), z.array(z.array(z.int())), z.null()], {
    error: 'expected a string, an array of strings, or token arrays',
  })
  .optional();

const completionsBody = z.looseObject(
  { ...common, prompt: tokenOrText, suffix: z.string({ error: 'expected a string' }).nullable().optional() },
  objectBody,
);

const embeddingsBody = z.looseObject({ ...common, input: tokenOrText }, objectBody);

const responsesBody = z.looseObject(
  {
    ...common,
    instructions: z.string({ error: 'expected a string' }).nullable().optional(),
    input: z
      .union([z.string(), z.array(z.looseObject({}))], {
        error: 'expected a string or an array of input item objects',
      })
      .optional(),
  },
  objectBody,
);

const genericBody = z.looseObject(common, objectBody);

type ChatBody = z.infer<typeof chatBody>;

function isTokenLimit(v: unknown): boolean {
  return (
    v === undefined ||
    v === null ||
    (Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= MAX_TOKENS_LIMIT)
  );
}

function isObjectArray(v: unknown): boolean {
  if (!Array.isArray(v)) return false;
  for (const x of v) if (!isPlainObject(x)) return false;
  return true;
}

/**
 * The common case, checked by hand: a body the chat schema certainly accepts, used as it is.
 * Anything this does not recognise (including every invalid body) goes through zod, which gives
 * the precise 400; so this may only ever be stricter than the schema, never looser. zod copies
 * every object it accepts, which cost ~5 µs per call on the hot path.
 */
export function isPlainChat(b: unknown): b is ChatBody {
  if (!isPlainObject(b)) return false;
  const { model, stream, metadata, messages } = b;
  if (model !== undefined && typeof model !== 'string') return false;
  if (stream !== undefined && stream !== null && typeof stream !== 'boolean') return false;
  if (!isTokenLimit(b['max_tokens']) || !isTokenLimit(b['max_completion_tokens'])) return false;
  if (!isTokenLimit(b['max_output_tokens'])) return false;
  if (metadata !== undefined && metadata !== null && !isPlainObject(metadata)) return false;
  if (!Array.isArray(messages)) return false;
  for (const m of messages) {
    if (!isPlainObject(m) || typeof m['role'] !== 'string') return false;
    const { content, name } = m;
    if (content !== undefined && content !== null && typeof content !== 'string' && !isObjectArray(content))
      return false;
    if (name !== undefined && typeof name !== 'string') return false;
    const toolCalls = m['tool_calls'];
    if (toolCalls !== undefined && toolCalls !== null && !isObjectArray(toolCalls)) return false;
  }
  return true;
}

type Role = TextSlot['role'];

export function roleOf(role: unknown): Role {
  switch (role) {
    case 'system':
    case 'developer':
      return 'system';
    case 'user':
      return 'user';
    case 'assistant':
      return 'assistant';
    case 'tool':
    case 'function':
      return 'tool';
    default:
      return 'other';
  }
}

function responsesItemRole(item: Record<string, unknown>): Role {
  if (typeof item['role'] === 'string') return roleOf(item['role']);
  const type = item['type'];
  if (typeof type !== 'string') return 'other';
  if (type.endsWith('_output')) return 'tool';
  if (type.endsWith('_call') || type === 'reasoning') return 'assistant';
  return 'other';
}

function maxOf(...values: (number | null | undefined)[]): number | null {
  let out: number | null = null;
  for (const v of values) if (typeof v === 'number' && (out === null || v > out)) out = v;
  return out;
}

interface Common {
  model?: string | undefined;
  stream?: boolean | null | undefined;
  max_tokens?: number | null | undefined;
  max_completion_tokens?: number | null | undefined;
  max_output_tokens?: number | null | undefined;
  metadata?: Record<string, unknown> | null | undefined;
}

function finish(input: NormalizeInput, body: Common, texts: TextSlot[]): NormalizedRequest {
  return {
    provider: input.provider,
    family: 'openai',
    route: input.route,
    model: body.model ?? null,
    texts,
    prompt: joinPrompt(texts),
    // The largest limit is the one that bounds spend, whichever field the upstream honours.
    maxTokens: maxOf(body.max_tokens, body.max_completion_tokens, body.max_output_tokens),
    stream: body.stream === true,
    metadata: collectMetadata(body.metadata, input.metadata),
  };
}

function metadataOf(v: unknown): Record<string, unknown> | null {
  return isPlainObject(v) ? v : null;
}

function normalizeUnsafe(input: NormalizeInput): NormalizedRequest {
  const texts: TextSlot[] = [];
  switch (input.route) {
    case '/v1/chat/completions': {
      // zod validates (and words the 400); the walk reads the caller's own object, in document order.
      if (!isPlainChat(input.body)) parseOrThrow(chatBody, input.body);
      const body = input.body as ChatBody;
      body.messages.forEach((m, i) => collectStrings(m, ['messages', i], roleOf(m.role), texts));
      return finish(input, body, texts);
    }
    case '/v1/completions': {
      const body = parseOrThrow(completionsBody, input.body);
      collectStrings(body.prompt, ['prompt'], 'user', texts);
      collectStrings(body.suffix, ['suffix'], 'user', texts);
      return finish(input, body, texts);
    }
    case '/v1/embeddings': {
      const body = parseOrThrow(embeddingsBody, input.body);
      collectStrings(body.input, ['input'], 'input', texts);
      return finish(input, body, texts);
    }
    case '/v1/responses': {
      const body = parseOrThrow(responsesBody, input.body);
      collectStrings(body.instructions, ['instructions'], 'system', texts);
      if (typeof body.input === 'string') texts.push({ path: ['input'], role: 'user', text: body.input });
      else
        body.input?.forEach((item, i) => collectStrings(item, ['input', i], responsesItemRole(item), texts));
      return finish(input, body, texts);
    }
    default: {
      const surface = normalizeSurface(input, texts);
      if (surface !== null)
        return finish(
          input,
          {
            model: surface.model ?? undefined,
            stream: surface.stream,
            metadata: metadataOf(surface.metadata),
          },
          texts,
        );
      // A route without a dedicated shape: every string outside the envelope is treated as text.
      const body = parseOrThrow(genericBody, input.body);
      for (const [key, value] of Object.entries(body)) {
        if (key !== 'model' && key !== 'metadata') collectStrings(value, [key], 'other', texts);
      }
      return finish(input, body, texts);
    }
  }
}

export function normalizeOpenAI(input: NormalizeInput): NormalizedRequest {
  try {
    return normalizeUnsafe(input);
  } catch (err) {
    if (err instanceof AigovError) throw err;
    // Fail closed: a shape the walkers did not foresee is refused, never forwarded unscanned.
    throw new AigovError('invalid_request', { message: 'Invalid request body', cause: err });
  }
}

export function inferOpenAIRoute(body: unknown): string {
  if (!isPlainObject(body)) return '/v1/chat/completions';
  if ('messages' in body) return '/v1/chat/completions';
  if ('prompt' in body) return '/v1/completions';
  if ('input' in body) {
    const model = body['model'];
    return typeof model === 'string' && model.includes('embed') ? '/v1/embeddings' : '/v1/responses';
  }
  return '/v1/chat/completions';
}
