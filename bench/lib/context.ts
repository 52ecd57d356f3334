/** What every scenario gets: the running servers, the request bodies and the run's parameters. */
import type { ServerChild } from './children.js';
import type { RequestSpec } from './load.js';

export interface BenchParams {
  quick: boolean;
  /** Closed-loop connections (autocannon). */
  connections: number;
  /** Seconds per measured round, per target. */
  durationS: number;
  /** Seconds of warm-up per target before the first round. */
  warmupS: number;
  /** Interleaved rounds (A, proxy, A, proxy, ...). */
  rounds: number;
  /** Streamed requests per target per round, and how many at a time. */
  streamRequests: number;
  streamConcurrency: number;
  /** Connections for the peak-memory run. */
  memoryConnections: number;
}

export const FULL: BenchParams = {
  quick: false,
  connections: 32,
  durationS: 10,
  warmupS: 3,
  rounds: 3,
  streamRequests: 100,
  streamConcurrency: 4,
  memoryConnections: 256,
};

export const QUICK: BenchParams = {
  quick: true,
  connections: 4,
  durationS: 1,
  warmupS: 0.5,
  rounds: 1,
  streamRequests: 5,
  streamConcurrency: 2,
  memoryConnections: 16,
};

export interface Targets {
  mock: ServerChild;
  baselineA: ServerChild;
  baselineB: ServerChild;
  /** Baseline C, the minimal governed proxy; null without Postgres (it writes its audit rows there). */
  baselineC: ServerChild | null;
  proxyMemory: ServerChild;
  /** Null when Redis (or a shared Postgres) is not available. */
  proxyRedis: ServerChild | null;
  /**
   * Redis limits in lease mode (`limits.counting: lease`, a share of 100 requests per refill):
   * the opt-in answer of issue 15 to a Redis round trip per request. Null without Redis.
   */
  proxyLease: ServerChild | null;
}

export interface BenchContext {
  params: BenchParams;
  targets: Targets;
  /** Each proxy has its own database, so its own key. */
  keys: {
    proxyMemory: string;
    proxyRedis: string | null;
    proxyLease: string | null;
    baselineC: string | null;
  };
  log(line: string): void;
  /** Waits until no proxy is still writing an earlier run's audit backlog (see lib/settle.ts). */
  settle?: () => Promise<void>;
}

/** ~1 KB of plain prose: passes every shipped policy (no PII, secrets or injection phrasing). */
const PROSE =
  'Please review the quarterly planning notes below and summarise the three main risks for the ' +
  'board, covering supplier delays, the hiring plan for the platform team and the migration of ' +
  'the billing system to the new region. Keep the tone neutral and the summary short. ';

export const CHAT_BODY = {
  model: 'gpt-4o-mini',
  messages: [
    { role: 'system', content: 'You are a concise assistant for an operations team.' },
    { role: 'user', content: PROSE.repeat(4).trim() },
  ],
  max_tokens: 256,
  temperature: 0.2,
};

/** The streamed variant asks for usage itself (as SDKs commonly do), so the upstream traffic of
 * the proxy and of baseline A is the same and the proxy needs not rewrite the body. */
export const STREAM_BODY = { ...CHAT_BODY, stream: true, stream_options: { include_usage: true } };

export const CHAT_PATH = '/v1/chat/completions';
export const CHECK_PATH = '/v1/check';

export function chatSpec(target: ServerChild, key: string | null, body: object = CHAT_BODY): RequestSpec {
  return {
    url: target.url,
    path: CHAT_PATH,
    headers: {
      'content-type': 'application/json',
      ...(key ? { authorization: `Bearer ${key}` } : {}),
    },
    body: JSON.stringify(body),
  };
}

export function checkSpec(target: ServerChild, key: string | null): RequestSpec {
  return { ...chatSpec(target, key), path: CHECK_PATH };
}

/** Scenario outcome: raw measurements (all > 0 when the scenario ran) and the report's rows. */
export interface ScenarioResult {
  name: string;
  /** Raw measurements by target, e.g. { baselineA: { rps, p50, p99 }, proxyMemory: {...} }. */
  measurements: Record<string, Record<string, number>>;
  rows: ResultRow[];
  /** Per-round details and anything else worth keeping in latest.json. */
  details?: unknown;
  notes?: string[];
}

export interface ResultRow {
  scenario: string;
  rps: number | null;
  p50: number | null;
  p99: number | null;
  /** e.g. "0.91x A" or "+0.31 ms"; null for baselines. */
  vsBaseline: string | null;
  target: string | null;
  met: boolean | null;
}

/** A server a scenario measures, under the name its rows use. */
export interface NamedTarget {
  id: string;
  label: string;
  child: ServerChild;
  key: string | null;
}

/**
 * Baseline A, the proxy with memory limits and, when it runs and `redis` is not false, the proxy
 * with Redis limits: the targets of the chat scenarios, in the order their rows are printed.
 */
export function chatTargets(ctx: BenchContext, options: { redis?: boolean } = {}): NamedTarget[] {
  const { targets, keys } = ctx;
  const list: NamedTarget[] = [
    { id: 'baselineA', label: 'baseline A', child: targets.baselineA, key: null },
    { id: 'proxyMemory', label: 'aigov (memory limits)', child: targets.proxyMemory, key: keys.proxyMemory },
  ];
  if (targets.proxyRedis && options.redis !== false)
    list.push({
      id: 'proxyRedis',
      label: 'aigov (Redis limits)',
      child: targets.proxyRedis,
      key: keys.proxyRedis,
    });
  if (targets.proxyLease && options.redis !== false)
    list.push({
      id: 'proxyLease',
      label: 'aigov (Redis limits, lease mode)',
      child: targets.proxyLease,
      key: keys.proxyLease,
    });
  return list;
}
