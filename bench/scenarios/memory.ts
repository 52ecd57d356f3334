/**
 * Peak RSS of the proxy processes: VmHWM from /proc/<pid>/status after every other scenario and a
 * high-concurrency run (many connections, so many requests in flight at once). Optional soak:
 * RSS after 1 minute of steady load against RSS at the end (10 minutes by default).
 */
import { chatSpec, type BenchContext, type ScenarioResult } from '../lib/context.js';
import { closedLoop } from '../lib/load.js';
import { memoryOf, sampleRss } from '../lib/children.js';
import { median, round } from '../lib/stats.js';

export async function memoryScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const { targets, keys, params } = ctx;
  const proxies = [
    { id: 'proxyMemory', label: 'aigov (memory limits)', child: targets.proxyMemory, key: keys.proxyMemory },
    ...(targets.proxyRedis && keys.proxyRedis
      ? [{ id: 'proxyRedis', label: 'aigov (Redis limits)', child: targets.proxyRedis, key: keys.proxyRedis }]
      : []),
  ];
  ctx.log(`memory: ${params.memoryConnections} connections for ${params.durationS} s per proxy`);
  const measurements: Record<string, Record<string, number>> = {};
  const rows: ScenarioResult['rows'] = [];
  for (const p of proxies) {
    const sampler = sampleRss(p.child.pid);
    const load = await closedLoop(chatSpec(p.child, p.key), {
      connections: params.memoryConnections,
      durationS: params.durationS,
    });
    const sampled = sampler.stop();
    const mem = memoryOf(p.child.pid);
    const hwm = mem?.hwmMb ?? sampled.peakMb;
    measurements[p.id] = {
      peakRssMb: round(hwm, 1),
      rssNowMb: round(mem?.rssMb ?? 0, 1),
      rps: round(load.rps, 1),
      p99: round(load.p99),
    };
    ctx.log(
      `  ${p.label}: VmHWM ${hwm.toFixed(1)} MB, ${load.rps.toFixed(0)} req/s at ${params.memoryConnections} connections`,
    );
    rows.push({
      scenario: `Peak RSS (VmHWM): ${p.label}, after all scenarios + ${params.memoryConnections} connections`,
      rps: load.rps,
      p50: load.p50,
      p99: load.p99,
      vsBaseline: `${hwm.toFixed(1)} MB`,
      target: '<= 200 MB',
      met: hwm <= 200,
    });
  }
  const a = memoryOf(targets.baselineA.pid);
  if (a) measurements.baselineA = { peakRssMb: round(a.hwmMb, 1), rssNowMb: round(a.rssMb, 1) };
  return { name: 'memory', measurements, rows };
}

export async function soakScenario(ctx: BenchContext, minutes: number): Promise<ScenarioResult> {
  const { targets, keys } = ctx;
  const child = targets.proxyMemory;
  const key = keys.proxyMemory;
  const totalS = Math.max(2, minutes * 60);
  const earlyAt = Math.min(60, totalS / 5);
  ctx.log(`soak: ${minutes} min of closed-loop load (8 connections) on aigov (memory limits)`);
  const samples: { t: number; rss: number }[] = [];
  const started = performance.now();
  const timer = setInterval(() => {
    const m = memoryOf(child.pid);
    if (m) samples.push({ t: (performance.now() - started) / 1000, rss: m.rssMb });
  }, 1000);
  const load = await closedLoop(chatSpec(child, key), { connections: 8, durationS: totalS });
  clearInterval(timer);
  const around = (from: number, to: number): number =>
    median(samples.filter((s) => s.t >= from && s.t <= to).map((s) => s.rss));
  const early = around(earlyAt - 10, earlyAt + 10);
  const late = around(totalS - 20, totalS);
  const growth = late - early;
  const allowed = Math.max(5, early * 0.05);
  return {
    name: 'soak',
    measurements: {
      proxyMemory: { rssEarlyMb: round(early, 1), rssLateMb: round(late, 1), rps: round(load.rps, 1) },
    },
    rows: [
      {
        scenario: `Soak ${minutes} min: RSS at ${Math.round(earlyAt)} s vs at the end`,
        rps: load.rps,
        p50: load.p50,
        p99: load.p99,
        vsBaseline: `${early.toFixed(1)} -> ${late.toFixed(1)} MB (${growth >= 0 ? '+' : ''}${growth.toFixed(1)})`,
        target: `growth <= ${allowed.toFixed(1)} MB (5%)`,
        met: growth <= allowed,
      },
    ],
    details: { samples: samples.filter((_, i) => i % 10 === 0).map((s) => [round(s.t, 0), round(s.rss, 1)]) },
  };
}
