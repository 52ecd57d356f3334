import { Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { createLogger } from '../../src/logger.js';
import { createServices, type Services } from '../../src/services.js';
import { buildApp } from '../../src/app.js';
import { pgliteDb, type TestDb } from './db.js';

export type Overrides = Record<string, unknown>;

/** Test config: defaults, no environment leakage, cheap bcrypt, then the test's overrides. */
export function testConfig(overrides: Overrides = {}, env: Record<string, string> = {}): Config {
  return loadConfig({
    env: { NODE_ENV: 'test', ...env },
    overrides: deepMerge(
      {
        auth: { bcrypt_cost: 4, dev_key: false },
        log: { level: 'silent' },
        policies: { watch: false },
        // Each test app is its own replica with its own spool: parallel test files never share a lock.
        audit: {
          replica_id: `test-${randomBytes(4).toString('hex')}`,
          spool_dir: mkdtempSync(join(tmpdir(), 'aigov-spool-')),
        },
      },
      overrides,
    ),
  });
}

function deepMerge(a: Overrides, b: Overrides): Overrides {
  const out: Overrides = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] =
      prev &&
      typeof prev === 'object' &&
      !Array.isArray(prev) &&
      v &&
      typeof v === 'object' &&
      !Array.isArray(v)
        ? deepMerge(prev as Overrides, v as Overrides)
        : v;
  }
  return out;
}

/** Captures every log line, so tests can prove what never appears in logs. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    cb();
  }
  text(): string {
    return this.lines.join('\n');
  }
}

export interface TestApp {
  app: FastifyInstance;
  services: Services;
  testDb: TestDb;
  logs: LogCapture;
  close(): Promise<void>;
}

export async function buildTestApp(
  options: { overrides?: Overrides; testDb?: TestDb; logLevel?: string } = {},
): Promise<TestApp> {
  const config = testConfig(options.overrides);
  const testDb = options.testDb ?? (await pgliteDb());
  const logs = new LogCapture();
  const logger = createLogger(options.logLevel ?? 'info', logs);
  const services = await createServices(config, logger, { db: testDb.db, migrate: false });
  const app = await buildApp(services);
  await app.ready();
  return {
    app,
    services,
    testDb,
    logs,
    async close() {
      await app.close();
      await services.stop(2_000);
      if (!options.testDb) await testDb.cleanup();
    },
  };
}
