/**
 * aigov benchmark suite: `npm run bench` (about 10 minutes), `npm run bench -- --quick` (smoke, no
 * speed assertions), `--soak [minutes]` (RSS growth under steady load, 10 min by default),
 * `--no-profile`, `--micro` (also run the policy and limit microbenchmarks), `--tsx` / `--dist`
 * (how proxies run), `--render` (rewrite RESULTS.md from results/latest.json).
 *
 * Setup: the load generator (autocannon / undici) runs in this process; the mock provider, the
 * two baselines and the aigov proxies each run in their own child process. See bench/RESULTS.md.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { request } from 'undici';
import { REPO_ROOT, nodeCommand, spawnServer, type ServerChild } from './lib/children.js';
import {
  FULL,
  QUICK,
  STREAM_BODY,
  CHAT_BODY,
  chatSpec,
  checkSpec,
  type BenchContext,
  type BenchParams,
  type ScenarioResult,
  type Targets,
} from './lib/context.js';
import {
  prepareEnvironment,
  startBaselineC,
  startProxy,
  type BenchEnvironment,
  type Runtime,
} from './lib/environment.js';
import { machine, renderMarkdown, resultsTable, type BenchResults } from './lib/report.js';
import { throughputScenario } from './scenarios/throughput.js';
import { checkScenario } from './scenarios/check.js';
import { fixedRateScenario } from './scenarios/fixed-rate.js';
import { STREAM_CHUNKS, STREAM_CHUNK_DELAY_MS, streamingScenario } from './scenarios/streaming.js';
import { memoryScenario, soakScenario } from './scenarios/memory.js';
import { profileScenario } from './scenarios/profile.js';
import { settle } from './lib/settle.js';

export interface RunOptions {
  quick?: boolean;
  /** Minutes of soak (0 = no soak). */
  soakMinutes?: number;
  profile?: boolean;
  /** Write RESULTS.md + results/latest.json (full runs) or nothing (null). */
  write?: boolean;
  /** Override parameters (tests use tiny durations). */
  params?: Partial<BenchParams>;
  dbName?: string;
  /** tsx (default for --quick) or a tsc build run as node dist/main.js (default for full runs). */
  runtime?: Runtime;
  command?: string;
  log?: (line: string) => void;
}

const BENCH_DIR = join(REPO_ROOT, 'bench');

/** Requests per lease-mode share in the bench (a limit of 600/min at the default fraction gives 30). */
const LEASE_SIZE = 100;

async function sanityCheck(targets: Targets, keys: BenchContext['keys']): Promise<void> {
  const post = async (
    spec: ReturnType<typeof chatSpec>,
  ): Promise<{ status: number; headers: Record<string, unknown>; text: string }> => {
    const res = await request(spec.url + spec.path, {
      method: 'POST',
      headers: spec.headers,
      body: spec.body,
    });
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
  };
  const proxies: [ServerChild, string][] = [[targets.proxyMemory, keys.proxyMemory]];
  if (targets.proxyRedis && keys.proxyRedis) proxies.push([targets.proxyRedis, keys.proxyRedis]);
  if (targets.proxyLease && keys.proxyLease) proxies.push([targets.proxyLease, keys.proxyLease]);
  const a = await post(chatSpec(targets.baselineA, null));
  if (a.status !== 200) throw new Error(`baseline A answered ${a.status}: ${a.text.slice(0, 200)}`);
  if (targets.baselineC) {
    const c = await post(chatSpec(targets.baselineC, keys.baselineC));
    if (c.status !== 200) throw new Error(`baseline C answered ${c.status}: ${c.text.slice(0, 200)}`);
  }
  for (const [p, key] of proxies) {
    const r = await post(chatSpec(p, key));
    if (r.status !== 200 || r.headers['x-aigov-decision'] !== 'allow')
      throw new Error(
        `${p.name} answered ${r.status} (${String(r.headers['x-aigov-decision'])}): ${r.text.slice(0, 300)}`,
      );
    const s = await post(chatSpec(p, key, STREAM_BODY));
    if (s.status !== 200 || !s.text.includes('[DONE]'))
      throw new Error(`${p.name} streamed answer ${s.status}: ${s.text.slice(0, 300)}`);
  }
  const c = await post(checkSpec(targets.proxyMemory, keys.proxyMemory));
  const decision = JSON.parse(c.text) as { allowed?: boolean };
  if (c.status !== 200 || decision.allowed !== true)
    throw new Error(`/v1/check answered ${c.status}: ${c.text.slice(0, 300)}`);
  const b = await post(checkSpec(targets.baselineB, null));
  if (b.status !== 200) throw new Error(`baseline B answered ${b.status}`);
}

function setupText(res: { params: BenchParams; setup: Record<string, unknown> }): string {
  const p = res.params;
  const s = res.setup;
  return [
    '- Processes: the load generator (autocannon for closed-loop runs, undici for the fixed-rate and',
    '  streamed runs) runs in the bench process; the mock provider (`test/support/mock-provider.ts`,',
    '  requests not recorded), baseline A, baseline B and each aigov proxy run as separate child',
    '  processes (`node --import tsx ...`), so every server has its own event loop and its own RSS.',
    '  With 2 cores, generator + server + mock compete for CPU the same way for the baseline and',
    '  for the proxy; targets are ratios measured in interleaved rounds (A, proxy, A, proxy...).',
    `- Baseline A (\`bench/baselines/passthrough.ts\`): Fastify, body kept as bytes, undici Pool`,
    "  (256 connections, like the proxy's provider pool) to the mock, answer sent back whole or",
    '  piped for SSE. No auth, policy, limits or logging.',
    '- Baseline B (`bench/baselines/constant.ts`): Fastify route that parses the JSON body and',
    '  returns a constant decision.',
    '- Baseline C (`bench/baselines/minimal-governed.ts`, with Postgres only): the least a governed',
    '  proxy does per call: raw body kept and JSON-parsed, key compared in constant time, one detector',
    '  regex over every message, original bytes forwarded with undici, answer read whole and parsed',
    '  once for usage, one hash-chained audit row, rows written every 200 ms as one',
    "  `INSERT ... SELECT * FROM jsonb_to_recordset($1)` into its own table in the memory proxy's",
    '  database. Its ratio to A is the floor; aigov is measured against it in the notes.',
    `- aigov: ${s.runtime === 'dist' ? '`node dist/main.js` from a tsc build of the checkout in a temp dir (as the image runs it)' : '`node --import tsx src/cli/index.ts serve`'},`,
    '  NODE_ENV=production, LOG_LEVEL=warn, one fresh database per proxy process,',
    `  audit to ${s.database === 'postgres' ? 'a fresh Postgres database' : 'embedded PGlite (no Postgres reachable)'} (migrated on start),`,
    `  limits in memory${s.redis ? ' and, second process, on Redis' : ' (Redis not reachable: Redis variant skipped)'}, key created with`,
    '  `aigov keys create --json` (bcrypt cost 12, verification cache 5 s, as shipped); the shipped',
    `  \`policies/\` set with the per-key rate limit raised to 1e12 (600/min would turn the run`,
    '  into a 429 benchmark; the rule still reserves and reconciles on the store every request).',
    `- Request: POST /v1/chat/completions, model gpt-4o-mini, ${JSON.stringify(CHAT_BODY).length} bytes of JSON,`,
    '  plain prose that passes every shipped policy (decision allow, checked before the run).',
    `  Streamed: same body with \`stream: true, stream_options.include_usage\`; the mock sends`,
    `  ${STREAM_CHUNKS} content chunks ${STREAM_CHUNK_DELAY_MS} ms apart.`,
    `- Closed loop: ${p.connections} connections, pipelining 1, ${p.warmupS} s warm-up per target, then`,
    `  ${p.rounds} interleaved rounds of ${p.durationS} s per target; req/s = 2xx per second, mean of`,
    "  rounds; p50/p99 = median over rounds of each round's percentile (float ms per response).",
    '- Fixed rate: open loop (requests leave on schedule, latency from the scheduled time) at half',
    '  of baseline A\'s closed-loop peak; "added" = proxy minus baseline A, same rate, same rounds.',
    '  When the proxy cannot sustain that rate, the added latency is queueing; the supplementary',
    "  rows repeat the measurement at half of the proxy's own peak (memory limits).",
    `- Streamed: ${p.streamRequests} requests per target per round, ${p.streamConcurrency} at a time;`,
    '  TTFB = time to the first body byte; "added" = proxy p50 minus baseline A p50.',
    `- Memory: VmHWM from /proc/<pid>/status, reset (clear_refs) just before ${p.memoryConnections} connections`,
    `  for ${p.durationS} s, so it is that run's own peak; baseline A the same way. The lifetime peak`,
    "  (which the overload run at half of A's peak sets) is in the notes. Soak (`--soak`, not in CI):",
    '  RSS after 1 min vs at the end.',
    '- Between scenarios and fixed-rate rounds the run waits until no proxy has audit rows still',
    "  queued (each proxy's /metrics), so no run inherits an earlier overload's backlog.",
  ].join('\n');
}

export async function runBench(options: RunOptions = {}): Promise<BenchResults> {
  const log = options.log ?? ((line: string) => process.stdout.write(line + '\n'));
  const params: BenchParams = { ...(options.quick ? QUICK : FULL), ...options.params };
  const started = Date.now();
  const children: ServerChild[] = [];
  let env: BenchEnvironment | null = null;
  const notes: string[] = [];
  const scenarios: BenchResults['scenarios'] = {};
  const rows: BenchResults['rows'] = [];
  let profile: BenchResults['profile'] = null;
  const setup: Record<string, unknown> = {};
  try {
    const mock = await spawnServer({
      name: 'mock provider',
      args: ['bench/baselines/mock.ts'],
      env: { MOCK_BEHAVIOR: JSON.stringify({ chunks: STREAM_CHUNKS, chunkDelayMs: STREAM_CHUNK_DELAY_MS }) },
      readyLine: true,
    });
    children.push(mock);
    const [baselineA, baselineB, prepared] = await Promise.all([
      spawnServer({
        name: 'baseline A',
        args: ['bench/baselines/passthrough.ts'],
        env: { UPSTREAM_URL: mock.url },
        readyLine: true,
      }),
      spawnServer({ name: 'baseline B', args: ['bench/baselines/constant.ts'], readyLine: true }),
      prepareEnvironment({
        mockUrl: mock.url,
        dbName: options.dbName ?? (options.quick ? 'aigov_bench_quick' : 'aigov_bench'),
        runtime: options.runtime ?? (options.quick ? 'tsx' : 'dist'),
        log,
      }),
    ]);
    children.push(baselineA, baselineB);
    env = prepared;
    setup.database = env.postgres ? 'postgres' : 'pglite';
    setup.redis = env.redisUrl !== null;
    setup.runtime = env.runtime;
    const [mem, red, lease] = await Promise.all([
      startProxy(env, { name: 'aigov (memory limits)', instance: 'memory', redis: false }),
      env.redisUrl
        ? startProxy(env, { name: 'aigov (Redis limits)', instance: 'redis', redis: true })
        : Promise.resolve(null),
      env.redisUrl
        ? startProxy(env, {
            name: 'aigov (Redis limits, lease mode)',
            instance: 'lease',
            redis: true,
            // The bench raises limits to 1e12: this fraction makes each share 100 requests.
            config: { limits: { counting: 'lease', lease_fraction: LEASE_SIZE / 1e12 } },
          })
        : Promise.resolve(null),
      // Created now so the profile run does not wait for it later.
      (options.profile ?? !options.quick) ? env.instance('profiled') : Promise.resolve(null),
    ]);
    const proxyMemory = mem.child;
    const proxyRedis = red?.child ?? null;
    const proxyLease = lease?.child ?? null;
    children.push(proxyMemory, ...(proxyRedis ? [proxyRedis] : []), ...(proxyLease ? [proxyLease] : []));
    const baseC = await startBaselineC(env, mock.url);
    if (baseC) children.push(baseC.child);
    else notes.push('Baseline C skipped: it writes its audit rows to Postgres, and none is reachable.');
    const baselineC = baseC?.child ?? null;
    const targets: Targets = { mock, baselineA, baselineB, baselineC, proxyMemory, proxyRedis, proxyLease };
    const keys: BenchContext['keys'] = {
      proxyMemory: mem.key,
      proxyRedis: red?.key ?? null,
      proxyLease: lease?.key ?? null,
      baselineC: baseC?.key ?? null,
    };
    await sanityCheck(targets, keys);
    log(
      `servers: mock ${mock.url}, A ${baselineA.url}, B ${baselineB.url}, aigov ${proxyMemory.url}${proxyRedis ? `, aigov+redis ${proxyRedis.url}` : ''}`,
    );

    const ctx: BenchContext = {
      params,
      targets,
      keys,
      log,
      settle: () => settle([proxyMemory, proxyRedis, proxyLease], log),
    };
    const quiet = ctx.settle!;
    const keep = (r: ScenarioResult): void => {
      const { name, rows: rs, measurements, details, notes: n } = r;
      const rest = { measurements, details, notes: n };
      scenarios[name] = rest;
      rows.push(...rs);
      if (r.notes) notes.push(...r.notes);
    };
    const tp = await throughputScenario(ctx);
    keep(tp);
    await quiet();
    keep(await checkScenario(ctx));
    await quiet();
    keep(await fixedRateScenario(ctx, tp.peakA, { name: 'fixedRate', basis: 'A', redis: true }));
    await quiet();
    // Supplementary: the same at a rate the proxy sustains, so the added latency is per-request
    // overhead rather than queueing behind a saturated proxy.
    keep(
      await fixedRateScenario(ctx, tp.peakProxy, {
        name: 'fixedRateProxyPeak',
        basis: 'aigov',
        redis: false,
      }),
    );
    await quiet();
    keep(await streamingScenario(ctx));
    await quiet();
    keep(await memoryScenario(ctx));
    if (options.soakMinutes && options.soakMinutes > 0) keep(await soakScenario(ctx, options.soakMinutes));
    if (options.profile ?? !options.quick) {
      // The other proxies idle meanwhile; the profiled one has memory limits.
      const p = await profileScenario(ctx, env, { redis: false });
      profile = p.summary;
      log(`profile: kept ${p.file} (summarise: node --import tsx bench/tools/cpuprofile.ts <file>)`);
      log(
        `profile: ${p.rps.toFixed(0)} req/s while profiling; top self: ${p.summary.topSelf
          .slice(0, 5)
          .map((f) => `${f.fn} ${f.selfPct}%`)
          .join(', ')}`,
      );
    }
  } finally {
    for (const c of children.reverse()) {
      const code = await c.stop();
      if (code !== 0 && code !== null)
        log(`warning: ${c.name} exited with ${code}: ${c.output().slice(-500)}`);
      const rows = c.name === 'baseline C' ? /^ROWS (\d+)$/m.exec(c.output())?.[1] : undefined;
      if (rows) notes.push(`Baseline C wrote ${rows} audit rows to Postgres in this run.`);
    }
    if (env) await env.cleanup();
  }

  const finished = Date.now();
  const results: BenchResults = {
    schema: 1,
    mode: options.quick ? 'quick' : 'full',
    command: options.command ?? `npm run bench${options.quick ? ' -- --quick' : ''}`,
    startedAt: new Date(started).toISOString(),
    finishedAt: new Date(finished).toISOString(),
    durationS: (finished - started) / 1000,
    machine: machine(),
    params,
    setup: {
      ...setup,
      mock: { chunks: STREAM_CHUNKS, chunkDelayMs: STREAM_CHUNK_DELAY_MS },
      bodyBytes: JSON.stringify(CHAT_BODY).length,
      policies: 'policies/ (shipped), limit amounts raised to 1e12',
    },
    scenarios,
    rows,
    profile,
    notes,
  };
  if (options.write) {
    mkdirSync(join(BENCH_DIR, 'results'), { recursive: true });
    writeFileSync(join(BENCH_DIR, 'results', 'latest.json'), JSON.stringify(results, null, 2) + '\n');
    writeReport(results);
  }
  return results;
}

/** RESULTS.md from a results object (`--render` redoes it from results/latest.json). */
export function writeReport(results: BenchResults): void {
  writeFileSync(
    join(BENCH_DIR, 'RESULTS.md'),
    renderMarkdown(results, setupText(results), join(BENCH_DIR, 'PROFILE-NOTES.md')),
  );
}

const exec = promisify(execFile);

async function micro(log: (s: string) => void): Promise<void> {
  for (const script of ['bench/policy-decision.ts', 'bench/limit-check.ts']) {
    log(`\n## ${script}`);
    try {
      const { stdout } = await exec(process.execPath, nodeCommand([script]), {
        cwd: REPO_ROOT,
        maxBuffer: 1 << 24,
      });
      log(stdout.trim());
    } catch (err) {
      log(`(failed: ${(err as Error).message.split('\n')[0]})`);
    }
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const soakAt = args.indexOf('--soak');
  const soakArg = soakAt === -1 ? undefined : Number(args[soakAt + 1]);
  const soakMinutes = soakAt === -1 ? 0 : Number.isFinite(soakArg) && soakArg! > 0 ? soakArg! : 10;
  const log = (line: string): void => {
    process.stdout.write(line + '\n');
  };
  if (args.includes('--render')) {
    const latest = JSON.parse(
      readFileSync(join(BENCH_DIR, 'results', 'latest.json'), 'utf8'),
    ) as BenchResults;
    writeReport(latest);
    log('rewrote bench/RESULTS.md from bench/results/latest.json');
    process.exit(0);
  }
  runBench({
    quick,
    soakMinutes,
    profile: args.includes('--no-profile') ? false : !quick,
    ...(args.includes('--tsx')
      ? { runtime: 'tsx' as const }
      : args.includes('--dist')
        ? { runtime: 'dist' as const }
        : {}),
    write: !quick,
    command: `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`,
    log,
  })
    .then(async (res) => {
      log('\n' + resultsTable(res.rows));
      if (!quick) log('\nwrote bench/RESULTS.md and bench/results/latest.json');
      if (args.includes('--micro')) await micro(log);
      process.exit(0);
    })
    .catch((err: unknown) => {
      process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    });
}
