/**
 * Before/after for performance work: this checkout against an earlier git revision, in one run,
 * interleaved round by round with baseline A on the same mock, so machine noise hits all three
 * alike. Both proxies are tsc builds run as `node dist/main.js` with the shipped policies,
 * memory (or Redis) limits and a Postgres (or PGlite) audit log of their own.
 *
 *   node --import tsx bench/compare.ts [revision=HEAD~1] [--check] [--redis] [--with-c] [--seconds 8] [--rounds 3]
 *
 * `--check` compares POST /v1/check (against baseline B) instead of chat completions. `--with-c`
 * (chat only, needs Postgres) adds baseline C, the minimal governed proxy
 * (bench/baselines/minimal-governed.ts), to the interleaved rounds: the floor both revisions are
 * measured against. The earlier revision is checked out in a temporary git worktree, removed
 * afterwards.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT, cpuMsOf, spawnServer, type ServerChild } from './lib/children.js';
import { chatSpec, checkSpec } from './lib/context.js';
import * as current from './lib/environment.js';
import { closedLoop } from './lib/load.js';
import { median } from './lib/stats.js';

type EnvironmentModule = Pick<typeof current, 'prepareEnvironment' | 'startProxy'>;

interface Options {
  revision: string;
  check: boolean;
  redis: boolean;
  withC: boolean;
  seconds: number;
  rounds: number;
}

function parseArgs(argv: string[]): Options {
  const value = (flag: string, fallback: number): number => {
    const i = argv.indexOf(flag);
    const n = i === -1 ? fallback : Number(argv[i + 1]);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} takes a positive number`);
    return n;
  };
  const positional = argv.filter(
    (a, i) => !a.startsWith('--') && !argv[i - 1]?.match(/^--(seconds|rounds)$/),
  );
  return {
    revision: positional[0] ?? 'HEAD~1',
    check: argv.includes('--check'),
    redis: argv.includes('--redis'),
    withC: argv.includes('--with-c'),
    seconds: value('--seconds', 8),
    rounds: value('--rounds', 3),
  };
}

function git(args: string[]): string {
  return execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
}

interface Row {
  rps: number[];
  cpuUs: number[];
  p50: number[];
  p99: number[];
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const commit = git(['rev-parse', '--verify', `${opts.revision}^{commit}`]);
  const dir = mkdtempSync(join(tmpdir(), 'aigov-compare-'));
  const tree = join(dir, 'tree');
  git(['worktree', 'add', '--detach', tree, commit]);
  const children: ServerChild[] = [];
  const log = (line: string): void => void process.stdout.write(line + '\n');
  try {
    const envPath = join(tree, 'bench', 'lib', 'environment.ts');
    if (!existsSync(envPath))
      throw new Error(`${opts.revision} has no bench/lib/environment.ts to start it with`);
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(tree, 'node_modules'), 'dir');
    const earlier = (await import(pathToFileURL(envPath).href)) as EnvironmentModule;

    const mock = await spawnServer({
      name: 'mock provider',
      args: ['bench/baselines/mock.ts'],
      readyLine: true,
    });
    children.push(mock);
    const baseline = opts.check
      ? await spawnServer({ name: 'baseline B', args: ['bench/baselines/constant.ts'], readyLine: true })
      : await spawnServer({
          name: 'baseline A',
          args: ['bench/baselines/passthrough.ts'],
          env: { UPSTREAM_URL: mock.url },
          readyLine: true,
        });
    children.push(baseline);
    const envOptions = (name: string) => ({
      mockUrl: mock.url,
      dbName: `aigov_compare_${name}`,
      runtime: 'dist' as const,
    });
    const [envBefore, envAfter] = await Promise.all([
      earlier.prepareEnvironment(envOptions('before')),
      current.prepareEnvironment(envOptions('after')),
    ]);
    const before = await earlier.startProxy(envBefore, {
      name: 'before',
      instance: 'memory',
      redis: opts.redis,
    });
    const after = await current.startProxy(envAfter, {
      name: 'after',
      instance: 'memory',
      redis: opts.redis,
    });
    children.push(before.child, after.child);
    let baselineC: { child: ServerChild; key: string } | null = null;
    if (opts.withC && opts.check) log('--with-c applies to chat completions only: ignored with --check');
    else if (opts.withC) {
      baselineC = await current.startBaselineC(envAfter, mock.url);
      if (!baselineC) throw new Error('--with-c needs Postgres (baseline C writes its audit rows there)');
      children.push(baselineC.child);
    }

    const spec = (child: ServerChild, key: string | null) =>
      opts.check ? checkSpec(child, key) : chatSpec(child, key);
    const targets: [string, ServerChild, string | null][] = [
      [opts.check ? 'baseline B' : 'baseline A', baseline, null],
      ...(baselineC
        ? [['baseline C (minimal governed)', baselineC.child, baselineC.key] as [string, ServerChild, string]]
        : []),
      [`before (${commit.slice(0, 7)})`, before.child, before.key],
      ['after (this checkout)', after.child, after.key],
    ];
    log(
      `${opts.check ? 'POST /v1/check' : 'chat completions'}, ${opts.redis ? 'Redis' : 'memory'} limits, ` +
        `32 connections, ${opts.rounds} interleaved rounds of ${opts.seconds} s`,
    );
    for (const [, child, key] of targets)
      await closedLoop(spec(child, key), { connections: 32, durationS: 3 });
    const rows = new Map<string, Row>(
      targets.map(([name]) => [name, { rps: [], cpuUs: [], p50: [], p99: [] }]),
    );
    for (let r = 0; r < opts.rounds; r++)
      for (const [name, child, key] of targets) {
        const cpu0 = cpuMsOf(child.pid) ?? 0;
        const load = await closedLoop(spec(child, key), { connections: 32, durationS: opts.seconds });
        const cpuMs = (cpuMsOf(child.pid) ?? 0) - cpu0;
        const row = rows.get(name)!;
        row.rps.push(load.rps);
        row.cpuUs.push(load.ok > 0 ? (cpuMs * 1000) / load.ok : 0);
        row.p50.push(load.p50);
        row.p99.push(load.p99);
        if (load.non2xx || load.errors) log(`  ${name}: ${load.non2xx} non-2xx, ${load.errors} errors`);
      }
    const base = median(rows.get(targets[0]![0])!.rps);
    log('');
    log('| target | req/s | vs baseline | CPU µs/req | p50 ms | p99 ms |');
    log('|---|---:|---:|---:|---:|---:|');
    for (const [name, row] of rows) {
      const rps = median(row.rps);
      log(
        `| ${name} | ${rps.toFixed(0)} | ${(rps / base).toFixed(2)}x | ${median(row.cpuUs).toFixed(0)} | ` +
          `${median(row.p50).toFixed(2)} | ${median(row.p99).toFixed(2)} |`,
      );
    }
    for (const p of [before, after]) await p.child.stop();
    await Promise.all([envBefore.cleanup(), envAfter.cleanup()]);
  } finally {
    for (const c of children.reverse()) await c.stop();
    git(['worktree', 'remove', '--force', tree]);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
