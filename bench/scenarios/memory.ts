/**
 * Peak RSS under many connections (many requests in flight at once): VmHWM is reset just before a
 * closed-loop run at `memoryConnections`, so the reading is that run's own peak, for baseline A
 * and each proxy. The lifetime VmHWM is reported too: it includes the fixed-rate run at half of
 * baseline A's peak, which the proxy cannot sustain, so its backlog of queued requests (open loop)
 * is what sets that figure, not a steady load. Optional soak: RSS after 1 minute of steady load
 * against RSS at the end (10 minutes by default).
 */
import { chatSpec, chatTargets, type BenchContext, type ScenarioResult } from '../lib/context.js';
import { closedLoop } from '../lib/load.js';
import { memoryOf, resetPeakRss, sampleRss, type ServerChild } from '../lib/children.js';
import { median, round } from '../lib/stats.js';

interface PeakRun {
  peakMb: number;
  lifetimePeakMb: number;
  rssNowMb: number;
  rps: number;
  p50: number;
  p99: number;
  /** The peak is VmHWM since a reset; false: the highest of RSS samples every 250 ms. */
  exact: boolean;
}

async function peakUnderLoad(ctx: BenchContext, child: ServerChild, key: string | null): Promise<PeakRun> {
  const lifetimePeakMb = memoryOf(child.pid)?.hwmMb ?? 0;
  const exact = resetPeakRss(child.pid);
  const sampler = sampleRss(child.pid);
  const load = await closedLoop(chatSpec(child, key), {
    connections: ctx.params.memoryConnections,
    durationS: ctx.params.durationS,
  });
  const sampled = sampler.stop();
  const mem = memoryOf(child.pid);
  const peakMb = exact && mem ? mem.hwmMb : sampled.peakMb;
  return {
    peakMb,
    lifetimePeakMb: Math.max(lifetimePeakMb, peakMb),
    rssNowMb: mem?.rssMb ?? 0,
    rps: load.rps,
    p50: load.p50,
    p99: load.p99,
    exact,
  };
}

export async function memoryScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const { params } = ctx;
  const list = chatTargets(ctx);
  ctx.log(`memory: ${params.memoryConnections} connections for ${params.durationS} s per target`);
  const measurements: Record<string, Record<string, number>> = {};
  const rows: ScenarioResult['rows'] = [];
  const notes: string[] = [];
  for (const p of list) {
    const run = await peakUnderLoad(ctx, p.child, p.key);
    measurements[p.id] = {
      peakRssMb: round(run.peakMb, 1),
      lifetimePeakRssMb: round(run.lifetimePeakMb, 1),
      rssNowMb: round(run.rssNowMb, 1),
      rps: round(run.rps, 1),
      p99: round(run.p99),
    };
    ctx.log(
      `  ${p.label}: peak ${run.peakMb.toFixed(1)} MB during the run (${run.exact ? 'VmHWM after reset' : 'sampled'}), ` +
        `lifetime ${run.lifetimePeakMb.toFixed(1)} MB, ${run.rps.toFixed(0)} req/s at ${params.memoryConnections} connections`,
    );
    const proxy = p.id !== 'baselineA';
    rows.push({
      scenario: `Peak RSS, ${params.memoryConnections} connections: ${p.label}`,
      rps: run.rps,
      p50: run.p50,
      p99: run.p99,
      vsBaseline: `${run.peakMb.toFixed(1)} MB`,
      target: proxy ? '<= 200 MB' : null,
      met: proxy ? run.peakMb <= 200 : null,
    });
    if (proxy)
      notes.push(
        `${p.label}: lifetime peak RSS ${run.lifetimePeakMb.toFixed(1)} MB, set by the fixed-rate run above its capacity (open-loop backlog), not by steady load.`,
      );
  }
  return { name: 'memory', measurements, rows, notes };
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
