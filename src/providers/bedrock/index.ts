/**
 * Amazon Bedrock Runtime: `POST /model/{modelId}/converse`, `/converse-stream`, `/invoke` and
 * `/invoke-with-response-stream`. The model is in the path; streams are AWS event-stream framed
 * (./event-stream.ts). Upstream requests carry a Bedrock API key (AWS_BEARER_TOKEN_BEDROCK) as a
 * Bearer token, or are SigV4-signed with @smithy/signature-v4 from the standard AWS variables.
 * Errors: `{"message"}` with `x-amzn-ErrorType`, which the AWS SDK turns into its exception class.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { z } from 'zod';
import { AigovError } from '../../errors.js';
import type {
  AdapterOptions,
  NormalizeInput,
  ProviderAdapter,
  RouteSpec,
  SignInput,
  StreamTracker,
  UpstreamRequest,
} from '../adapter.js';
import type { SseEvent } from '../sse.js';
import { collectMetadata, collectStrings, eventJson, isPlainObject, joinPrompt } from '../text-walk.js';
import { findRoute, routeParams } from '../routes.js';
import type { NormalizedRequest, TextSlot, Usage } from '../types.js';
import { cleanSearch, forwardHeaders, joinUrl } from '../upstream.js';
import { UNKNOWN_USAGE, count, makeUsage, sumKnown, withDetails } from '../usage-helpers.js';
import { parseOrThrow } from '../validation.js';
import { EVENT_STREAM_CODEC } from './event-stream.js';

const ACTIONS = [
  ['converse', 'converse'],
  ['converse-stream', 'converse'],
  ['invoke', 'invoke'],
  ['invoke-with-response-stream', 'invoke'],
] as const;

export const BEDROCK_ROUTES: readonly RouteSpec[] = Object.freeze(
  ACTIONS.map(([action, kind]): RouteSpec => ({
    method: 'POST',
    path: `/model/{modelId}/${action}`,
    url: `/model/:modelId/${action}`,
    kind,
    governed: true,
  })),
);

const isConverse = (route: string): boolean => route.includes('/converse');
const isStream = (route: string): boolean => route.endsWith('-stream');

// --- request ---------------------------------------------------------------------------------

const objectBody = { error: 'expected a JSON object' };
const tokenLimit = z.int({ error: 'expected a non-negative integer' }).min(0).max(10_000_000).optional();
const converseBody = z.looseObject(
  {
    modelId: z.string().optional(),
    messages: z.array(
      z.looseObject(
        {
          role: z.string({ error: 'expected a string' }),
          content: z.array(z.looseObject({}), { error: 'expected an array of content blocks' }),
        },
        { error: 'expected a message object' },
      ),
      { error: 'expected an array of messages' },
    ),
    system: z.array(z.looseObject({}), { error: 'expected an array of system blocks' }).optional(),
    inferenceConfig: z.looseObject({ maxTokens: tokenLimit }, { error: 'expected an object' }).optional(),
    requestMetadata: z.record(z.string(), z.string(), { error: 'expected string values' }).optional(),
  },
  objectBody,
);
const invokeBody = z.looseObject(
  {
    modelId: z.string().optional(),
    messages: z.array(z.looseObject({}), { error: 'expected an array of messages' }).optional(),
    max_tokens: tokenLimit,
    max_gen_len: tokenLimit,
    inferenceConfig: z
      .looseObject({ max_new_tokens: tokenLimit, maxTokens: tokenLimit }, { error: 'expected an object' })
      .optional(),
  },
  objectBody,
);

type Role = TextSlot['role'];
const roleOf = (role: unknown): Role => (role === 'assistant' ? 'assistant' : 'user');
/** Binary payloads (base64 in JSON) and cache markers are not text. */
const BINARY_BLOCKS = new Set(['image', 'document', 'video', 'cachePoint', 'reasoningContent']);

/** Converse content blocks: text, toolUse input, toolResult content; images and documents skipped. */
function collectBlocks(blocks: unknown[], base: (string | number)[], role: Role, out: TextSlot[]): void {
  blocks.forEach((b, j) => {
    if (!isPlainObject(b)) return;
    const at = [...base, j];
    if (typeof b['text'] === 'string') {
      out.push({ path: [...at, 'text'], role, text: b['text'] });
      return;
    }
    if (isPlainObject(b['toolUse'])) {
      collectStrings(b['toolUse']['input'], [...at, 'toolUse', 'input'], 'assistant', out, { raw: true });
      return;
    }
    if (isPlainObject(b['toolResult']) && Array.isArray(b['toolResult']['content'])) {
      b['toolResult']['content'].forEach((c, k) => {
        if (!isPlainObject(c)) return;
        const cAt = [...at, 'toolResult', 'content', k];
        if (typeof c['text'] === 'string')
          out.push({ path: [...cAt, 'text'], role: 'tool', text: c['text'] });
        else if ('json' in c) collectStrings(c['json'], [...cAt, 'json'], 'tool', out, { raw: true });
      });
      return;
    }
    for (const [key, value] of Object.entries(b))
      if (!BINARY_BLOCKS.has(key)) collectStrings(value, [...at, key], role, out);
  });
}

function modelInPath(path: string): string | null {
  const spec = findRoute(BEDROCK_ROUTES, 'POST', path);
  const id = spec === undefined ? undefined : routeParams(spec, path)?.[0];
  if (id === undefined) return null;
  try {
    return decodeURIComponent(id);
  } catch {
    return id;
  }
}

/**
 * /v1/check and the dry run have no path: their body's top-level `model` names the model (it is
 * their envelope, not part of the Bedrock body, so it is neither text nor forwarded).
 */
function envelopeModel(input: NormalizeInput): string | null {
  if (input.path !== undefined || !isPlainObject(input.body)) return null;
  const model = input.body['model'];
  return typeof model === 'string' ? model : null;
}

function normalizeUnsafe(input: NormalizeInput): NormalizedRequest {
  const texts: TextSlot[] = [];
  const fromPath = input.path === undefined ? envelopeModel(input) : modelInPath(input.path);
  let model: string | null;
  let maxTokens: number | null;
  let metadata: unknown;
  if (isConverse(input.route)) {
    const body = parseOrThrow(converseBody, input.body);
    if (body.system) collectBlocks(body.system, ['system'], 'system', texts);
    body.messages.forEach((m, i) =>
      collectBlocks(m.content, ['messages', i, 'content'], roleOf(m.role), texts),
    );
    model = fromPath ?? body.modelId ?? null;
    maxTokens = body.inferenceConfig?.maxTokens ?? null;
    metadata = body.requestMetadata;
  } else {
    // invoke: the model family's own body (Anthropic messages, Amazon Nova, Meta Llama `prompt`,
    // Titan `inputText`...). Every string outside the envelope is text (fail closed).
    const body = parseOrThrow(invokeBody, input.body);
    for (const [key, value] of Object.entries(body)) {
      if (key === 'anthropic_version' || key === 'modelId' || key === 'inferenceConfig') continue;
      if (key === 'model' && input.path === undefined) continue;
      if (key === 'messages' && Array.isArray(value)) {
        value.forEach((m, i) => {
          if (!isPlainObject(m)) return;
          const role = roleOf(m['role']);
          const content = m['content'];
          if (typeof content === 'string')
            texts.push({ path: ['messages', i, 'content'], role, text: content });
          else if (Array.isArray(content)) collectBlocks(content, ['messages', i, 'content'], role, texts);
        });
      } else if (key === 'system' && Array.isArray(value)) collectBlocks(value, ['system'], 'system', texts);
      else collectStrings(value, [key], key === 'system' ? 'system' : 'user', texts);
    }
    model = fromPath ?? body.modelId ?? null;
    const ic = body.inferenceConfig;
    maxTokens = body.max_tokens ?? body.max_gen_len ?? ic?.max_new_tokens ?? ic?.maxTokens ?? null;
  }
  return {
    provider: input.provider,
    family: 'bedrock',
    route: input.route,
    model,
    texts,
    prompt: joinPrompt(texts),
    maxTokens,
    stream: isStream(input.route),
    metadata: collectMetadata(metadata, input.metadata),
  };
}

function normalizeBedrock(input: NormalizeInput): NormalizedRequest {
  try {
    return normalizeUnsafe(input);
  } catch (err) {
    if (err instanceof AigovError) throw err;
    throw new AigovError('invalid_request', { message: 'Invalid request body', cause: err });
  }
}

// --- usage and output text --------------------------------------------------------------------

/**
 * Bedrock usage, whichever shape carries it. Cache reads and writes are reported beside the
 * uncached input (Converse cacheRead/WriteInputTokens, Nova ...Count, Anthropic cache_*), so all
 * of them are prompt tokens, priced apart.
 */
export function usageFromBedrockObject(u: unknown): Usage {
  if (!isPlainObject(u)) return UNKNOWN_USAGE;
  const input = count(u['inputTokens']) ?? count(u['input_tokens']) ?? count(u['inputTokenCount']);
  const output = count(u['outputTokens']) ?? count(u['output_tokens']) ?? count(u['outputTokenCount']);
  const cached =
    count(u['cacheReadInputTokens']) ??
    count(u['cacheReadInputTokenCount']) ??
    count(u['cache_read_input_tokens']);
  const written =
    count(u['cacheWriteInputTokens']) ??
    count(u['cacheWriteInputTokenCount']) ??
    count(u['cache_creation_input_tokens']);
  const prompt = input === null ? null : (sumKnown(input, cached, written) ?? input);
  return withDetails(makeUsage(prompt, output, null), { cached, cacheWrite: written });
}

function usageFromBedrockBody(_route: string, body: unknown): Usage {
  if (!isPlainObject(body)) return UNKNOWN_USAGE;
  if (isPlainObject(body['usage'])) return usageFromBedrockObject(body['usage']);
  // Meta Llama
  const prompt = count(body['prompt_token_count']);
  const generated = count(body['generation_token_count']);
  if (prompt !== null || generated !== null) return makeUsage(prompt, generated, null);
  return UNKNOWN_USAGE;
}

function bedrockResponseTexts(_route: string, body: unknown): TextSlot[] {
  const out: TextSlot[] = [];
  if (!isPlainObject(body)) return out;
  const output = body['output'];
  if (
    isPlainObject(output) &&
    isPlainObject(output['message']) &&
    Array.isArray(output['message']['content'])
  )
    collectBlocks(output['message']['content'], ['output', 'message', 'content'], 'assistant', out);
  else if (Array.isArray(body['content'])) collectBlocks(body['content'], ['content'], 'assistant', out);
  else if (typeof body['generation'] === 'string')
    out.push({ path: ['generation'], role: 'assistant', text: body['generation'] });
  return out;
}

/** Converse-stream events, and invoke-stream `chunk` events whose bytes hold the model's own JSON. */
class BedrockStreamTracker implements StreamTracker {
  private seen: Usage = UNKNOWN_USAGE;
  private readonly parts = new Map<number, string[]>();
  private done = false;

  onEvent(ev: SseEvent): { forward: boolean } {
    const json = eventJson(ev.data);
    if (json === null) return { forward: true };
    if (ev.event === 'chunk' && typeof json['bytes'] === 'string') {
      const inner = eventJson(Buffer.from(json['bytes'], 'base64').toString('utf8'));
      if (inner !== null) this.onModelChunk(inner);
      return { forward: true };
    }
    switch (ev.event) {
      case 'contentBlockDelta': {
        const delta = json['delta'];
        const index = count(json['contentBlockIndex']) ?? 0;
        if (isPlainObject(delta)) {
          if (typeof delta['text'] === 'string') this.add(index, delta['text']);
          else if (isPlainObject(delta['toolUse']) && typeof delta['toolUse']['input'] === 'string')
            this.add(index, delta['toolUse']['input']);
        }
        break;
      }
      case 'metadata':
        if (isPlainObject(json['usage'])) this.seen = usageFromBedrockObject(json['usage']);
        break;
      case 'messageStop':
        this.done = true;
        break;
      default:
        break;
    }
    return { forward: true };
  }

  /** Anthropic, Nova and Llama stream chunks, plus Bedrock's invocation metrics on the last one. */
  private onModelChunk(json: Record<string, unknown>): void {
    const metrics = json['amazon-bedrock-invocationMetrics'];
    if (isPlainObject(metrics)) {
      this.seen = usageFromBedrockObject(metrics);
      this.done = true;
    }
    const delta = json['delta'];
    const index = count(json['index']) ?? count(json['contentBlockIndex']) ?? 0;
    if (isPlainObject(delta)) {
      const piece = delta['text'] ?? delta['partial_json'];
      if (typeof piece === 'string') this.add(index, piece);
    }
    const block = json['contentBlockDelta'];
    if (isPlainObject(block) && isPlainObject(block['delta']) && typeof block['delta']['text'] === 'string')
      this.add(count(block['contentBlockIndex']) ?? 0, block['delta']['text']);
    if (typeof json['generation'] === 'string') this.add(0, json['generation']);
    if (json['type'] === 'message_stop' || 'messageStop' in json) this.done = true;
  }

  private add(index: number, text: string): void {
    if (text.length === 0) return;
    const list = this.parts.get(index);
    if (list === undefined) this.parts.set(index, [text]);
    else list.push(text);
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

/** The AWS error type for a status: the SDK names its exception after it. */
export function bedrockErrorType(status: number): string {
  if (status === 401) return 'UnrecognizedClientException';
  if (status === 403) return 'AccessDeniedException';
  if (status === 404) return 'ResourceNotFoundException';
  if (status === 429) return 'ThrottlingException';
  if (status === 503) return 'ServiceUnavailableException';
  if (status >= 500) return 'InternalServerException';
  return 'ValidationException';
}

function message(err: AigovError): string {
  return err.status === 403 || err.status === 429 ? `${err.message} (${err.providerCode})` : err.message;
}

/** Mid-stream errors: the stream union's own exception members (converse-stream and invoke). */
function streamExceptionType(status: number): string {
  if (status === 429) return 'throttlingException';
  if (status === 503) return 'serviceUnavailableException';
  if (status >= 500) return 'internalServerException';
  return 'validationException';
}

// --- upstream ---------------------------------------------------------------------------------

/** Headers of the caller's own AWS signing: meaningless upstream (aigov signs anew). */
const CALLER_SIGNING = /^(x-amz-date|x-amz-security-token|x-amz-content-sha256|amz-sdk-.*|x-amz-user-agent)$/;

async function signV4(aws: NonNullable<AdapterOptions['aws']>, req: SignInput): Promise<UpstreamRequest> {
  if (aws.accessKeyId === null || aws.secretAccessKey === null)
    throw new AigovError('provider_not_configured', {
      message:
        'Bedrock has no credential: set AWS_BEARER_TOKEN_BEDROCK, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
    });
  const url = new URL(req.url);
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = v;
  const signer = new SignatureV4({
    service: 'bedrock',
    region: aws.region,
    sha256: Sha256,
    credentials: {
      accessKeyId: aws.accessKeyId,
      secretAccessKey: aws.secretAccessKey,
      ...(aws.sessionToken !== null ? { sessionToken: aws.sessionToken } : {}),
    },
  });
  const signed = await signer.sign(
    new HttpRequest({
      method: req.method,
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port !== '' ? { port: Number(url.port) } : {}),
      path: url.pathname,
      query,
      headers: { ...req.headers, host: url.host },
      body: req.body ?? undefined,
    }),
  );
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(signed.headers)) headers[k.toLowerCase()] = String(v);
  return { url: req.url, headers };
}

export function createBedrockAdapter(options: AdapterOptions = {}): ProviderAdapter {
  const aws = options.aws ?? null;
  return {
    family: 'bedrock',
    routes: BEDROCK_ROUTES,
    routeFor: (method, path) => findRoute(BEDROCK_ROUTES, method, path),
    inferRoute: (body) =>
      isPlainObject(body) && Array.isArray(body['messages']) && !('anthropic_version' in body)
        ? '/model/{modelId}/converse'
        : '/model/{modelId}/invoke',
    normalize: normalizeBedrock,
    modelFromPath: modelInPath,
    streamCodec: EVENT_STREAM_CODEC,
    buildUpstream(input) {
      const headers = forwardHeaders(input);
      for (const name of Object.keys(headers)) if (CALLER_SIGNING.test(name)) delete headers[name];
      // Bedrock API key (AWS_BEARER_TOKEN_BEDROCK); without one, sign() adds SigV4.
      if (input.credential !== null) headers['authorization'] = `Bearer ${input.credential}`;
      const accept = input.incomingHeaders['accept'];
      if (typeof accept === 'string') headers['accept'] = accept;
      return { url: joinUrl(input.baseUrl, input.path ?? input.route, cleanSearch(input.search)), headers };
    },
    async sign(req) {
      if (req.headers['authorization'] !== undefined) return { url: req.url, headers: req.headers };
      if (aws === null)
        throw new AigovError('provider_not_configured', {
          message: 'Bedrock has no credential: set AWS_BEARER_TOKEN_BEDROCK or AWS keys and AWS_REGION',
        });
      return signV4(aws, req);
    },
    prepareBody: (_req, body) => ({ body, changed: false, clientWantsUsage: true }),
    usageFromBody: usageFromBedrockBody,
    createStreamTracker: () => new BedrockStreamTracker(),
    responseTexts: bedrockResponseTexts,
    errorBody: (err) => ({ message: message(err) }),
    errorHeaders: (err) => ({
      'x-amzn-errortype': `${bedrockErrorType(err.status)}:http://internal.amazon.com/coral/com.amazon.bedrock/`,
    }),
    streamErrorEvent: (err) =>
      EVENT_STREAM_CODEC.encode({
        event: streamExceptionType(err.status),
        data: JSON.stringify({ message: message(err) }),
        id: 'exception',
      }),
  };
}
