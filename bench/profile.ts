/**
 * A CPU profile of this checkout under the throughput load, on its own (the same scenario
 * `npm run bench` ends with), for performance work between full runs:
 *
 *   node --import tsx bench/profile.ts [--redis] [--check] [--seconds 10] [--connections 32] [--tsx] [--against-a]
 *
 * Prints the profile summary (self time, areas, aigov's functions by inclusive time) as Markdown
 * and the path of the .cpuprofile (open it in Chrome DevTools for the flame chart).
 * `--against-a` also profiles baseline A under the same load and prints CPU per request by area
 * and by function, aigov minus A: where the CPU a governed call adds goes. `--check` profiles
 * POST /v1/check instead (and, with --against-a, baseline B instead of A).
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { spawnServer, type ServerChild } from './lib/children.js';
import { FULL, chatSpec, checkSpec, type BenchContext } from './lib/context.js';
import { prepareEnvironment, type BenchEnvironment } from './lib/environment.js';
import { closedLoop } from './lib/load.js';
import { profileScenario } from './scenarios/profile.js';
import { STREAM_CHUNKS, STREAM_CHUNK_DELAY_MS } from './scenarios/streaming.js';
import { perRequest, profileMarkdown, type CpuProfile } from './tools/cpuprofile.js';

function flag(argv: string[], name: string, fallback: number): number {
  const i = argv.indexOf(name);
  const n = i === -1 ? fallback : Number(argv[i + 1]);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} takes a positive number`);
  return n;
}

/** Baseline A (or B, for /v1/check) under the same closed loop, with --cpu-prof. */
async function profileBaseline(
  mockUrl: string,
  params: { connections: number; durationS: number; warmupS: number },
  check: boolean,
): Promise<{ profile: CpuProfile; requests: number; skipMs: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'aigov-cpuprof-a-'));
  const spawnedAt = performance.now();
  const a = await spawnServer({
    name: check ? 'baseline B (profiled)' : 'baseline A (profiled)',
    args: [check ? 'bench/baselines/constant.ts' : 'bench/baselines/passthrough.ts'],
    nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`],
    env: { UPSTREAM_URL: mockUrl },
    readyLine: true,
  });
  const spec = check ? checkSpec(a, null) : chatSpec(a, null);
  await closedLoop(spec, { connections: params.connections, durationS: params.warmupS });
  const skipMs = performance.now() - spawnedAt;
  const load = await closedLoop(spec, { connections: params.connections, durationS: params.durationS });
  await a.stop();
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile written in ${dir}`);
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
  return { profile, requests: load.ok, skipMs };
}

export async function main(argv: string[]): Promise<void> {
  const redis = argv.includes('--redis');
  const log = (line: string): void => void process.stderr.write(line + '\n');
  const children: ServerChild[] = [];
  let env: BenchEnvironment | null = null;
  try {
    const mock = await spawnServer({
      name: 'mock provider',
      args: ['bench/baselines/mock.ts'],
      env: { MOCK_BEHAVIOR: JSON.stringify({ chunks: STREAM_CHUNKS, chunkDelayMs: STREAM_CHUNK_DELAY_MS }) },
      readyLine: true,
    });
    children.push(mock);
    env = await prepareEnvironment({
      mockUrl: mock.url,
      dbName: 'aigov_bench_profile',
      runtime: argv.includes('--tsx') ? 'tsx' : 'dist',
      log,
    });
    if (redis && !env.redisUrl) throw new Error('--redis: Redis is not reachable');
    const params = {
      ...FULL,
      durationS: flag(argv, '--seconds', 10),
      connections: flag(argv, '--connections', FULL.connections),
    };
    // The profile scenario only reads params and log from the context.
    const ctx = { params, log } as unknown as BenchContext;
    const check = argv.includes('--check');
    const { summary, file, rps, profile, skipMs, requests } = await profileScenario(ctx, env, {
      redis,
      check,
    });
    process.stdout.write(`${rps.toFixed(0)} req/s under the profiler; profile: ${file}\n\n`);
    process.stdout.write(profileMarkdown(summary, 30) + '\n');
    if (argv.includes('--against-a')) {
      const a = await profileBaseline(mock.url, params, check);
      const mine = perRequest(profile, requests, skipMs);
      const theirs = perRequest(a.profile, a.requests, a.skipMs);
      process.stdout.write('\n' + diffMarkdown(mine, theirs, check ? 'B' : 'A') + '\n');
    }
  } finally {
    for (const c of children.reverse()) await c.stop();
    await env?.cleanup();
  }
}

function diffMarkdown(
  mine: ReturnType<typeof perRequest>,
  base: ReturnType<typeof perRequest>,
  name: string,
): string {
  const rows = (a: Map<string, number>, b: Map<string, number>, limit: number): string[] =>
    [...new Set([...a.keys(), ...b.keys()])]
      .map((k) => ({ k, x: a.get(k) ?? 0, y: b.get(k) ?? 0 }))
      .sort((p, q) => q.x - q.y - (p.x - p.y))
      .slice(0, limit)
      .map(
        ({ k, x, y }) =>
          `| ${k.replace(/\|/g, '\\|')} | ${x.toFixed(1)} | ${y.toFixed(1)} | ${(x - y).toFixed(1)} |`,
      );
  return [
    `CPU per request on the main thread (busy samples / 2xx answers): aigov ${mine.busyUs.toFixed(0)} µs, baseline ${name} ${base.busyUs.toFixed(0)} µs, added ${(mine.busyUs - base.busyUs).toFixed(0)} µs.`,
    '',
    `| area | aigov µs/req | ${name} µs/req | added |`,
    '|---|---:|---:|---:|',
    ...rows(mine.byArea, base.byArea, 25),
    '',
    `| function (self) | aigov µs/req | ${name} µs/req | added |`,
    '|---|---:|---:|---:|',
    ...rows(mine.byFunction, base.byFunction, 40),
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
