/** POST /v1/check (decision only) against baseline B (parse JSON, answer a constant). */
import { checkSpec, type BenchContext, type ScenarioResult } from '../lib/context.js';
import type { NamedTarget } from '../lib/context.js';
import { aggregate, compact, interleavedClosedLoop } from './throughput.js';

export async function checkScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const { targets, keys } = ctx;
  const list: NamedTarget[] = [
    { id: 'baselineB', label: 'baseline B', child: targets.baselineB, key: null },
    { id: 'check', label: 'aigov /v1/check', child: targets.proxyMemory, key: keys.proxyMemory },
  ];
  ctx.log('check: baseline B vs aigov /v1/check');
  const runs = await interleavedClosedLoop(ctx, list, (t) => checkSpec(t.child, t.key));
  const b = aggregate(runs.get('baselineB')!);
  const c = aggregate(runs.get('check')!);
  const ratio = c.rps / b.rps;
  return {
    name: 'check',
    measurements: { baselineB: compact(b), check: compact(c) },
    rows: [
      {
        scenario: '/v1/check: baseline B (Fastify, parse JSON, constant answer)',
        rps: b.rps,
        p50: b.p50,
        p99: b.p99,
        vsBaseline: null,
        target: null,
        met: null,
      },
      {
        scenario: '/v1/check: aigov, auth + shipped policies + limit peek (memory)',
        rps: c.rps,
        p50: c.p50,
        p99: c.p99,
        vsBaseline: `${ratio.toFixed(2)}x B`,
        target: '>= 0.6x B',
        met: ratio >= 0.6,
      },
    ],
    details: Object.fromEntries(
      [...runs].map(([id, r]) => [id, r.map((x) => compact({ ...x, non2xx: 0, errors: 0 }))]),
    ),
    notes: [
      `CPU per answered /v1/check (server process only): baseline B ${b.cpuUsPerReq.toFixed(0)} µs, aigov ${c.cpuUsPerReq.toFixed(0)} µs.`,
      ...(c.non2xx || c.errors ? [`/v1/check: ${c.non2xx} non-2xx, ${c.errors} errors`] : []),
    ],
  };
}
