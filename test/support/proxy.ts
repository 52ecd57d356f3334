import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
}

export const ALLOW_ALL = 'version: 1\nrules: []\n';

/** A running proxy in front of a mock provider speaking both APIs, with a fresh database. */
export async function startProxy(options: ProxyOptions = {}): Promise<ProxyHarness> {
  const mock = await startMockProvider({ behavior: options.mockBehavior ?? {} });
  const policiesDir = mkdtempSync(join(tmpdir(), 'aigov-policies-'));
  writeFileSync(join(policiesDir, 'policies.yaml'), options.policies ?? ALLOW_ALL);
  const config = testConfig({
    policies: { path: policiesDir, watch: false },
    audit: { flush_interval: 20 },
    providers: [
      { name: 'openai', family: 'openai', base_url: mock.url, api_key_env: 'OPENAI_API_KEY', default: true },
      {
        name: 'anthropic',
        family: 'anthropic',
        base_url: mock.url,
        api_key_env: 'ANTHROPIC_API_KEY',
        models: ['claude-*'],
      },
      { name: 'groq', family: 'openai', base_url: `${mock.url}/v1`, api_key_env: 'GROQ_API_KEY' },
    ],
    ...(options.overrides ?? {}),
  });
  const testDb = options.testDb ?? (await pgliteDb());
  const logs = new LogCapture();
  const services = await createServices(config, createLogger('info', logs), {
    db: testDb.db,
    migrate: false,
    env: {
      OPENAI_API_KEY: OPENAI_PROVIDER_KEY,
      ANTHROPIC_API_KEY: ANTHROPIC_PROVIDER_KEY,
      GROQ_API_KEY: 'gsk-test',
    },
  });
  const app = await buildApp(services);
  let url = '';
  if (options.listen !== false) url = await app.listen({ port: 0, host: '127.0.0.1' });
  else await app.ready();
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
