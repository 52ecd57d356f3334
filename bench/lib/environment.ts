/**
 * Everything the proxy children need: Postgres (or embedded PGlite when no Postgres answers),
 * Redis if it answers, the shipped policies with their limit amounts raised, an AIGOV_CONFIG
 * file, optionally a compiled copy of the app (tsc into a temp dir, run as `node dist/main.js`
 * like the image does), and per proxy instance its own fresh database with one API key created
 * through the CLI. One database per proxy process: they are independent deployments, not
 * replicas sharing one audit table.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { REPO_ROOT, freePort, spawnServer, type ServerChild } from './children.js';

const run = promisify(execFile);

/** How proxy children run: TypeScript through tsx, or the tsc build (production-like). */
export type Runtime = 'tsx' | 'dist';

export interface BenchEnvironment {
  dir: string;
  runtime: Runtime;
  postgres: boolean;
  redisUrl: string | null;
  policiesDir: string;
  /**
   * A proxy instance's own database and key; created on first use. `config` is merged over the
   * bench config (one level deep) into a config file of the instance's own.
   */
  instance(name: string, config?: Record<string, Record<string, unknown>>): Promise<ProxyInstance>;
  cleanup(): Promise<void>;
}

export interface ProxyInstance {
  name: string;
  key: string;
  /** Environment for the CLI and the proxy (PORT and REDIS_URL are added per child). */
  env: NodeJS.ProcessEnv;
}

export interface EnvironmentOptions {
  mockUrl: string;
  /** Prefix of the databases (re)created on the Postgres server. */
  dbName: string;
  runtime: Runtime;
  adminUrl?: string;
  redisUrl?: string;
  log?: (line: string) => void;
}

function reachable(url: string, defaultPort: number, timeoutMs = 1000): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = connect({ host: u.hostname || '127.0.0.1', port: Number(u.port || defaultPort) });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/**
 * The shipped policy files, unchanged except limit amounts: the default per-key rate limit
 * (600/min) would turn a benchmark into a 429 benchmark. The limit rules stay, so every request
 * still reserves and reconciles on the limit store.
 */
export function benchPolicies(sourceDir: string, targetDir: string): string[] {
  mkdirSync(targetDir, { recursive: true });
  const files = readdirSync(sourceDir).filter((f) => /\.ya?ml$/.test(f) && !/\.test\.ya?ml$/.test(f));
  const raised: string[] = [];
  for (const f of files) {
    const doc = parseYaml(readFileSync(join(sourceDir, f), 'utf8')) as {
      rules?: { id?: string; limit?: Record<string, unknown> }[];
    };
    for (const rule of doc.rules ?? []) {
      if (!rule.limit) continue;
      for (const metric of ['requests', 'tokens', 'cost_usd'])
        if (typeof rule.limit[metric] === 'number') {
          rule.limit[metric] = 1e12;
          raised.push(`${rule.id ?? '?'}.${metric}`);
        }
    }
    writeFileSync(join(targetDir, f), stringifyYaml(doc));
  }
  return raised;
}

/**
 * Config over the shipped defaults: no policy file watcher, no dev key, and the per-replica
 * /v1/check throttle (600/min per key) raised like the policy limits, when this checkout has it.
 */
function benchConfig(): Record<string, unknown> {
  const defaults = readFileSync(join(REPO_ROOT, 'config', 'default.yaml'), 'utf8');
  const limits: Record<string, number> = {};
  for (const field of ['check_per_key_per_minute', 'check_per_ip_per_minute'])
    if (new RegExp(`^\\s+${field}:`, 'm').test(defaults)) limits[field] = 1_000_000_000;
  return {
    policies: { watch: false },
    auth: { dev_key: false },
    ...(Object.keys(limits).length ? { limits } : {}),
  };
}

/** tsc into <dir>/app/dist (never the checkout's dist/), with what the build copies next to it. */
async function buildApp(dir: string): Promise<string> {
  const app = join(dir, 'app');
  const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  // tsc emits even when other work in progress has type errors; the bench needs the JS only.
  await run(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', join(app, 'dist')], {
    cwd: REPO_ROOT,
    maxBuffer: 1 << 24,
  }).catch(() => {});
  if (!existsSync(join(app, 'dist', 'main.js'))) throw new Error('tsc produced no dist/main.js');
  cpSync(join(REPO_ROOT, 'src', 'db', 'migrations'), join(app, 'dist', 'db', 'migrations'), {
    recursive: true,
    filter: (p) => !p.endsWith('.ts'),
  });
  cpSync(join(REPO_ROOT, 'config'), join(app, 'config'), { recursive: true });
  cpSync(join(REPO_ROOT, 'package.json'), join(app, 'package.json'));
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(app, 'node_modules'), 'dir');
  return app;
}

export async function prepareEnvironment(opts: EnvironmentOptions): Promise<BenchEnvironment> {
  const log = opts.log ?? (() => {});
  const dir = mkdtempSync(join(tmpdir(), 'aigov-bench-'));
  const adminUrl =
    opts.adminUrl ?? process.env.BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const redisCandidate = opts.redisUrl ?? process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const [hasPg, hasRedis] = await Promise.all([reachable(adminUrl, 5432), reachable(redisCandidate, 6379)]);
  log(hasPg ? `database: Postgres at ${new URL(adminUrl).host}` : 'database: no Postgres, embedded PGlite');
  const redisUrl = hasRedis ? redisCandidate : null;
  log(redisUrl ? `redis: ${redisUrl}` : 'redis: not reachable, the Redis variant is skipped');

  const policiesDir = join(dir, 'policies');
  const raised = benchPolicies(join(REPO_ROOT, 'policies'), policiesDir);
  log(`policies: shipped set, limit amounts raised for ${raised.join(', ') || 'none'}`);
  const configPath = join(dir, 'aigov.yaml');
  const baseConfig = benchConfig();
  writeFileSync(configPath, stringifyYaml(baseConfig));

  let appRoot = REPO_ROOT;
  if (opts.runtime === 'dist') {
    const t = Date.now();
    appRoot = await buildApp(dir);
    log(`runtime: tsc build in ${((Date.now() - t) / 1000).toFixed(1)} s, proxies run node dist/main.js`);
  } else log('runtime: tsx (node --import tsx src/cli/index.ts serve)');
  const cliArgs = (args: string[]): string[] =>
    opts.runtime === 'dist'
      ? [join(appRoot, 'dist', 'cli', 'index.js'), ...args]
      : ['--import', 'tsx', join(REPO_ROOT, 'src', 'cli', 'index.ts'), ...args];

  const databases: string[] = [];
  const instances = new Map<string, Promise<ProxyInstance>>();
  const create = async (
    name: string,
    overrides: Record<string, Record<string, unknown>> = {},
  ): Promise<ProxyInstance> => {
    const config: Record<string, unknown> = { ...baseConfig };
    for (const [section, values] of Object.entries(overrides))
      config[section] = {
        ...((baseConfig[section] as Record<string, unknown> | undefined) ?? {}),
        ...values,
      };
    const ownConfig = Object.keys(overrides).length > 0;
    const instanceConfig = join(dir, `aigov-${name}.yaml`.replace(/[^A-Za-z0-9_.-]/g, '-'));
    const dbName = `${opts.dbName}_${name}`.replace(/[^a-z0-9_]/gi, '_').toLowerCase();
    const env: NodeJS.ProcessEnv = {
      NODE_ENV: 'production',
      AIGOV_CONFIG: ownConfig ? instanceConfig : configPath,
      HOST: '127.0.0.1',
      OPENAI_BASE_URL: opts.mockUrl,
      OPENAI_API_KEY: 'dummy',
      ANTHROPIC_BASE_URL: opts.mockUrl,
      ANTHROPIC_API_KEY: 'dummy',
      POLICIES_PATH: policiesDir,
      LOG_LEVEL: 'warn',
      AIGOV_MIGRATE_ON_START: 'true',
      REDIS_URL: '',
      DATABASE_URL: '',
      // Each proxy is its own replica: its own audit chain and spool (a spool is locked by one process).
      AIGOV_REPLICA_ID: `bench-${name}`.replace(/[^A-Za-z0-9_.:-]/g, '-'),
      AIGOV_AUDIT_SPOOL_DIR: join(dir, `spool-${name}`.replace(/[^A-Za-z0-9_.-]/g, '-')),
    };
    if (ownConfig) writeFileSync(instanceConfig, stringifyYaml(config));
    if (hasPg) {
      const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
      try {
        await admin.unsafe(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
        await admin.unsafe(`CREATE DATABASE "${dbName}"`);
      } finally {
        await admin.end({ timeout: 5 });
      }
      databases.push(dbName);
      const u = new URL(adminUrl);
      u.pathname = `/${dbName}`;
      env.DATABASE_URL = u.toString();
    } else {
      // Embedded PGlite: its directory comes from the config file, one per instance.
      writeFileSync(
        instanceConfig,
        stringifyYaml({ ...config, database: { embedded_dir: join(dir, `pglite-${name}`) } }),
      );
      env.AIGOV_CONFIG = instanceConfig;
      env.AIGOV_EMBEDDED_DB = 'true';
    }
    const { stdout } = await run(
      process.execPath,
      cliArgs(['keys', 'create', 'bench@example.com', '--team', 'bench', '--json']),
      { cwd: REPO_ROOT, env: { ...process.env, ...env } },
    );
    const created = JSON.parse(stdout) as { key?: string };
    if (!created.key) throw new Error(`keys create printed no key: ${stdout}`);
    return { name, key: created.key, env: { ...env, BENCH_APP_ROOT: appRoot } };
  };

  return {
    dir,
    runtime: opts.runtime,
    postgres: hasPg,
    redisUrl,
    policiesDir,
    instance(name, config) {
      let p = instances.get(name);
      if (!p) {
        p = create(name, config);
        instances.set(name, p);
      }
      return p;
    },
    async cleanup() {
      rmSync(dir, { recursive: true, force: true });
      if (databases.length === 0) return;
      const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
      try {
        for (const db of databases) await admin.unsafe(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`);
      } catch {
        // best effort
      } finally {
        await admin.end({ timeout: 5 });
      }
    },
  };
}

/** One aigov proxy process (`aigov serve`): its own database, memory or Redis limits. */
export async function startProxy(
  env: BenchEnvironment,
  options: {
    name: string;
    instance: string;
    redis: boolean;
    nodeArgs?: string[];
    /** Config over the bench config for this instance (e.g. `limits: { counting: 'lease' }`). */
    config?: Record<string, Record<string, unknown>>;
  },
): Promise<{ child: ServerChild; key: string }> {
  const inst = await env.instance(options.instance, options.config);
  const port = await freePort();
  const appRoot = inst.env.BENCH_APP_ROOT ?? REPO_ROOT;
  const child = await spawnServer({
    name: options.name,
    args: env.runtime === 'dist' ? [join(appRoot, 'dist', 'main.js')] : ['src/cli/index.ts', 'serve'],
    tsx: env.runtime === 'tsx',
    nodeArgs: options.nodeArgs ?? [],
    env: { ...inst.env, PORT: String(port), REDIS_URL: options.redis && env.redisUrl ? env.redisUrl : '' },
    healthUrl: `http://127.0.0.1:${port}`,
  });
  return { child, key: inst.key };
}

/**
 * Baseline C (bench/baselines/minimal-governed.ts) as a child: its audit table lives in the memory
 * proxy's database (a table of its own). Null without Postgres.
 */
export async function startBaselineC(
  env: BenchEnvironment,
  upstreamUrl: string,
): Promise<{ child: ServerChild; key: string } | null> {
  if (!env.postgres) return null;
  const databaseUrl = (await env.instance('memory')).env.DATABASE_URL;
  if (!databaseUrl) return null;
  const key = `bench-c-${randomBytes(12).toString('hex')}`;
  const child = await spawnServer({
    name: 'baseline C',
    args: ['bench/baselines/minimal-governed.ts'],
    env: { UPSTREAM_URL: upstreamUrl, DATABASE_URL: databaseUrl, BASELINE_KEY: key },
    readyLine: true,
  });
  return { child, key };
}
