/**
 * CPU profile of a proxy process under the throughput load: a separate proxy child started with
 * `--cpu-prof`, loaded for the round duration, stopped with SIGTERM (V8 writes the profile on
 * exit), then summarised. Start-up samples are skipped; the file stays in the temp dir.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chatSpec, checkSpec, type BenchContext } from '../lib/context.js';
import { closedLoop } from '../lib/load.js';
import { startProxy, type BenchEnvironment } from '../lib/environment.js';
import { summariseProfile, type CpuProfile, type ProfileSummary } from '../tools/cpuprofile.js';

export async function profileScenario(
  ctx: BenchContext,
  env: BenchEnvironment,
  options: { redis: boolean; check?: boolean },
): Promise<{
  summary: ProfileSummary;
  file: string;
  rps: number;
  profile: CpuProfile;
  skipMs: number;
  requests: number;
}> {
  const dir = mkdtempSync(join(tmpdir(), 'aigov-cpuprof-'));
  const spawnedAt = performance.now();
  const { child: proxy, key } = await startProxy(env, {
    name: 'aigov (profiled)',
    instance: 'profiled',
    redis: options.redis,
    nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`],
  });
  const spec = options.check ? checkSpec(proxy, key) : chatSpec(proxy, key);
  await closedLoop(spec, { connections: ctx.params.connections, durationS: ctx.params.warmupS });
  const skipMs = performance.now() - spawnedAt;
  ctx.log(`profile: ${ctx.params.durationS} s of load on a --cpu-prof proxy`);
  const load = await closedLoop(spec, {
    connections: ctx.params.connections,
    durationS: ctx.params.durationS,
  });
  await proxy.stop();
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length === 0) throw new Error(`no .cpuprofile written in ${dir}`);
  const path = join(dir, files[0]!);
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  // Drop start-up and warm-up; the shutdown tail is short.
  const summary = summariseProfile(profile, { top: 40, skipMs });
  return { summary, file: path, rps: load.rps, profile, skipMs, requests: load.ok };
}
