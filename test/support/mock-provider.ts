/**
 * A mock LLM upstream speaking the OpenAI and Anthropic wire formats, for e2e tests and
 * benchmarks. Plain node:http on port 0, no logging, no per-request allocation beyond the reply.
 *
 * Behaviour comes from three layers, later wins: built-in defaults, setBehavior(), and a
 * per-request `x-mock-behavior: <JSON>` header (so one server can vary per call).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import type { AddressInfo, Socket } from 'node:net';
import {
  attachRealtime,
  type RealtimeSessionRecord,
  handleSurface,
  isMultipart,
  readMultipart,
  surfaceState,
  type ReceivedForm,
  type SurfaceState,
} from './mock-surface.js';

export interface MockBehavior {
  /** Fixed reply text; default "Hello from the mock provider." */
  reply: string;
  /** Reply with the last user message's text instead of `reply`. */
  echo: boolean;
  /** Answer with this status and body (default body: the provider's error shape). */
  fail: { status: number; body?: unknown; headers?: Record<string, string> } | null;
  /** Read the request, never answer (timeouts). */
  hang: boolean;
  /** Destroy the socket after reading the request. */
  reset: boolean;
  /** Destroy the socket mid-stream after this many content chunks. */
  resetAfterChunks: number | null;
  /** Delay before the status line, in ms. */
  slowFirstByte: number;
  /** Delay between stream chunks, in ms. */
  chunkDelayMs: number;
  /** Number of content chunks a stream is split into. */
  chunks: number;
  /** Leave usage out of replies (to test "unknown is not 0"). */
  omitUsage: boolean;
  /**
   * Fixed token counts; default: ceil(chars / 4) of prompt and reply. `cached` (cache reads),
   * `cacheWrite` and `reasoning` are reported in each API's own fields, as parts of (OpenAI,
   * Gemini) or beside (Anthropic, Bedrock) the input and output counts, as that provider does.
   */
  usage: {
    prompt: number;
    completion: number;
    cached?: number;
    cacheWrite?: number;
    reasoning?: number;
  } | null;
  /** Bytes of audio /v1/audio/speech answers with. */
  speechBytes: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  /** Path and query as received. */
  url: string;
  /** The body exactly as received. */
  raw: string;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON, the raw string when not JSON, null for no body, or the form of a multipart body. */
  body: unknown;
  /** Multipart requests: text fields and received files (size, hash, text when small). */
  form?: ReceivedForm;
}

export interface MockProviderOptions {
  /** Record requests in `requests` (default true; benchmarks turn it off). */
  record?: boolean;
  behavior?: Partial<MockBehavior>;
}

export interface MockProvider {
  url: string;
  port: number;
  requests: RecordedRequest[];
  /** Files and batches the mock holds (uploaded through /v1/files, created at /v1/batches). */
  surface: SurfaceState;
  /** Realtime WebSocket sessions the mock accepted, with the events it received. */
  realtime: RealtimeSessionRecord[];
  setBehavior(b: Partial<MockBehavior>): void;
  /** Back to the defaults (and to the options' behaviour). */
  resetBehavior(): void;
  close(): Promise<void>;
}

export const DEFAULT_REPLY = 'Hello from the mock provider.';

const DEFAULTS: MockBehavior = {
  reply: DEFAULT_REPLY,
  echo: false,
  fail: null,
  hang: false,
  reset: false,
  resetAfterChunks: null,
  slowFirstByte: 0,
  chunkDelayMs: 0,
  chunks: 5,
  omitUsage: false,
  usage: null,
  speechBytes: 256 * 1024,
};

const sleep = (ms: number): Promise<void> =>
  ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((p) => (isObject(p) && typeof p['text'] === 'string' ? p['text'] : ''))
      .filter((s) => s !== '')
      .join('\n');
  }
  return '';
}

/** Gemini `contents[].parts[].text` (and systemInstruction), joined. */
function geminiTexts(contents: unknown, onlyRole?: string): string[] {
  const out: string[] = [];
  if (!Array.isArray(contents)) return out;
  for (const c of contents) {
    if (!isObject(c) || !Array.isArray(c['parts'])) continue;
    if (onlyRole !== undefined && (c['role'] ?? 'user') !== onlyRole) continue;
    out.push(textOf(c['parts']));
  }
  return out;
}

function promptText(body: Record<string, unknown>): string {
  const parts: string[] = [];
  parts.push(...geminiTexts(body['contents']));
  if (isObject(body['systemInstruction'])) parts.push(...geminiTexts([body['systemInstruction']]));
  if (typeof body['system'] === 'string') parts.push(body['system']);
  else if (Array.isArray(body['system'])) parts.push(textOf(body['system']));
  if (typeof body['instructions'] === 'string') parts.push(body['instructions']);
  const messages = body['messages'];
  if (Array.isArray(messages)) for (const m of messages) if (isObject(m)) parts.push(textOf(m['content']));
  for (const key of ['prompt', 'input'] as const) {
    const v = body[key];
    if (typeof v === 'string') parts.push(v);
    else if (Array.isArray(v)) {
      for (const item of v) {
        if (typeof item === 'string') parts.push(item);
        else if (isObject(item)) parts.push(textOf(item['content']));
      }
    }
  }
  return parts.join('\n');
}

function lastUserText(body: Record<string, unknown>): string {
  const gemini = geminiTexts(body['contents'], 'user');
  if (gemini.length > 0) return gemini.at(-1)!;
  const messages = body['messages'];
  if (Array.isArray(messages)) {
    for (let i = messages.length - 1; i >= 0; i--) {
      const m: unknown = messages[i];
      if (isObject(m) && m['role'] === 'user') return textOf(m['content']);
    }
  }
  const input = body['input'] ?? body['prompt'];
  if (typeof input === 'string') return input;
  if (Array.isArray(input)) {
    for (let i = input.length - 1; i >= 0; i--) {
      const item: unknown = input[i];
      if (typeof item === 'string') return item;
      if (isObject(item) && item['role'] === 'user') return textOf(item['content']);
    }
  }
  return '';
}

const tokens = (s: string): number => Math.max(1, Math.ceil(s.length / 4));

function split(text: string, n: number): string[] {
  const count = Math.max(1, Math.floor(n));
  const size = Math.ceil(text.length / count);
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(text.slice(i * size, (i + 1) * size));
  return out;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseBehaviorHeader(v: string | string[] | undefined): Partial<MockBehavior> {
  if (typeof v !== 'string') return {};
  try {
    const parsed: unknown = JSON.parse(v);
    return isObject(parsed) ? (parsed as Partial<MockBehavior>) : {};
  } catch {
    return {};
  }
}

interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  body: Record<string, unknown>;
  b: MockBehavior;
  replyText: string;
  promptTokens: number;
  completionTokens: number;
}

const now = (): number => Math.floor(Date.now() / 1000);
let seq = 0;
const nextId = (prefix: string): string => `${prefix}${(++seq).toString(36)}`;

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
    ...headers,
  });
  res.end(payload);
}

/** Write SSE frames, honouring the chunk delay and a mid-stream reset. */
async function stream(ctx: Ctx, frames: string[], contentFrameFlags: boolean[]): Promise<void> {
  const { res, b } = ctx;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  let contentSent = 0;
  for (let i = 0; i < frames.length; i++) {
    if (contentFrameFlags[i] === true) {
      if (b.resetAfterChunks !== null && contentSent >= b.resetAfterChunks) {
        // Let what was written reach the client first, or the reset would swallow it.
        await new Promise<void>((r) => res.write('', () => r()));
        await sleep(10);
        res.socket?.destroy();
        return;
      }
      if (contentSent > 0) await sleep(b.chunkDelayMs);
      contentSent++;
    }
    if (res.destroyed) return;
    res.write(frames[i]);
  }
  res.end();
}

const dataFrame = (obj: unknown): string => `data: ${JSON.stringify(obj)}\n\n`;
const namedFrame = (event: string, obj: unknown): string =>
  `event: ${event}\ndata: ${JSON.stringify(obj)}\n\n`;

async function chat(ctx: Ctx, legacy: boolean): Promise<void> {
  const { body, b } = ctx;
  const model = typeof body['model'] === 'string' ? body['model'] : 'mock-model';
  const id = nextId(legacy ? 'cmpl-' : 'chatcmpl-');
  const created = now();
  const usage: Record<string, unknown> = {
    prompt_tokens: ctx.promptTokens,
    completion_tokens: ctx.completionTokens,
    total_tokens: ctx.promptTokens + ctx.completionTokens,
  };
  if (b.usage?.cached !== undefined) usage['prompt_tokens_details'] = { cached_tokens: b.usage.cached };
  if (b.usage?.reasoning !== undefined)
    usage['completion_tokens_details'] = { reasoning_tokens: b.usage.reasoning };
  const object = legacy ? 'text_completion' : 'chat.completion';
  if (body['stream'] !== true) {
    const choice = legacy
      ? { index: 0, text: ctx.replyText, logprobs: null, finish_reason: 'stop' }
      : {
          index: 0,
          message: { role: 'assistant', content: ctx.replyText, refusal: null },
          logprobs: null,
          finish_reason: 'stop',
        };
    const reply: Record<string, unknown> = { id, object, created, model, choices: [choice] };
    if (!b.omitUsage) reply['usage'] = usage;
    sendJson(ctx.res, 200, reply);
    return;
  }
  const so = body['stream_options'];
  const includeUsage = isObject(so) && so['include_usage'] === true && !b.omitUsage;
  const chunkObject = legacy ? 'text_completion' : 'chat.completion.chunk';
  const base = { id, object: chunkObject, created, model };
  const extra = includeUsage ? { usage: null } : {};
  const frames: string[] = [];
  const flags: boolean[] = [];
  const pieces = split(ctx.replyText, b.chunks);
  pieces.forEach((piece, i) => {
    const delta = i === 0 && !legacy ? { role: 'assistant', content: piece } : { content: piece };
    const choice = legacy
      ? { index: 0, text: piece, logprobs: null, finish_reason: null }
      : { index: 0, delta, logprobs: null, finish_reason: null };
    frames.push(dataFrame({ ...base, choices: [choice], ...extra }));
    flags.push(true);
  });
  const last = legacy
    ? { index: 0, text: '', logprobs: null, finish_reason: 'stop' }
    : { index: 0, delta: {}, logprobs: null, finish_reason: 'stop' };
  frames.push(dataFrame({ ...base, choices: [last], ...extra }));
  flags.push(false);
  if (includeUsage) {
    frames.push(dataFrame({ ...base, choices: [], usage }));
    flags.push(false);
  }
  frames.push('data: [DONE]\n\n');
  flags.push(false);
  await stream(ctx, frames, flags);
}

function embeddings(ctx: Ctx): void {
  const { body, b } = ctx;
  const input = body['input'];
  const n = Array.isArray(input) ? input.length : 1;
  const data = Array.from({ length: n }, (_, index) => ({
    object: 'embedding',
    index,
    embedding: [0.1, 0.2, 0.3, 0.4],
  }));
  const reply: Record<string, unknown> = {
    object: 'list',
    data,
    model: typeof body['model'] === 'string' ? body['model'] : 'mock-embedding',
  };
  if (!b.omitUsage) reply['usage'] = { prompt_tokens: ctx.promptTokens, total_tokens: ctx.promptTokens };
  sendJson(ctx.res, 200, reply);
}

async function responses(ctx: Ctx): Promise<void> {
  const { body, b } = ctx;
  const model = typeof body['model'] === 'string' ? body['model'] : 'mock-model';
  const id = nextId('resp_');
  const msgId = nextId('msg_');
  const usage = b.omitUsage
    ? null
    : {
        input_tokens: ctx.promptTokens,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: ctx.completionTokens,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: ctx.promptTokens + ctx.completionTokens,
      };
  const part = { type: 'output_text', text: ctx.replyText, annotations: [] };
  const item = { type: 'message', id: msgId, status: 'completed', role: 'assistant', content: [part] };
  const response = (status: string, output: unknown[], u: unknown): Record<string, unknown> => ({
    id,
    object: 'response',
    created_at: now(),
    status,
    model,
    output,
    usage: u,
  });
  if (body['stream'] !== true) {
    sendJson(ctx.res, 200, response('completed', [item], usage));
    return;
  }
  let sn = 0;
  const ev = (type: string, fields: Record<string, unknown>): string =>
    namedFrame(type, { type, sequence_number: sn++, ...fields });
  const frames: string[] = [];
  const flags: boolean[] = [];
  const push = (f: string, content = false): void => {
    frames.push(f);
    flags.push(content);
  };
  push(ev('response.created', { response: response('in_progress', [], null) }));
  push(ev('response.in_progress', { response: response('in_progress', [], null) }));
  push(
    ev('response.output_item.added', {
      output_index: 0,
      item: { ...item, status: 'in_progress', content: [] },
    }),
  );
  push(
    ev('response.content_part.added', {
      item_id: msgId,
      output_index: 0,
      content_index: 0,
      part: { type: 'output_text', text: '', annotations: [] },
    }),
  );
  for (const piece of split(ctx.replyText, b.chunks)) {
    push(
      ev('response.output_text.delta', {
        item_id: msgId,
        output_index: 0,
        content_index: 0,
        delta: piece,
        logprobs: [],
      }),
      true,
    );
  }
  push(
    ev('response.output_text.done', {
      item_id: msgId,
      output_index: 0,
      content_index: 0,
      text: ctx.replyText,
      logprobs: [],
    }),
  );
  push(ev('response.content_part.done', { item_id: msgId, output_index: 0, content_index: 0, part }));
  push(ev('response.output_item.done', { output_index: 0, item }));
  push(ev('response.completed', { response: response('completed', [item], usage) }));
  await stream(ctx, frames, flags);
}

async function messages(ctx: Ctx): Promise<void> {
  const { body, b } = ctx;
  const model = typeof body['model'] === 'string' ? body['model'] : 'mock-claude';
  const id = nextId('msg_');
  if (body['stream'] !== true) {
    const reply: Record<string, unknown> = {
      id,
      type: 'message',
      role: 'assistant',
      model,
      content: [{ type: 'text', text: ctx.replyText }],
      stop_reason: 'end_turn',
      stop_sequence: null,
    };
    if (!b.omitUsage) {
      reply['usage'] = {
        input_tokens: ctx.promptTokens,
        output_tokens: ctx.completionTokens,
        ...(b.usage?.cached !== undefined ? { cache_read_input_tokens: b.usage.cached } : {}),
        ...(b.usage?.cacheWrite !== undefined ? { cache_creation_input_tokens: b.usage.cacheWrite } : {}),
      };
    }
    sendJson(ctx.res, 200, reply);
    return;
  }
  const frames: string[] = [];
  const flags: boolean[] = [];
  const push = (event: string, obj: unknown, content = false): void => {
    frames.push(namedFrame(event, obj));
    flags.push(content);
  };
  const startUsage = b.omitUsage ? undefined : { input_tokens: ctx.promptTokens, output_tokens: 1 };
  push('message_start', {
    type: 'message_start',
    message: {
      id,
      type: 'message',
      role: 'assistant',
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: startUsage,
    },
  });
  push('content_block_start', {
    type: 'content_block_start',
    index: 0,
    content_block: { type: 'text', text: '' },
  });
  push('ping', { type: 'ping' });
  for (const piece of split(ctx.replyText, b.chunks)) {
    push(
      'content_block_delta',
      { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: piece } },
      true,
    );
  }
  push('content_block_stop', { type: 'content_block_stop', index: 0 });
  push('message_delta', {
    type: 'message_delta',
    delta: { stop_reason: 'end_turn', stop_sequence: null },
    usage: b.omitUsage ? undefined : { output_tokens: ctx.completionTokens },
  });
  push('message_stop', { type: 'message_stop' });
  await stream(ctx, frames, flags);
}

const MODELS = {
  object: 'list',
  data: [
    { id: 'gpt-4o-mini', object: 'model', created: 1700000000, owned_by: 'mock' },
    { id: 'claude-sonnet-4-5', object: 'model', created: 1700000000, owned_by: 'mock' },
  ],
};

const ANTHROPIC_MODELS = {
  data: [
    {
      type: 'model',
      id: 'claude-sonnet-4-5',
      display_name: 'Claude Sonnet 4.5',
      created_at: '2025-01-01T00:00:00Z',
    },
  ],
  has_more: false,
  first_id: 'claude-sonnet-4-5',
  last_id: 'claude-sonnet-4-5',
};

function failBody(path: string, status: number): unknown {
  const message = `mock failure ${status}`;
  if (path.startsWith('/v1/messages')) {
    return { type: 'error', error: { type: status === 429 ? 'rate_limit_error' : 'api_error', message } };
  }
  return {
    error: { message, type: status === 429 ? 'rate_limit_error' : 'server_error', code: null, param: null },
  };
}

/**
 * Gemini API: generateContent, streamGenerateContent (SSE with alt=sse), countTokens, embedContent and
 * batchEmbedContents (what @google/genai's embedContent() calls).
 */
async function geminiCall(ctx: Ctx, model: string, action: string): Promise<void> {
  const { b } = ctx;
  if (action === 'countTokens') return sendJson(ctx.res, 200, { totalTokens: ctx.promptTokens });
  if (action === 'embedContent') return sendJson(ctx.res, 200, { embedding: { values: [0.1, 0.2, 0.3] } });
  if (action === 'batchEmbedContents') {
    const n = Array.isArray(ctx.body['requests']) ? ctx.body['requests'].length : 0;
    return sendJson(ctx.res, 200, {
      embeddings: Array.from({ length: n }, () => ({ values: [0.1, 0.2, 0.3] })),
    });
  }
  if (action !== 'generateContent' && action !== 'streamGenerateContent')
    return sendJson(ctx.res, 404, { error: { code: 404, message: 'no such action', status: 'NOT_FOUND' } });
  const reasoning = b.usage?.reasoning ?? 0;
  const usageMetadata: Record<string, unknown> = {
    promptTokenCount: ctx.promptTokens,
    candidatesTokenCount: ctx.completionTokens - reasoning,
    totalTokenCount: ctx.promptTokens + ctx.completionTokens,
  };
  if (b.usage?.cached !== undefined) usageMetadata['cachedContentTokenCount'] = b.usage.cached;
  if (b.usage?.reasoning !== undefined) usageMetadata['thoughtsTokenCount'] = reasoning;
  const chunk = (text: string, last: boolean): Record<string, unknown> => ({
    candidates: [
      { content: { parts: [{ text }], role: 'model' }, index: 0, ...(last ? { finishReason: 'STOP' } : {}) },
    ],
    ...(last && !b.omitUsage ? { usageMetadata } : {}),
    modelVersion: model,
    responseId: nextId('gem-'),
  });
  if (action === 'generateContent') return sendJson(ctx.res, 200, chunk(ctx.replyText, true));
  const pieces = split(ctx.replyText, b.chunks);
  const frames = pieces.map((p, i) => `data: ${JSON.stringify(chunk(p, i === pieces.length - 1))}\r\n\r\n`);
  await stream(
    ctx,
    frames,
    frames.map(() => true),
  );
}

const eventCodec = new EventStreamCodec(toUtf8, fromUtf8);

function eventMessage(type: string, payload: unknown): Uint8Array {
  return eventCodec.encode({
    headers: {
      ':message-type': { type: 'string', value: 'event' },
      ':event-type': { type: 'string', value: type },
      ':content-type': { type: 'string', value: 'application/json' },
    },
    body: fromUtf8(JSON.stringify(payload)),
  });
}

/**
 * Bedrock Runtime: Converse (JSON; converse-stream as AWS event-stream messages) and InvokeModel
 * in the model family's own format, chosen by model id: Amazon Nova (`output.message.content`,
 * `usage.inputTokens`), Meta Llama (`generation`, `prompt_token_count`, `generation_token_count`),
 * else Anthropic messages. invoke-with-response-stream sends `chunk` events whose base64 `bytes`
 * hold that family's stream chunks, the last with `amazon-bedrock-invocationMetrics`. Cache reads
 * and writes are reported beside the uncached input, as Bedrock does.
 */
async function bedrockCall(ctx: Ctx, modelId: string, action: string): Promise<void> {
  const { b, res } = ctx;
  const usage: Record<string, unknown> = {
    inputTokens: ctx.promptTokens,
    outputTokens: ctx.completionTokens,
    totalTokens:
      ctx.promptTokens + ctx.completionTokens + (b.usage?.cached ?? 0) + (b.usage?.cacheWrite ?? 0),
  };
  if (b.usage?.cached !== undefined) usage['cacheReadInputTokens'] = b.usage.cached;
  if (b.usage?.cacheWrite !== undefined) usage['cacheWriteInputTokens'] = b.usage.cacheWrite;
  const pieces = split(ctx.replyText, b.chunks);
  const eventStream = async (messages: Uint8Array[]): Promise<void> => {
    res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream' });
    for (let i = 0; i < messages.length; i++) {
      if (i > 0) await sleep(b.chunkDelayMs);
      if (res.destroyed) return;
      res.write(messages[i]);
    }
    res.end();
  };
  if (action === 'converse') {
    return sendJson(res, 200, {
      output: { message: { role: 'assistant', content: [{ text: ctx.replyText }] } },
      stopReason: 'end_turn',
      usage,
      metrics: { latencyMs: 1 },
    });
  }
  if (action === 'converse-stream') {
    return eventStream([
      eventMessage('messageStart', { role: 'assistant' }),
      ...pieces.map((p) => eventMessage('contentBlockDelta', { contentBlockIndex: 0, delta: { text: p } })),
      eventMessage('contentBlockStop', { contentBlockIndex: 0 }),
      eventMessage('messageStop', { stopReason: 'end_turn' }),
      eventMessage('metadata', { usage, metrics: { latencyMs: 1 } }),
    ]);
  }
  const chunk = (obj: unknown): Uint8Array =>
    eventMessage('chunk', { bytes: Buffer.from(JSON.stringify(obj)).toString('base64') });
  const invocationMetrics = {
    inputTokenCount: ctx.promptTokens,
    outputTokenCount: ctx.completionTokens,
    invocationLatency: 1,
    firstByteLatency: 1,
    ...(b.usage?.cached !== undefined ? { cacheReadInputTokenCount: b.usage.cached } : {}),
    ...(b.usage?.cacheWrite !== undefined ? { cacheWriteInputTokenCount: b.usage.cacheWrite } : {}),
  };
  const metrics = b.omitUsage ? {} : { 'amazon-bedrock-invocationMetrics': invocationMetrics };
  const streamed = action === 'invoke-with-response-stream';
  if (/(^|\.)amazon\.nova-/.test(modelId)) {
    // Amazon Nova's own body: Converse-like, with usage counts named ...Count for cache tokens.
    const novaUsage = {
      inputTokens: ctx.promptTokens,
      outputTokens: ctx.completionTokens,
      totalTokens: ctx.promptTokens + ctx.completionTokens,
      ...(b.usage?.cached !== undefined ? { cacheReadInputTokenCount: b.usage.cached } : {}),
      ...(b.usage?.cacheWrite !== undefined ? { cacheWriteInputTokenCount: b.usage.cacheWrite } : {}),
    };
    if (!streamed)
      return sendJson(res, 200, {
        output: { message: { role: 'assistant', content: [{ text: ctx.replyText }] } },
        stopReason: 'end_turn',
        ...(b.omitUsage ? {} : { usage: novaUsage }),
      });
    return eventStream([
      chunk({ messageStart: { role: 'assistant' } }),
      ...pieces.map((p) => chunk({ contentBlockDelta: { delta: { text: p }, contentBlockIndex: 0 } })),
      chunk({ contentBlockStop: { contentBlockIndex: 0 } }),
      chunk({ messageStop: { stopReason: 'end_turn' } }),
      chunk({
        metadata: { ...(b.omitUsage ? {} : { usage: novaUsage }), metrics: {}, trace: {} },
        ...metrics,
      }),
    ]);
  }
  if (/(^|\.)meta\.llama/.test(modelId)) {
    // Meta Llama: `prompt` in, `generation` out, counts beside it; each stream chunk is a piece.
    if (!streamed)
      return sendJson(res, 200, {
        generation: ctx.replyText,
        prompt_token_count: b.omitUsage ? null : ctx.promptTokens,
        generation_token_count: b.omitUsage ? null : ctx.completionTokens,
        stop_reason: 'stop',
      });
    return eventStream(
      pieces.map((p, i) =>
        chunk({
          generation: p,
          prompt_token_count: i === 0 && !b.omitUsage ? ctx.promptTokens : null,
          generation_token_count: i + 1,
          stop_reason: i === pieces.length - 1 ? 'stop' : null,
          ...(i === pieces.length - 1 ? metrics : {}),
        }),
      ),
    );
  }
  // Anthropic's messages format (anthropic_version bedrock-2023-05-31).
  const anthropicUsage = {
    input_tokens: ctx.promptTokens,
    output_tokens: ctx.completionTokens,
    ...(b.usage?.cached !== undefined ? { cache_read_input_tokens: b.usage.cached } : {}),
    ...(b.usage?.cacheWrite !== undefined ? { cache_creation_input_tokens: b.usage.cacheWrite } : {}),
  };
  const messageId = nextId('msg_');
  if (!streamed) {
    return sendJson(res, 200, {
      id: messageId,
      type: 'message',
      role: 'assistant',
      model: modelId,
      content: [{ type: 'text', text: ctx.replyText }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      ...(b.omitUsage ? {} : { usage: anthropicUsage }),
    });
  }
  return eventStream([
    chunk({
      type: 'message_start',
      message: {
        id: messageId,
        type: 'message',
        role: 'assistant',
        model: modelId,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: ctx.promptTokens, output_tokens: 1 },
      },
    }),
    chunk({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
    ...pieces.map((p) =>
      chunk({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: p } }),
    ),
    chunk({ type: 'content_block_stop', index: 0 }),
    chunk({
      type: 'message_delta',
      delta: { stop_reason: 'end_turn', stop_sequence: null },
      usage: { output_tokens: ctx.completionTokens },
    }),
    chunk({ type: 'message_stop', ...metrics }),
  ]);
}

/** Azure OpenAI paths serve the OpenAI API: /openai/deployments/{d}/x and /openai/v1/x are /v1/x. */
function azurePath(path: string): string {
  const m = /^\/openai\/deployments\/[^/]+(\/.*)$/.exec(path);
  if (m) return `/v1${m[1]}`;
  return path.startsWith('/openai/v1/') ? path.slice('/openai'.length) : path;
}

export async function startMockProvider(opts: MockProviderOptions = {}): Promise<MockProvider> {
  const record = opts.record ?? true;
  const base: MockBehavior = { ...DEFAULTS, ...opts.behavior };
  let behavior: MockBehavior = { ...base };
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const surface = surfaceState();

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = isMultipart(req) ? await readMultipart(req, surface.dir) : null;
    const raw = form ? '' : await readBody(req);
    let parsed: unknown = form ? form.fields : null;
    if (raw !== '') {
      try {
        parsed = JSON.parse(raw);
      } catch {
        parsed = raw;
      }
    }
    const q = req.url?.indexOf('?') ?? -1;
    const path = q === -1 ? (req.url ?? '/') : (req.url ?? '/').slice(0, q);
    if (record)
      requests.push({
        method: req.method ?? 'GET',
        path,
        url: req.url ?? '/',
        raw,
        headers: req.headers,
        body: parsed,
        ...(form ? { form } : {}),
      });
    const b: MockBehavior = { ...behavior, ...parseBehaviorHeader(req.headers['x-mock-behavior']) };
    if (b.hang) return;
    if (b.reset) {
      req.socket.destroy();
      return;
    }
    await sleep(b.slowFirstByte);
    if (b.fail !== null) {
      sendJson(res, b.fail.status, b.fail.body ?? failBody(path, b.fail.status), b.fail.headers);
      return;
    }
    const body = isObject(parsed) ? parsed : {};
    if (req.method === 'GET' && path === '/v1/models') {
      sendJson(res, 200, 'anthropic-version' in req.headers ? ANTHROPIC_MODELS : MODELS);
      return;
    }
    const surfaceUsage = b.usage ?? { prompt: tokens(promptText(body)), completion: tokens(b.reply) };
    if (
      await handleSurface(surface, req, res, path, body, form, {
        reply: b.reply,
        usage: surfaceUsage,
        speechBytes: b.speechBytes,
      })
    )
      return;
    if (req.method !== 'POST') {
      sendJson(res, 404, failBody(path, 404));
      return;
    }
    const replyText = b.echo ? lastUserText(body) : b.reply;
    const prompt = promptText(body);
    const ctx: Ctx = {
      req,
      res,
      body,
      b,
      replyText,
      promptTokens: b.usage?.prompt ?? tokens(prompt),
      completionTokens: b.usage?.completion ?? tokens(replyText),
    };
    const bedrock = /^\/model\/([^/]+)\/(converse|converse-stream|invoke|invoke-with-response-stream)$/.exec(
      path,
    );
    if (bedrock) return bedrockCall(ctx, decodeURIComponent(bedrock[1]!), bedrock[2]!);
    const gemini = /^\/v1(?:beta)?\/models\/([^/:]+):(\w+)$/.exec(path);
    if (gemini) return geminiCall(ctx, decodeURIComponent(gemini[1]!), gemini[2]!);
    switch (azurePath(path)) {
      case '/v1/chat/completions':
        return chat(ctx, false);
      case '/v1/completions':
        return chat(ctx, true);
      case '/v1/embeddings':
        return embeddings(ctx);
      case '/v1/responses':
        return responses(ctx);
      case '/v1/messages':
        return messages(ctx);
      case '/v1/messages/count_tokens':
        return sendJson(res, 200, { input_tokens: ctx.promptTokens });
      default:
        return sendJson(res, 404, failBody(path, 404));
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) sendJson(res, 500, failBody('', 500));
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 60_000;
  const realtime: RealtimeSessionRecord[] = [];
  const wss = attachRealtime(server, realtime);
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    surface,
    realtime,
    setBehavior(b) {
      behavior = { ...behavior, ...b };
    },
    resetBehavior() {
      behavior = { ...base };
    },
    close() {
      return new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        server.close(() => {
          surface.close();
          resolve();
        });
        // Hanging requests and keep-alive sockets would hold close() open forever.
        for (const s of sockets) s.destroy();
      });
    },
  };
}
