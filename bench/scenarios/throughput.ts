/**
 * Non-streamed chat throughput, closed loop (autocannon): baseline A (bare passthrough), baseline
 * C (minimal governed proxy, when Postgres runs) and the aigov proxy with limits in memory and on
 * Redis, interleaved round by round.
 */
import {
  chatSpec,
  chatTargets,
  type BenchContext,
  type NamedTarget,
  type ScenarioResult,
} from '../lib/context.js';
import { closedLoop, type LoadResult } from '../lib/load.js';
import { median, round } from '../lib/stats.js';
import { cpuMsOf } from '../lib/children.js';

export interface Measured {
  rps: number;
  /** CPU time of the server process (not the generator, not the mock) per 2xx answer, in µs. */
  cpuUsPerReq: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

export type RoundResult = LoadResult & { cpuUsPerReq: number };

export function aggregate(rounds: RoundResult[]): Measured {
  return {
    cpuUsPerReq: median(rounds.map((r) => r.cpuUsPerReq)),
    rps: rounds.reduce((s, r) => s + r.rps, 0) / Math.max(1, rounds.length),
    p50: median(rounds.map((r) => r.p50)),
    p99: median(rounds.map((r) => r.p99)),
    non2xx: rounds.reduce((s, r) => s + r.non2xx, 0),
    errors: rounds.reduce((s, r) => s + r.errors, 0),
  };
}

export function compact(m: Measured): Record<string, number> {
  return { rps: round(m.rps, 1), p50: round(m.p50), p99: round(m.p99), cpuUsPerReq: round(m.cpuUsPerReq, 0) };
}

/** Warm-up then `rounds` interleaved closed-loop runs of every target; per-target round results. */
export async function interleavedClosedLoop(
  ctx: BenchContext,
  targets: NamedTarget[],
  spec: (t: NamedTarget) => Parameters<typeof closedLoop>[0],
): Promise<Map<string, RoundResult[]>> {
  const { params } = ctx;
  for (const t of targets)
    await closedLoop(spec(t), { connections: params.connections, durationS: params.warmupS });
  const out = new Map<string, RoundResult[]>(targets.map((t) => [t.id, []]));
  for (let r = 0; r < params.rounds; r++) {
    for (const t of targets) {
      const cpu0 = cpuMsOf(t.child.pid) ?? 0;
      const load = await closedLoop(spec(t), {
        connections: params.connections,
        durationS: params.durationS,
      });
      const cpuMs = (cpuMsOf(t.child.pid) ?? 0) - cpu0;
      const res: RoundResult = { ...load, cpuUsPerReq: load.ok > 0 ? (cpuMs * 1000) / load.ok : 0 };
      out.get(t.id)!.push(res);
      ctx.log(
        `  round ${r + 1} ${t.label}: ${res.rps.toFixed(0)} req/s p50 ${res.p50.toFixed(2)} ms p99 ${res.p99.toFixed(2)} ms, ${res.cpuUsPerReq.toFixed(0)} µs CPU/req` +
          (res.non2xx || res.errors ? ` (non-2xx ${res.non2xx}, errors ${res.errors})` : ''),
      );
    }
  }
  return out;
}

export async function throughputScenario(
  ctx: BenchContext,
): Promise<ScenarioResult & { peakA: number; peakProxy: number }> {
  const list = chatTargets(ctx);
  const { baselineC } = ctx.targets;
  // Right after A: the floor a governed proxy cannot go below, measured in the same rounds.
  if (baselineC)
    list.splice(1, 0, {
      id: 'baselineC',
      label: 'baseline C',
      child: baselineC,
      key: ctx.keys.baselineC,
    });
  ctx.log(`throughput: ${list.map((t) => t.label).join(', ')}`);
  const runs = await interleavedClosedLoop(ctx, list, (t) => chatSpec(t.child, t.key));
  const agg = new Map([...runs].map(([id, rounds]) => [id, aggregate(rounds)]));
  const a = agg.get('baselineA')!;
  const result: ScenarioResult & { peakA: number; peakProxy: number } = {
    name: 'throughput',
    peakA: a.rps,
    peakProxy: agg.get('proxyMemory')!.rps,
    measurements: Object.fromEntries([...agg].map(([id, m]) => [id, compact(m)])),
    rows: [
      {
        scenario: 'Chat, non-streamed: baseline A (Fastify + undici passthrough)',
        rps: a.rps,
        p50: a.p50,
        p99: a.p99,
        vsBaseline: null,
        target: null,
        met: null,
      },
    ],
    details: Object.fromEntries(
      [...runs].map(([id, rounds]) => [
        id,
        rounds.map((r) => ({
          rps: round(r.rps, 1),
          p50: round(r.p50),
          p99: round(r.p99),
          cpuUsPerReq: round(r.cpuUsPerReq, 0),
          non2xx: r.non2xx,
        })),
      ]),
    ),
    notes: [
      `CPU per answered request (server process only, /proc/<pid>/stat): ${list
        .map((t) => `${t.label} ${agg.get(t.id)!.cpuUsPerReq.toFixed(0)} µs`)
        .join(', ')}.`,
    ],
  };
  const c = agg.get('baselineC');
  if (c) {
    result.rows.push({
      scenario: 'Chat, non-streamed: baseline C (minimal governed proxy)',
      rps: c.rps,
      p50: c.p50,
      p99: c.p99,
      vsBaseline: `${(c.rps / a.rps).toFixed(2)}x A`,
      target: null,
      met: null,
    });
    if (c.non2xx || c.errors)
      result.notes!.push(
        `baseline C: ${c.non2xx} non-2xx answers and ${c.errors} errors (not counted as req/s)`,
      );
  }
  for (const t of list.slice(1)) {
    if (t.id === 'baselineC') continue;
    const m = agg.get(t.id)!;
    const ratio = m.rps / a.rps;
    result.rows.push({
      scenario: `Chat, non-streamed: ${t.label}, auth + policies + Postgres audit`,
      rps: m.rps,
      p50: m.p50,
      p99: m.p99,
      vsBaseline: `${ratio.toFixed(2)}x A`,
      target: '>= 0.70x A',
      met: ratio >= 0.7,
    });
    // CPU is the server process's own (all its threads), so it does not depend on what else the
    // two cores run; the target is what a governed call may add over the bare passthrough.
    const added = m.cpuUsPerReq - a.cpuUsPerReq;
    result.rows.push({
      scenario: `CPU per call: ${t.label}, added over baseline A (${a.cpuUsPerReq.toFixed(0)} µs)`,
      rps: m.rps,
      p50: null,
      p99: null,
      vsBaseline: `+${added.toFixed(0)} µs (${m.cpuUsPerReq.toFixed(0)} µs)`,
      target: '<= +120 µs',
      met: added <= 120,
    });
    if (c)
      result.notes!.push(
        `${t.label} reaches ${(m.rps / c.rps).toFixed(2)}x of baseline C (the minimal governed proxy).`,
      );
    if (m.non2xx || m.errors)
      result.notes!.push(
        `${t.label}: ${m.non2xx} non-2xx answers and ${m.errors} errors (not counted as req/s)`,
      );
  }
  return result;
}
