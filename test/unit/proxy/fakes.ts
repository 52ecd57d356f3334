/**
 * Narrow fakes for unit tests of the proxy pipeline stages (src/proxy/*): the parts of
 * FastifyRequest/FastifyReply the stages touch, recording ProxyDeps, a real provider registry
 * (undici pools are lazy: nothing connects unless forward-stage sends), calls built through the
 * governance core, and upstream answers made from chunks. No database, no network.
 */
import { Readable, Writable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Dispatcher } from 'undici';
import { baseRow } from '../../../src/audit/record.js';
import type { AuditRow } from '../../../src/audit/row.js';
import type { KeyIdentity } from '../../../src/auth/identity.js';
import { loadConfig } from '../../../src/config/load.js';
import { decideRequest, normalizeFor } from '../../../src/governance/index.js';
import { Limiter } from '../../../src/limits/limiter.js';
import { MemoryLimitStore } from '../../../src/limits/memory-store.js';
import type { CompiledPolicySet } from '../../../src/policy/index.js';
import type { PricingTable } from '../../../src/providers/pricing.js';
import { ProviderRegistry, type ProviderRuntime } from '../../../src/providers/registry.js';
import type { ProviderFamily } from '../../../src/providers/types.js';
import { UNKNOWN_USAGE, type Call, type DecidedCall, type ProxyDeps } from '../../../src/proxy/call.js';
import type { UpstreamCall } from '../../../src/proxy/forward.js';
import { key as testKey } from '../policy/helpers.js';

export { key, policy } from '../policy/helpers.js';

/** A server response that records what was written; `destroy()` plays a client leaving. */
export class FakeRaw extends Writable {
  readonly chunks: string[] = [];
  statusCode = 0;
  headersWritten: Record<string, unknown> | null = null;
  flushed = false;

  writeHead(status: number, headers: Record<string, unknown>): this {
    this.statusCode = status;
    this.headersWritten = { ...headers };
    return this;
  }
  flushHeaders(): void {
    this.flushed = true;
  }
  get headersSent(): boolean {
    return this.headersWritten !== null;
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.chunks.push(chunk.toString('utf8'));
    this.emit('written', this.chunks.length);
    cb();
  }
  text(): string {
    return this.chunks.join('');
  }
}

/** The reply methods the stages call, recording status, headers and payload. */
export class FakeReply {
  statusCode = 200;
  readonly stored: Record<string, string> = {};
  payload: unknown = undefined;
  sent = false;
  hijacked = false;
  readonly raw = new FakeRaw();
  readonly elapsedTime = 0;

  code(status: number): this {
    this.statusCode = status;
    return this;
  }
  header(name: string, value: unknown): this {
    this.stored[name.toLowerCase()] = String(value);
    return this;
  }
  headers(values: Record<string, unknown>): this {
    for (const [n, v] of Object.entries(values)) if (v !== undefined) this.header(n, v);
    return this;
  }
  getHeaders(): Record<string, string> {
    return { ...this.stored };
  }
  hijack(): this {
    this.hijacked = true;
    return this;
  }
  send(payload: unknown): Promise<this> {
    this.payload = payload;
    this.sent = true;
    return Promise.resolve(this);
  }
  asReply(): FastifyReply {
    return this as unknown as FastifyReply;
  }
}

export interface FakeRequestInit {
  body: unknown;
  /** Default: the JSON of `body`. */
  rawBody?: Buffer;
  url?: string;
  headers?: Record<string, string>;
  id?: string;
}

export function fakeRequest(init: FakeRequestInit): FastifyRequest {
  const rawBody = init.rawBody ?? Buffer.from(JSON.stringify(init.body));
  return {
    id: init.id ?? 'req-test-0001',
    method: 'POST',
    url: init.url ?? '/v1/chat/completions',
    ip: '127.0.0.1',
    headers: { 'content-type': 'application/json', ...(init.headers ?? {}) },
    body: init.body,
    rawBody,
    log: { error: () => {} },
  } as unknown as FastifyRequest;
}

/** Providers on ports nothing listens to unless a test passes real base URLs. */
export function registry(
  providers: Record<string, unknown>[] = [
    { name: 'openai', family: 'openai', base_url: 'http://127.0.0.1:9', default: true },
    { name: 'anthropic', family: 'anthropic', base_url: 'http://127.0.0.1:9', models: ['claude-*'] },
    { name: 'groq', family: 'openai', base_url: 'http://127.0.0.1:9/v1' },
  ],
): ProviderRegistry {
  const config = loadConfig({ env: { NODE_ENV: 'test' }, overrides: { providers } });
  return new ProviderRegistry(config.providers, { OPENAI_API_KEY: 'sk-provider-key' });
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
}
export function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Recording ProxyDeps (all but verifier and providers, which tests pass as they need). */
export class FakeDeps {
  readonly rows: AuditRow[] = [];
  readonly durableRows: AuditRow[] = [];
  readonly observed: AuditRow[] = [];
  readonly contentCalls: string[] = [];
  readonly released: unknown[] = [];
  readonly reconciled: { reservation: unknown; actual: unknown }[] = [];
  readonly reserved: { rules: number; model: string | null; keyId: string }[] = [];
  accepting = true;
  enqueueResult = true;
  /** Sync durability: resolves when the row is "on disk"; replace to hold a write open. */
  durable: Promise<boolean> = Promise.resolve(true);
  /** Resolves with the row when enqueueDurable is called. */
  readonly durableCalled = deferred<AuditRow>();
  durability: 'sync' | 'batched' = 'batched';
  pricing: PricingTable = [{ model: 'gpt-4o', input: 2.5, output: 10 }];
  readonly realLimiter = new Limiter({ store: new MemoryLimitStore() });

  readonly audit: ProxyDeps['audit'] = {
    accepting: () => this.accepting,
    enqueue: (row) => {
      this.rows.push(row);
      return this.enqueueResult;
    },
    enqueueDurable: (row) => {
      this.durableRows.push(row);
      this.durableCalled.resolve(row);
      return this.durable;
    },
  };
  readonly metrics: ProxyDeps['metrics'] = { observeCall: (row) => void this.observed.push(row) };
  readonly limiter: ProxyDeps['limiter'] = {
    reserve: (rules, norm, key, override) => {
      this.reserved.push({ rules: rules.length, model: norm.model, keyId: key.id });
      return this.realLimiter.reserve(rules, norm, key, override);
    },
    reconcile: (reservation, actual) => {
      this.reconciled.push({ reservation, actual });
      return this.realLimiter.reconcile(reservation, actual);
    },
    release: (reservation) => {
      this.released.push(reservation);
      return this.realLimiter.release(reservation);
    },
    estimate: (norm) => this.realLimiter.estimate(norm),
  };
  readonly auditContent: ProxyDeps['auditContent'] = (norm, decision) => {
    const c = `${norm.model ?? '-'}:${decision?.decision ?? 'none'}`;
    this.contentCalls.push(c);
    return c;
  };
}

export interface CallInit extends FakeRequestInit {
  set: CompiledPolicySet;
  route?: string;
  family?: ProviderFamily;
  key?: KeyIdentity;
  providers?: ProviderRegistry;
  /** The provider the call goes to (default: by family and model). */
  provider?: string;
}

export interface TestCall {
  call: Call;
  reply: FakeReply;
  providers: ProviderRegistry;
}

/** A call as the pipeline has it after authentication (key known, nothing decided yet). */
export function newCall(init: CallInit): TestCall {
  const route = init.route ?? '/v1/chat/completions';
  const family = init.family ?? (route.startsWith('/v1/messages') ? 'anthropic' : 'openai');
  const providers = init.providers ?? registry();
  const reply = new FakeReply();
  const request = fakeRequest({ url: route, ...init });
  const key = init.key ?? testKey();
  const spec = providers.resolve(family, null)!.adapter.routeFor('POST', route);
  if (!spec) throw new Error(`no route ${route}`);
  const row = baseRow(request, route, key);
  const call: Call = {
    request,
    reply: reply.asReply(),
    spec,
    path: route,
    family,
    row,
    started: performance.now(),
    policySet: init.set,
    key,
    provider: null,
    norm: null,
    decision: null,
    reservation: null,
    usage: UNKNOWN_USAGE,
    upstreamMs: 0,
    recorded: false,
  };
  return { call, reply, providers };
}

/** A call past the request policy stage, decided through the governance core. */
export function decidedCall(init: CallInit): TestCall & { call: DecidedCall } {
  const made = newCall(init);
  const { call, providers } = made;
  const provider: ProviderRuntime = init.provider
    ? providers.get(init.provider)!
    : providers.resolve(call.family, null)!;
  const norm = normalizeFor({ provider, route: call.spec.path }, call.request.body);
  const decision = decideRequest(call.policySet, norm, call.key!);
  call.provider = provider;
  call.norm = norm;
  call.decision = decision;
  call.row.provider = provider.name;
  call.row.model = norm.model;
  call.row.stream = norm.stream;
  call.row.decision = decision.decision;
  call.row.policyIds = decision.ruleIds.slice();
  return { ...made, call: call as DecidedCall };
}

/** A body stream as undici gives it: async iterable of Buffers with dump(). */
export function bodyOf(chunks: AsyncIterable<string> | Iterable<string>): Dispatcher.ResponseData['body'] {
  async function* buffers(): AsyncGenerator<Buffer> {
    for await (const c of chunks) yield Buffer.from(c);
  }
  const r = Readable.from(buffers(), { objectMode: false }) as Readable & { dump(): Promise<void> };
  r.dump = async () => {
    r.resume();
  };
  return r as unknown as Dispatcher.ResponseData['body'];
}

export function upstreamOf(
  provider: ProviderRuntime,
  status: number,
  headers: Record<string, string>,
  chunks: AsyncIterable<string> | Iterable<string>,
): UpstreamCall {
  const t = performance.now();
  return {
    provider,
    response: {
      statusCode: status,
      statusText: '',
      headers,
      body: bodyOf(chunks),
      trailers: {},
      opaque: null,
      context: {},
    } as unknown as Dispatcher.ResponseData,
    sentAt: t - 5,
    headersAt: t,
  };
}

export const sse = (obj: unknown): string => `data: ${JSON.stringify(obj)}\n\n`;
export const namedSse = (event: string, obj: unknown): string =>
  `event: ${event}\ndata: ${JSON.stringify(obj)}\n\n`;

/** OpenAI chat stream chunks for `pieces`, an optional usage-only chunk, and [DONE]. */
export function openAIStream(pieces: string[], usage?: { prompt: number; completion: number }): string[] {
  const base = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o' };
  const out = pieces.map((p, i) =>
    sse({
      ...base,
      choices: [
        {
          index: 0,
          delta: i === 0 ? { role: 'assistant', content: p } : { content: p },
          finish_reason: null,
        },
      ],
    }),
  );
  out.push(sse({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }));
  if (usage)
    out.push(
      sse({
        ...base,
        choices: [],
        usage: {
          prompt_tokens: usage.prompt,
          completion_tokens: usage.completion,
          total_tokens: usage.prompt + usage.completion,
        },
      }),
    );
  out.push('data: [DONE]\n\n');
  return out;
}

/** Anthropic messages stream events for `pieces`. */
export function anthropicStream(pieces: string[], usage = { input: 12, output: 7 }): string[] {
  const out = [
    namedSse('message_start', {
      type: 'message_start',
      message: {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        model: 'claude-sonnet-4-5',
        content: [],
        stop_reason: null,
        usage: { input_tokens: usage.input, output_tokens: 1 },
      },
    }),
    namedSse('content_block_start', {
      type: 'content_block_start',
      index: 0,
      content_block: { type: 'text', text: '' },
    }),
  ];
  for (const p of pieces)
    out.push(
      namedSse('content_block_delta', {
        type: 'content_block_delta',
        index: 0,
        delta: { type: 'text_delta', text: p },
      }),
    );
  out.push(namedSse('content_block_stop', { type: 'content_block_stop', index: 0 }));
  out.push(
    namedSse('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: 'end_turn' },
      usage: { output_tokens: usage.output },
    }),
  );
  out.push(namedSse('message_stop', { type: 'message_stop' }));
  return out;
}

export const chatBody = (content: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  model: 'gpt-4o',
  messages: [{ role: 'user', content }],
  ...extra,
});
