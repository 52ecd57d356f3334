import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { createLogger } from '../../src/logger.js';
import { createServices, type Services } from '../../src/services.js';
import { buildApp } from '../../src/app.js';
import { testConfig, LogCapture, type Overrides } from './app.js';
import { pgliteDb, type TestDb } from './db.js';
import { startMockProvider, type MockProvider, type MockBehavior } from './mock-provider.js';

export const OPENAI_PROVIDER_KEY = 'sk-test-provider-openai-0000000000000000';
export const ANTHROPIC_PROVIDER_KEY = 'sk-ant-test-provider-000000000000000000';

export interface ProxyHarness {
  url: string;
  app: FastifyInstance;
  services: Services;
  mock: MockProvider;
  testDb: TestDb;
  logs: LogCapture;
  policiesDir: string;
  /** A valid aigov key (team "eng") created for the test. */
  key: string;
  keyId: string;
  newKey(attrs?: { team?: string; models?: string[]; tags?: string[]; owner?: string }): Promise<string>;
  /**
   * fetch against the proxy. `body` is JSON-encoded unless it is a string; `auth` defaults to the
   * harness key as a Bearer token (false: no key).
   */
  send(
    path: string,
    init?: { body?: unknown; headers?: Record<string, string>; method?: string; auth?: string | false },
  ): Promise<Response>;
  /** Audit rows after flushing the writer. */
  rows(where?: string): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

export interface ProxyOptions {
  /** Policy YAML; default: an allow-everything set with no rules. */
  policies?: string;
  overrides?: Overrides;
  mockBehavior?: Partial<MockBehavior>;
  testDb?: TestDb;
  listen?: boolean;
  /** Providers added after the three built-in ones (openai, anthropic, groq), e.g. to test fallbacks. */
  extraProviders?: Record<string, unknown>[] | ((mockUrl: string) => Record<string, unknown>[]);
  /** `timeouts` for the three built-in providers (e.g. { first_byte: 300, idle: 300 }). */
  timeouts?: Record<string, number | string>;
  /** Extra environment for provider credentials. */
  env?: Record<string, string>;
}

export const ALLOW_ALL = 'version: 1\nrules: []\n';

/** Per-request mock behaviour: the proxy forwards this header, the mock obeys it for that call. */
export function mockHeader(b: Partial<MockBehavior>): Record<string, string> {
  return { 'x-mock-behavior': JSON.stringify(b) };
}

/** Headers a provider must never receive from a caller: where the aigov key travels. */
export const CALLER_CREDENTIAL_HEADERS = ['authorization', 'x-api-key', 'api-key'] as const;

/** A running proxy in front of a mock provider speaking both APIs, with a fresh database. */
export async function startProxy(options: ProxyOptions = {}): Promise<ProxyHarness> {
  const mock = await startMockProvider({ behavior: options.mockBehavior ?? {} });
  const policiesDir = mkdtempSync(join(tmpdir(), 'aigov-policies-'));
  writeFileSync(join(policiesDir, 'policies.yaml'), options.policies ?? ALLOW_ALL);
  const t = options.timeouts ? { timeouts: options.timeouts } : {};
  const config = testConfig({
    policies: { path: policiesDir, watch: false },
    audit: { flush_interval: 20 },
    providers: [
      {
        name: 'openai',
        family: 'openai',
        base_url: mock.url,
        api_key_env: 'OPENAI_API_KEY',
        default: true,
        ...t,
      },
      {
        name: 'anthropic',
        family: 'anthropic',
        base_url: mock.url,
        api_key_env: 'ANTHROPIC_API_KEY',
        models: ['claude-*'],
        ...t,
      },
      { name: 'groq', family: 'openai', base_url: `${mock.url}/v1`, api_key_env: 'GROQ_API_KEY', ...t },
      ...(typeof options.extraProviders === 'function'
        ? options.extraProviders(mock.url)
        : (options.extraProviders ?? [])),
    ],
    ...(options.overrides ?? {}),
  });
  // A config or start-up failure must fail the test now, not leave the mock open until tap's timeout.
  let services: Awaited<ReturnType<typeof createServices>> | null = null;
  let app: Awaited<ReturnType<typeof buildApp>>;
  let testDb: Awaited<ReturnType<typeof pgliteDb>>;
  const logs = new LogCapture();
  let url = '';
  try {
    testDb = options.testDb ?? (await pgliteDb());
    services = await createServices(config, createLogger('info', logs), {
      db: testDb.db,
      migrate: false,
      env: {
        OPENAI_API_KEY: OPENAI_PROVIDER_KEY,
        ANTHROPIC_API_KEY: ANTHROPIC_PROVIDER_KEY,
        GROQ_API_KEY: 'gsk-test',
        ...(options.env ?? {}),
      },
    });
    app = await buildApp(services);
    if (options.listen !== false) url = await app.listen({ port: 0, host: '127.0.0.1' });
    else await app.ready();
  } catch (err) {
    await services?.stop(1_000).catch(() => {});
    await mock.close();
    throw err;
  }
  const newKey: ProxyHarness['newKey'] = async (attrs = {}) =>
    (
      await services.keys.create({
        owner: attrs.owner ?? 'dev@example.com',
        team: attrs.team ?? 'eng',
        ...attrs,
      })
    ).key;
  const first = await services.keys.create({ owner: 'dev@example.com', team: 'eng' });
  return {
    url,
    app,
    services,
    mock,
    testDb,
    logs,
    policiesDir,
    key: first.key,
    keyId: first.stored.id,
    newKey,
    send(path, init = {}) {
      const auth = init.auth === undefined ? first.key : init.auth;
      const headers: Record<string, string> = { ...(init.headers ?? {}) };
      if (auth !== false) headers['authorization'] ??= `Bearer ${auth}`;
      let body: string | undefined;
      if (init.body !== undefined) {
        body = typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
        headers['content-type'] ??= 'application/json';
      }
      return fetch(`${url}${path}`, {
        method: init.method ?? (body === undefined ? 'GET' : 'POST'),
        headers,
        body,
      });
    },
    async rows(where = 'true') {
      await services.audit.drain(10_000);
      return testDb.db.query(`SELECT * FROM usage_logs WHERE ${where} ORDER BY id`);
    },
    async close() {
      await app.close();
      await services.stop(5_000);
      await mock.close();
      if (!options.testDb) await testDb.cleanup();
      rmSync(policiesDir, { recursive: true, force: true });
    },
  };
}

/** The error a promise rejected with, or null when it resolved: for asserting on an SDK's error class. */
export function rejectionOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => null,
    (e: unknown) => e,
  );
}

/**
 * A gemini or bedrock provider served by the mock, its credential from the environment variable
 * the family reads (`GEMINI_API_KEY`, `AWS_BEARER_TOKEN_BEDROCK`): spread into startProxy's options.
 */
export function familyUpstream(
  family: 'gemini' | 'bedrock',
  credential: string,
): Required<Pick<ProxyOptions, 'env' | 'extraProviders'>> {
  const envName = family === 'gemini' ? 'GEMINI_API_KEY' : 'AWS_BEARER_TOKEN_BEDROCK';
  return {
    env: { [envName]: credential },
    extraProviders: (mockUrl) => [{ name: family, family, base_url: mockUrl, api_key_env: envName }],
  };
}

export interface ObservedStream {
  /** Content chunks written before the stream ended or the connection closed. */
  written: number;
  /** The proxy closed the connection before the stream was complete. */
  closedEarly: boolean;
  closed: Promise<void>;
}

export interface ObservedUpstream {
  url: string;
  streams: ObservedStream[];
  close(): Promise<void>;
}

/**
 * A slow OpenAI-style streaming upstream that reports what the mock provider cannot: whether
 * the proxy closed its connection mid-stream (client aborts must cancel upstream work).
 */
export async function startObservedUpstream(
  opts: { chunks?: number; intervalMs?: number } = {},
): Promise<ObservedUpstream> {
  const chunks = opts.chunks ?? 200;
  const interval = opts.intervalMs ?? 50;
  const streams: ObservedStream[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      let resolveClosed!: () => void;
      const s: ObservedStream = {
        written: 0,
        closedEarly: false,
        closed: new Promise<void>((r) => (resolveClosed = r)),
      };
      streams.push(s);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const timer = setInterval(() => {
        if (s.written >= chunks) {
          clearInterval(timer);
          res.end('data: [DONE]\n\n');
          return;
        }
        s.written++;
        const chunk = {
          id: 'chatcmpl-observed',
          object: 'chat.completion.chunk',
          created: 0,
          model: 'gpt-4o',
          choices: [{ index: 0, delta: { content: `w${s.written} ` }, finish_reason: null }],
        };
        res.write(`data: ${JSON.stringify(chunk)}\n\n`);
      }, interval);
      res.on('close', () => {
        clearInterval(timer);
        if (!res.writableFinished) s.closedEarly = true;
        resolveClosed();
      });
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    streams,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        for (const s of sockets) s.destroy();
      }),
  };
}

/** A port with nothing listening on it (connect refused). */
export async function closedPort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}
