import type { Test } from 'tap';
import { writeFileSync } from 'node:fs';
import { KeyStore } from '../../src/auth/key-store.js';
import { postgresDb, IN_CI, type TestDb } from './db.js';
import { redisReachable, REDIS_URL } from './redis.js';
import { startMockProvider, type MockProvider } from './mock-provider.js';
import { startProxyProcess, type ProxyProcess } from './proxy-process.js';

export interface ReplicaSetOptions {
  /** policies.yaml text. */
  policies: string;
  /** aigov.yaml text. */
  config: string;
  /** Replicas started at once (in parallel), each with its own AIGOV_REPLICA_ID. */
  count: number;
  /** Prefix of the replica ids: `<id>-0`, `<id>-1`, ... */
  id: string;
  /** Record what reaches the mock provider (default true). */
  record?: boolean;
}

export interface ReplicaSet {
  pg: TestDb;
  mock: MockProvider;
  keys: KeyStore;
  dir: string;
  replicas: ProxyProcess[];
  /** One more replica with the same files and database; `env` overrides (e.g. `REDIS_URL`). */
  start(id: string, env?: Record<string, string>): Promise<ProxyProcess>;
}

/**
 * Several `aigov serve` processes sharing one real Postgres schema and one Redis, as replicas of
 * one deployment (the issue 15 tests). Returns null after planning 0 tests when Postgres or Redis
 * is missing outside CI; in CI a missing one is a failure. Everything is torn down with `t`.
 */
export async function startReplicaSet(t: Test, o: ReplicaSetOptions): Promise<ReplicaSet | null> {
  const pg = await postgresDb();
  if (!pg) {
    t.plan(0, 'no TEST_DATABASE_URL: replicas need a shared Postgres (CI always has one)');
    return null;
  }
  t.teardown(pg.cleanup);
  if (!(await redisReachable())) {
    if (IN_CI) throw new Error(`Redis not reachable at ${REDIS_URL}: CI must test limits against Redis`);
    t.plan(0, 'Redis not reachable');
    return null;
  }
  const mock = await startMockProvider({ record: o.record ?? true });
  t.teardown(() => mock.close());
  const dir = t.testdir({});
  writeFileSync(`${dir}/policies.yaml`, o.policies);
  writeFileSync(`${dir}/aigov.yaml`, o.config);
  const env = {
    AIGOV_CONFIG: `${dir}/aigov.yaml`,
    POLICIES_PATH: `${dir}/policies.yaml`,
    DATABASE_URL: pg.url!,
    REDIS_URL,
    OPENAI_BASE_URL: mock.url,
    OPENAI_API_KEY: 'sk-provider',
    AIGOV_MIGRATE_ON_START: 'false',
    AIGOV_AUDIT_SPOOL_DIR: `${dir}/spool`,
  };
  const started: ProxyProcess[] = [];
  // Stopped whatever happens next (a kill -9 in a test leaves nothing to stop).
  t.teardown(() => Promise.all(started.map((r) => r.stop())));
  const start = async (id: string, extra: Record<string, string> = {}): Promise<ProxyProcess> => {
    const r = await startProxyProcess({ ...env, AIGOV_REPLICA_ID: id, ...extra });
    started.push(r);
    return r;
  };
  const replicas = await Promise.all(Array.from({ length: o.count }, (_, i) => start(`${o.id}-${i}`)));
  return { pg, mock, keys: new KeyStore(pg.db, 4), dir, replicas, start };
}
