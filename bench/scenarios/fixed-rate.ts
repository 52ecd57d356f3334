/**
 * Added latency at a fixed request rate (half of baseline A's closed-loop peak), open loop:
 * requests leave on schedule whatever the server does, and latency counts from the schedule.
 * (autocannon's overallRate sends each connection's per-second quota back to back and then
 * pauses, which measures bursts, not a steady rate; hence undici here.)
 */
import { chatSpec, chatTargets, type BenchContext, type ScenarioResult } from '../lib/context.js';
import { openLoop, type LoadResult } from '../lib/load.js';
import { median, round } from '../lib/stats.js';

export async function fixedRateScenario(
  ctx: BenchContext,
  peak: number,
  options: { name: string; basis: string; redis: boolean },
): Promise<ScenarioResult> {
  const { params } = ctx;
  const rate = Math.max(10, Math.round(peak / 2));
  const list = chatTargets(ctx, { redis: options.redis });
  ctx.log(`fixed rate: ${rate} req/s (half of ${options.basis}'s peak)`);
  for (const t of list)
    await openLoop(chatSpec(t.child, t.key), { rate, durationS: Math.min(params.warmupS, 2) });
  const runs = new Map<string, LoadResult[]>(list.map((t) => [t.id, []]));
  for (let r = 0; r < params.rounds; r++) {
    for (const t of list) {
      // A round the proxy could not keep up with leaves an audit backlog behind; it must not
      // slow the next target's round down.
      await ctx.settle?.();
      const res = await openLoop(chatSpec(t.child, t.key), { rate, durationS: params.durationS });
      runs.get(t.id)!.push(res);
      ctx.log(
        `  round ${r + 1} ${t.label}: p50 ${res.p50.toFixed(3)} ms p99 ${res.p99.toFixed(3)} ms max ${res.max.toFixed(1)} ms` +
          (res.non2xx || res.errors ? ` (non-2xx ${res.non2xx}, errors ${res.errors})` : ''),
      );
    }
  }
  const agg = (id: string): { p50: number; p99: number; rps: number; max: number } => {
    const rs = runs.get(id)!;
    return {
      rps: rs.reduce((s, x) => s + x.rps, 0) / rs.length,
      p50: median(rs.map((x) => x.p50)),
      p99: median(rs.map((x) => x.p99)),
      max: Math.max(...rs.map((x) => x.max)),
    };
  };
  const a = agg('baselineA');
  const result: ScenarioResult = {
    name: options.name,
    measurements: {},
    rows: [
      {
        scenario: `Fixed rate ${rate} req/s (half ${options.basis} peak): baseline A`,
        rps: a.rps,
        p50: a.p50,
        p99: a.p99,
        vsBaseline: null,
        target: null,
        met: null,
      },
    ],
    details: {
      rate,
      rounds: Object.fromEntries(
        [...runs].map(([id, rs]) => [
          id,
          rs.map((x) => ({ p50: round(x.p50), p99: round(x.p99), max: round(x.max), non2xx: x.non2xx })),
        ]),
      ),
    },
  };
  for (const t of list) {
    const m = agg(t.id);
    result.measurements[t.id] = { rate, rps: round(m.rps, 1), p50: round(m.p50), p99: round(m.p99) };
    if (t.id === 'baselineA') continue;
    const d50 = m.p50 - a.p50;
    const d99 = m.p99 - a.p99;
    result.rows.push(
      {
        scenario: `Fixed rate ${rate} req/s (half ${options.basis} peak): ${t.label}, added p50`,
        rps: m.rps,
        p50: m.p50,
        p99: m.p99,
        vsBaseline: `${d50 >= 0 ? '+' : ''}${d50.toFixed(3)} ms p50`,
        target: '<= +0.5 ms',
        met: d50 <= 0.5,
      },
      {
        scenario: `Fixed rate ${rate} req/s (half ${options.basis} peak): ${t.label}, added p99`,
        rps: m.rps,
        p50: m.p50,
        p99: m.p99,
        vsBaseline: `${d99 >= 0 ? '+' : ''}${d99.toFixed(3)} ms p99`,
        target: '<= +5 ms',
        met: d99 <= 5,
      },
    );
  }
  return result;
}
