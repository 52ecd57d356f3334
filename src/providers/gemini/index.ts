/**
 * Google Gemini API (generativelanguage.googleapis.com): `POST /v1beta/models/{model}:action`
 * (and the same under /v1). The model is in the path; the action says what the body is and
 * whether the answer streams (`streamGenerateContent`, with `?alt=sse`). The caller's key comes as
 * `x-goog-api-key` or `?key=`; neither is forwarded, the provider key goes in `x-goog-api-key`.
 */
import { z } from 'zod';
import { AigovError } from '../../errors.js';
import type { NormalizeInput, ProviderAdapter, RouteSpec, StreamTracker } from '../adapter.js';
import type { SseEvent } from '../sse.js';
import { collectMetadata, collectStrings, eventJson, isPlainObject, joinPrompt } from '../text-walk.js';
import { findRoute, routeParams } from '../routes.js';
import type { NormalizedRequest, TextSlot, Usage } from '../types.js';
import { cleanSearch, forwardHeaders, joinUrl } from '../upstream.js';
import { UNKNOWN_USAGE, count, makeUsage, sumKnown, withDetails } from '../usage-helpers.js';
import { parseOrThrow } from '../validation.js';
import { MAX_TOKENS_LIMIT } from '../openai/normalize.js';

const ACTIONS = [
  ['generateContent', 'generate'],
  ['streamGenerateContent', 'generate'],
  ['countTokens', 'count_tokens'],
  ['embedContent', 'embeddings'],
  // What @google/genai's models.embedContent() calls on the Gemini API (not Vertex).
  ['batchEmbedContents', 'embeddings'],
] as const;

export const GEMINI_ROUTES: readonly RouteSpec[] = Object.freeze(
  ['/v1beta', '/v1'].flatMap((version): RouteSpec[] => [
    ...ACTIONS.map(([action, kind]): RouteSpec => ({
      method: 'POST',
      path: `${version}/models/{model}:${action}`,
      url: `${version}/models/*`,
      kind,
      governed: true,
    })),
    { method: 'GET', path: `${version}/models`, kind: 'models', governed: false },
  ]),
);

const isStreamRoute = (route: string): boolean => route.endsWith(':streamGenerateContent');

/** Gemini's `model` names come bare ("gemini-2.5-flash") or as resources ("models/gemini-2.5-flash"). */
function bareModel(name: string): string {
  return name.startsWith('models/') ? name.slice('models/'.length) : name;
}

// --- request ---------------------------------------------------------------------------------

const objectBody = { error: 'expected a JSON object' };
const part = z.looseObject({}, { error: 'expected a part object' });
const content = z.looseObject(
  {
    role: z.string({ error: 'expected a string' }).optional(),
    parts: z.array(part, { error: 'expected an array of parts' }),
  },
  { error: 'expected a content object' },
);
const generationConfig = z
  .looseObject(
    {
      maxOutputTokens: z
        .int({ error: `expected a non-negative integer up to ${MAX_TOKENS_LIMIT}` })
        .min(0)
        .max(MAX_TOKENS_LIMIT)
        .optional(),
    },
    { error: 'expected an object' },
  )
  .optional();
const common = {
  model: z.string({ error: 'expected a string' }).optional(),
  systemInstruction: z.union([content, z.looseObject({ parts: z.array(part) }), z.string()]).optional(),
  generationConfig,
  metadata: z.record(z.string(), z.unknown(), { error: 'expected an object' }).optional(),
};
const generateBody = z.looseObject(
  { ...common, contents: z.array(content, { error: 'expected an array of contents' }) },
  objectBody,
);
const countBody = z.looseObject(
  {
    ...common,
    contents: z.array(content, { error: 'expected an array of contents' }).optional(),
    generateContentRequest: z.looseObject({ contents: z.array(content) }).optional(),
  },
  objectBody,
);
const embedBody = z.looseObject({ ...common, content }, objectBody);
const batchEmbedBody = z.looseObject(
  {
    requests: z.array(
      z.looseObject({ model: z.string().optional(), content }, { error: 'expected a request' }),
      {
        error: 'expected an array of requests',
      },
    ),
    metadata: common.metadata,
  },
  objectBody,
);

type Role = TextSlot['role'];

function roleOf(role: unknown): Role {
  if (role === 'model') return 'assistant';
  if (role === 'function' || role === 'tool') return 'tool';
  return 'user';
}

/** Every text of a part: text, function call arguments and responses; inline/file data is not text. */
function collectParts(parts: unknown[], base: (string | number)[], role: Role, out: TextSlot[]): void {
  parts.forEach((p, j) => {
    if (!isPlainObject(p)) return;
    const at = [...base, j];
    if (typeof p['text'] === 'string') {
      // A model's thought summaries are text too; only `thoughtSignature` (opaque) is skipped.
      out.push({ path: [...at, 'text'], role, text: p['text'] });
      return;
    }
    if (isPlainObject(p['functionCall'])) {
      collectStrings(p['functionCall']['args'], [...at, 'functionCall', 'args'], 'assistant', out, {
        raw: true,
      });
      return;
    }
    if (isPlainObject(p['functionResponse'])) {
      collectStrings(
        p['functionResponse']['response'],
        [...at, 'functionResponse', 'response'],
        'tool',
        out,
        {
          raw: true,
        },
      );
      return;
    }
    if ('inlineData' in p || 'fileData' in p) return;
    // A part type this adapter does not know: every string in it is scanned (fail closed).
    for (const [key, value] of Object.entries(p))
      if (key !== 'thoughtSignature') collectStrings(value, [...at, key], role, out);
  });
}

function collectContents(contents: unknown[] | undefined, base: (string | number)[], out: TextSlot[]): void {
  contents?.forEach((c, i) => {
    if (isPlainObject(c) && Array.isArray(c['parts']))
      collectParts(c['parts'], [...base, i, 'parts'], roleOf(c['role']), out);
  });
}

function collectSystem(system: unknown, out: TextSlot[]): void {
  if (typeof system === 'string') out.push({ path: ['systemInstruction'], role: 'system', text: system });
  else if (isPlainObject(system) && Array.isArray(system['parts']))
    collectParts(system['parts'], ['systemInstruction', 'parts'], 'system', out);
}

function normalizeUnsafe(input: NormalizeInput): NormalizedRequest {
  const texts: TextSlot[] = [];
  const pathModel = input.path === undefined ? null : modelInPath(input.path);
  const route = input.route;
  /** What every body shape shares: the model it may name, its output cap and metadata. */
  let body: { model?: string | undefined; metadata?: Record<string, unknown> | undefined };
  let maxTokens: number | null = null;
  if (route.endsWith(':batchEmbedContents')) {
    const b = parseOrThrow(batchEmbedBody, input.body);
    b.requests.forEach((r, i) =>
      collectParts(r.content.parts, ['requests', i, 'content', 'parts'], 'input', texts),
    );
    body = { model: b.requests[0]?.model, metadata: b.metadata };
  } else if (route.endsWith(':embedContent')) {
    const b = parseOrThrow(embedBody, input.body);
    collectParts(b.content.parts, ['content', 'parts'], 'input', texts);
    maxTokens = b.generationConfig?.maxOutputTokens ?? null;
    body = b;
  } else if (route.endsWith(':countTokens')) {
    const b = parseOrThrow(countBody, input.body);
    collectSystem(b.systemInstruction, texts);
    collectContents(b.contents, ['contents'], texts);
    const inner = b.generateContentRequest;
    if (inner) {
      collectSystem(inner['systemInstruction'], texts);
      collectContents(inner.contents, ['generateContentRequest', 'contents'], texts);
    }
    maxTokens = b.generationConfig?.maxOutputTokens ?? null;
    body = b;
  } else {
    const b = parseOrThrow(generateBody, input.body);
    collectSystem(b.systemInstruction, texts);
    collectContents(b.contents, ['contents'], texts);
    maxTokens = b.generationConfig?.maxOutputTokens ?? null;
    body = b;
  }
  const named = pathModel ?? (body.model === undefined ? null : bareModel(body.model));
  return {
    provider: input.provider,
    family: 'gemini',
    route,
    model: named,
    texts,
    prompt: joinPrompt(texts),
    maxTokens,
    stream: isStreamRoute(route),
    metadata: collectMetadata(body.metadata, input.metadata),
  };
}

function normalizeGemini(input: NormalizeInput): NormalizedRequest {
  try {
    return normalizeUnsafe(input);
  } catch (err) {
    if (err instanceof AigovError) throw err;
    throw new AigovError('invalid_request', { message: 'Invalid request body', cause: err });
  }
}

function modelInPath(path: string): string | null {
  const spec = findRoute(GEMINI_ROUTES, 'POST', path);
  if (spec === undefined) return null;
  const model = routeParams(spec, path)?.[0];
  if (model === undefined) return null;
  try {
    return bareModel(decodeURIComponent(model));
  } catch {
    return bareModel(model);
  }
}

// --- response --------------------------------------------------------------------------------

/**
 * usageMetadata: promptTokenCount includes cachedContentTokenCount; thoughtsTokenCount is billed as
 * output beside candidatesTokenCount; toolUsePromptTokenCount is input the model read from tools.
 */
export function usageFromGeminiMetadata(meta: unknown): Usage {
  if (!isPlainObject(meta)) return UNKNOWN_USAGE;
  const prompt = count(meta['promptTokenCount']);
  const toolPrompt = count(meta['toolUsePromptTokenCount']);
  const candidates = count(meta['candidatesTokenCount']);
  const thoughts = count(meta['thoughtsTokenCount']);
  const input = prompt === null ? null : prompt + (toolPrompt ?? 0);
  // A response without candidates (blocked prompt) has no candidatesTokenCount: 0 output.
  const output = input === null ? sumKnown(candidates, thoughts) : (sumKnown(candidates, thoughts) ?? 0);
  return withDetails(makeUsage(input, output, count(meta['totalTokenCount'])), {
    cached: count(meta['cachedContentTokenCount']),
    reasoning: thoughts,
  });
}

function usageFromGeminiBody(route: string, body: unknown): Usage {
  if (!isPlainObject(body)) return UNKNOWN_USAGE;
  // Counting tokens is free: the answer's totalTokens is the result, not consumption.
  if (route.endsWith(':countTokens')) return makeUsage(0, 0, 0);
  return usageFromGeminiMetadata(body['usageMetadata']);
}

function geminiResponseTexts(_route: string, body: unknown): TextSlot[] {
  const out: TextSlot[] = [];
  if (!isPlainObject(body) || !Array.isArray(body['candidates'])) return out;
  body['candidates'].forEach((c, i) => {
    if (isPlainObject(c) && isPlainObject(c['content']) && Array.isArray(c['content']['parts']))
      collectParts(c['content']['parts'], ['candidates', i, 'content', 'parts'], 'assistant', out);
  });
  return out;
}

class GeminiStreamTracker implements StreamTracker {
  private seen: Usage = UNKNOWN_USAGE;
  private readonly parts = new Map<number, string[]>();
  private done = false;

  onEvent(ev: SseEvent): { forward: boolean } {
    const json = eventJson(ev.data);
    if (json === null) return { forward: true };
    // usageMetadata is cumulative: the last one seen is the call's.
    if (isPlainObject(json['usageMetadata'])) this.seen = usageFromGeminiMetadata(json['usageMetadata']);
    if (Array.isArray(json['candidates'])) {
      json['candidates'].forEach((c, i) => {
        if (!isPlainObject(c)) return;
        const index = count(c['index']) ?? i;
        for (const slot of geminiResponseTexts('', { candidates: [c] })) {
          const list = this.parts.get(index);
          if (list === undefined) this.parts.set(index, [slot.text]);
          else list.push(slot.text);
        }
        if (typeof c['finishReason'] === 'string') this.done = true;
      });
    }
    return { forward: true };
  }

  usage(): Usage {
    return this.seen;
  }

  text(): string {
    const keys = [...this.parts.keys()].sort((a, b) => a - b);
    return keys.map((k) => this.parts.get(k)!.join('')).join('\n');
  }

  finished(): boolean {
    return this.done;
  }
}

// --- errors ----------------------------------------------------------------------------------

const STATUS_NAMES: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  405: 'INVALID_ARGUMENT',
  413: 'INVALID_ARGUMENT',
  415: 'INVALID_ARGUMENT',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  502: 'UNAVAILABLE',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

/**
 * Google's error shape. @google/genai raises ApiError with the HTTP status for any non-2xx answer
 * and for a stream chunk carrying `error.code`; the rule id (or catalogue code) travels as an
 * ErrorInfo `reason`, the way Google APIs name the cause, and in the message.
 */
export function geminiErrorBody(err: AigovError): {
  error: { code: number; message: string; status: string; details: unknown[] };
} {
  const message =
    err.status === 403 || err.status === 429 ? `${err.message} (${err.providerCode})` : err.message;
  return {
    error: {
      code: err.status,
      message,
      status: STATUS_NAMES[err.status] ?? 'UNKNOWN',
      details: [
        { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: err.providerCode, domain: 'aigov' },
      ],
    },
  };
}

export function createGeminiAdapter(): ProviderAdapter {
  return {
    family: 'gemini',
    routes: GEMINI_ROUTES,
    routeFor: (method, path) => findRoute(GEMINI_ROUTES, method, path),
    inferRoute(body) {
      if (isPlainObject(body) && Array.isArray(body['requests']))
        return '/v1beta/models/{model}:batchEmbedContents';
      if (isPlainObject(body) && 'content' in body && !('contents' in body))
        return '/v1beta/models/{model}:embedContent';
      return '/v1beta/models/{model}:generateContent';
    },
    normalize: normalizeGemini,
    modelFromPath: modelInPath,
    queryKey: 'key',
    buildUpstream(input) {
      const headers = forwardHeaders(input);
      if (input.credential !== null) headers['x-goog-api-key'] = input.credential;
      return {
        url: joinUrl(input.baseUrl, input.path ?? input.route, cleanSearch(input.search, 'key')),
        headers,
      };
    },
    prepareBody: (_req, body) => ({ body, changed: false, clientWantsUsage: true }),
    usageFromBody: usageFromGeminiBody,
    createStreamTracker: () => new GeminiStreamTracker(),
    responseTexts: geminiResponseTexts,
    errorBody: geminiErrorBody,
    streamErrorEvent: (err) => `data: ${JSON.stringify(geminiErrorBody(err))}\n\n`,
  };
}
