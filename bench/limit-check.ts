/**
 * Latency of one governed request's limit work (reserve + reconcile over three rules: requests,
 * tokens, USD budget) on the memory store and on Redis.
 * Run: node --import tsx bench/limit-check.ts   (REDIS_URL overrides redis://127.0.0.1:6379)
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { KeyIdentity } from '../src/auth/identity.js';
import { ResilientLimitStore } from '../src/limits/resilient-store.js';
import { Limiter } from '../src/limits/limiter.js';
import { MemoryLimitStore } from '../src/limits/memory-store.js';
import { RedisLimitStore } from '../src/limits/redis-store.js';
import type { LimitStore } from '../src/limits/types.js';
import type { CompiledLimitRule } from '../src/policy/limit-rule.js';
import type { NormalizedRequest } from '../src/providers/types.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const WARMUP = 500;
const ITERATIONS = 5000;
const CONCURRENCY = 32;

const base = {
  description: null,
  by: 'key' as const,
  mode: 'enforce' as const,
  failMode: undefined,
  appliesTo: () => true,
};
const rules: CompiledLimitRule[] = [
  {
    ...base,
    id: 'rpm',
    metric: 'requests',
    amount: 1e12,
    window: { kind: 'duration', ms: 60_000, label: '1m' },
  },
  {
    ...base,
    id: 'tpd',
    metric: 'tokens',
    amount: 1e15,
    window: { kind: 'duration', ms: 86_400_000, label: '1d' },
    by: 'team',
  },
  {
    ...base,
    id: 'budget',
    metric: 'cost_usd',
    amount: 1e9,
    window: { kind: 'calendar_month', label: 'month' },
    by: 'team',
  },
];
const req: NormalizedRequest = {
  provider: 'openai',
  family: 'openai',
  route: '/v1/chat/completions',
  model: 'gpt-4o-mini',
  texts: [],
  prompt: 'Summarise the quarterly report in three bullet points.'.repeat(10),
  maxTokens: 256,
  stream: false,
  metadata: {},
};
const key: KeyIdentity = {
  id: 'k_bench',
  owner: 'bench@example.com',
  name: null,
  team: 'bench',
  tags: [],
  models: [],
  expiresAt: null,
};

async function once(limiter: Limiter): Promise<number> {
  const started = performance.now();
  const r = await limiter.reserve(rules, req, key);
  if (!r.allowed) throw r.error;
  await limiter.reconcile(r.reservation, { totalTokens: 300, costUsd: 0.0002 });
  return performance.now() - started;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

interface Row {
  store: string;
  p50: number;
  p99: number;
  max: number;
  opsPerSec: number;
}

async function measure(name: string, store: LimitStore): Promise<Row> {
  const limiter = new Limiter({
    store: store.kind === 'memory' ? store : new ResilientLimitStore({ store, timeoutMs: 5000 }),
    estimateCost: () => 0.001,
  });
  for (let i = 0; i < WARMUP; i++) await once(limiter);
  const samples: number[] = [];
  for (let i = 0; i < ITERATIONS; i++) samples.push(await once(limiter));
  samples.sort((a, b) => a - b);

  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < ITERATIONS) await once(limiter);
    }),
  );
  const opsPerSec = ITERATIONS / ((performance.now() - started) / 1000);
  if (limiter.state() !== 'ok') throw new TypeError(`${name} degraded during the run`);
  return {
    store: name,
    p50: quantile(samples, 0.5),
    p99: quantile(samples, 0.99),
    max: samples.at(-1)!,
    opsPerSec,
  };
}

async function main(): Promise<void> {
  const rows: Row[] = [await measure('memory', new MemoryLimitStore())];
  const prefix = `aigov-bench:${randomUUID().slice(0, 8)}:`;
  const redis = new RedisLimitStore({ url: REDIS_URL, keyPrefix: prefix, commandTimeoutMs: 5000 });
  try {
    await redis.waitUntilReady(3000);
    rows.push(await measure('redis', redis));
  } catch (err) {
    console.error(`redis skipped: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    await redis.close();
    const admin = new Redis(REDIS_URL, { lazyConnect: true, retryStrategy: () => null });
    try {
      await admin.connect();
      const keys = await admin.keys(`${prefix}*`);
      if (keys.length > 0) await admin.del(...keys);
    } catch {
      // Nothing to clean when Redis was not there.
    } finally {
      admin.disconnect();
    }
  }

  console.log(
    `\nreserve + reconcile, 3 rules (requests, tokens, USD), ${ITERATIONS} sequential calls after ${WARMUP} warm-up;` +
      ` throughput with ${CONCURRENCY} in flight\n`,
  );
  console.log('| store | p50 (ms) | p99 (ms) | max (ms) | ops/s (32 concurrent) |');
  console.log('|---|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(
      `| ${r.store} | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} | ${r.max.toFixed(2)} | ${Math.round(r.opsPerSec)} |`,
    );
  }
}

await main();
