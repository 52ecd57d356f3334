/**
 * No Docker engine runs in CI, so the Dockerfile, .dockerignore and
 * docker-compose.yml are reviewed mechanically: stage layout, non-root user,
 * health check (executed for real against a local server), no baked secrets,
 * production-only dependencies, build-context hygiene and compose ordering.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import picomatch from 'picomatch';
import t from 'tap';
import { parse } from 'yaml';
import { ROOT, readRepoFile } from './support.js';

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  from: string;
  name: string | undefined;
  body: Instruction[];
}

/** Splits a Dockerfile into instructions (continuations joined, comments dropped) grouped by stage. */
function parseDockerfile(text: string): { globalArgs: Instruction[]; stages: Stage[] } {
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (!pending && (line.trim() === '' || line.trimStart().startsWith('#'))) continue;
    if (pending && line.trimStart().startsWith('#')) continue;
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      continue;
    }
    logical.push((pending + line).trim());
    pending = '';
  }
  const globalArgs: Instruction[] = [];
  const stages: Stage[] = [];
  for (const l of logical) {
    const m = /^(\S+)\s*(.*)$/s.exec(l)!;
    const ins = { op: m[1]!.toUpperCase(), args: m[2]! };
    if (ins.op === 'FROM') {
      const f = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?/i.exec(ins.args)!;
      stages.push({ from: f[1]!, name: f[2], body: [] });
    } else if (stages.length === 0) {
      globalArgs.push(ins);
    } else {
      stages.at(-1)!.body.push(ins);
    }
  }
  return { globalArgs, stages };
}

const dockerfile = parseDockerfile(readRepoFile('Dockerfile'));
const runtime = dockerfile.stages.at(-1)!;
const stageByName = (name: string) => dockerfile.stages.find((s) => s.name === name);
const ops = (s: Stage, op: string) => s.body.filter((i) => i.op === op);

t.test('multi-stage build whose last stage is the runtime', async (t) => {
  t.ok(dockerfile.stages.length >= 3, `${dockerfile.stages.length} stages`);
  t.equal(runtime.name, 'runtime');
  const nodeImage = dockerfile.globalArgs.find((a) => a.args.startsWith('NODE_IMAGE='))?.args;
  t.match(nodeImage, /^NODE_IMAGE=node:22-bookworm-slim/, 'Node 22 LTS slim base');
  for (const s of dockerfile.stages) {
    t.ok(
      s.from === '${NODE_IMAGE}' || stageByName(s.from),
      `stage ${s.name} builds on the pinned base or a stage`,
    );
  }
  const build = stageByName('build')!;
  t.ok(
    ops(build, 'RUN').some((r) => /npm run build/.test(r.args)),
    'the build stage compiles TypeScript',
  );
});

t.test('runtime holds production dependencies only', async (t) => {
  const copies = ops(runtime, 'COPY');
  const nodeModules = copies.find((c) => /\bnode_modules\b/.test(c.args));
  const fromStage = /--from=(\S+)/.exec(nodeModules?.args ?? '')?.[1];
  t.ok(fromStage, 'node_modules is copied from a stage');
  const source = stageByName(fromStage!)!;
  t.ok(
    ops(source, 'RUN').some((r) => /npm ci\b[^&|;]*--omit=dev/.test(r.args)),
    `stage ${fromStage} installs with npm ci --omit=dev`,
  );
  t.notOk(
    ops(source, 'RUN').some((r) => /npm (ci|install)\b(?![^&|;]*--omit=dev)/.test(r.args)),
    'and never with dev dependencies',
  );
  t.equal(source.from, '${NODE_IMAGE}', 'a fresh stage, not one that inherited dev dependencies');
  for (const path of ['dist', 'config', 'policies', 'package.json']) {
    t.ok(
      copies.some((c) => new RegExp(`(^|\\s|/)${path}(\\s|$)`).test(c.args)),
      `runtime has ${path}`,
    );
  }
  t.notOk(
    copies.some((c) => /\bsrc\b|\btest\b/.test(c.args.replace(/--from=\S+/, ''))),
    'no sources or tests in the runtime',
  );
});

t.test('non-root user, production env, health check, entrypoint', async (t) => {
  const users = ops(runtime, 'USER');
  const user = users.at(-1)?.args;
  t.ok(user, 'USER set');
  t.match(user, /^\d+(:\d+)?$/, 'numeric, so runAsNonRoot can verify it');
  t.not(user!.split(':')[0], '0', 'not root');
  const env = ops(runtime, 'ENV')
    .map((e) => e.args)
    .join(' ');
  t.match(env, /NODE_ENV=production/);
  t.match(env, /HOST=0\.0\.0\.0/);
  t.match(env, /AIGOV_AUDIT_SPOOL_DIR=\/\S+/);
  t.equal(ops(runtime, 'HEALTHCHECK').length, 1, 'HEALTHCHECK present');
  t.ok(ops(runtime, 'EXPOSE').some((e) => e.args.split(/\s+/).includes('8080')));
  const entry = JSON.parse(ops(runtime, 'ENTRYPOINT').at(-1)!.args) as string[];
  const cmd = JSON.parse(ops(runtime, 'CMD').at(-1)!.args) as string[];
  t.same(
    [...entry, ...cmd].filter((a) => !a.startsWith('--')),
    ['node', 'dist/cli/index.js', 'serve'],
  );
  // The spool must exist and belong to the runtime user so a named volume inherits that ownership.
  t.ok(
    ops(runtime, 'RUN').some((r) => /chown 1000:1000 [^&]*\/var\/lib\/aigov\/spool/.test(r.args)),
    'spool directory owned by the app user',
  );
});

t.test('no secrets in ARG or ENV', async (t) => {
  const all = [...dockerfile.globalArgs, ...dockerfile.stages.flatMap((s) => s.body)];
  const assignments = all
    .filter((i) => i.op === 'ARG' || i.op === 'ENV')
    .flatMap((i) => i.args.match(/[A-Za-z_][A-Za-z0-9_]*(=("[^"]*"|\S*))?/g) ?? []);
  t.ok(assignments.length > 3, 'found the ARG/ENV assignments');
  for (const a of assignments) {
    const name = a.split('=')[0]!;
    t.notMatch(
      name,
      /KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|DATABASE_URL|REDIS_URL/i,
      `${name} is not a secret`,
    );
  }
  t.notMatch(readRepoFile('Dockerfile'), /sk-[A-Za-z0-9]{8,}|-----BEGIN/, 'no key material');
});

t.test('the HEALTHCHECK command really probes /health', async (t) => {
  const hc = ops(runtime, 'HEALTHCHECK')[0]!.args;
  const cmd = JSON.parse(/CMD\s+(\[.*\])\s*$/s.exec(hc)![1]!) as string[];
  t.equal(cmd[0], 'node', 'no curl in slim images');
  let status = 200;
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(req.url ?? '');
    res.statusCode = status;
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const run = () =>
    new Promise<number>((resolve) => {
      const p = spawn(cmd[0]!, cmd.slice(1), {
        stdio: 'ignore',
        env: { PATH: process.env.PATH ?? '', PORT: String(port) },
      });
      p.on('exit', (code) => resolve(code ?? -1));
    });
  t.equal(await run(), 0, 'healthy');
  status = 500;
  t.equal(await run(), 1, 'unhealthy');
  await new Promise<void>((r) => server.close(() => r()));
  t.equal(await run(), 1, 'down');
  t.same(seen, ['/health', '/health']);
});

/** Docker's .dockerignore semantics: last matching rule wins; a match on a parent folder covers its contents. */
function dockerIgnored(rules: string[], path: string): boolean {
  const parsed = rules.map((r) => {
    const negate = r.startsWith('!');
    const pattern = (negate ? r.slice(1) : r).replace(/^\/+|\/+$/g, '');
    return { negate, match: picomatch(pattern, { dot: true }) };
  });
  const parts = path.split('/');
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const rule of parsed) {
    if (prefixes.some((p) => rule.match(p))) ignored = !rule.negate;
  }
  return ignored;
}

t.test('.dockerignore keeps secrets, local data and host node_modules out of the context', async (t) => {
  const rules = readRepoFile('.dockerignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  for (const path of [
    'node_modules/fastify/package.json',
    '.env',
    '.env.production',
    'src/.env',
    'data/pglite/base/1',
    'dist/main.js',
    '.git/config',
    'src/providers/node_modules/x/index.js',
    'test/unit/smoke.test.ts',
    'helm/aigov/values.yaml',
  ]) {
    t.ok(dockerIgnored(rules, path), `${path} excluded`);
  }
  for (const path of [
    'package.json',
    'package-lock.json',
    'tsconfig.build.json',
    'src/main.ts',
    'config/default.yaml',
    'policies/default.yaml',
    'scripts/copy-assets.mjs',
    'test/support/mock-provider.ts',
    'deploy/mock-provider.ts',
  ]) {
    t.notOk(dockerIgnored(rules, path), `${path} kept`);
  }
  // Everything the Dockerfile copies from the context must survive .dockerignore and exist.
  for (const stage of dockerfile.stages) {
    for (const copy of ops(stage, 'COPY').filter((c) => !/--from=/.test(c.args))) {
      const words = copy.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      for (const src of words.slice(0, -1)) {
        t.notOk(dockerIgnored(rules, src), `${stage.name}: COPY ${src} is in the build context`);
        t.ok(existsSync(join(ROOT, src)), `${stage.name}: COPY ${src} exists in the repository`);
      }
    }
  }
});

t.test('the ignore matcher used above is itself sound', async (t) => {
  t.ok(dockerIgnored(['*'], '.env'), '* covers dotfiles like Docker does');
  t.notOk(dockerIgnored(['*', '!src/'], 'src/a/b.ts'));
  t.ok(dockerIgnored(['*', '!src/', '**/node_modules'], 'src/node_modules/x'));
  t.notOk(dockerIgnored(['node_modules'], 'src/node_modules/x'), 'a bare name only matches at the root');
});

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition?: string }> | string[];
  healthcheck?: { test: string[] };
  read_only?: boolean;
}

t.test(
  'docker-compose.yml: ordering by health and migration, mock upstream, no literal secrets',
  async (t) => {
    const compose = parse(readRepoFile('docker-compose.yml')) as { services: Record<string, ComposeService> };
    const services = compose.services;
    t.same(Object.keys(services).sort(), ['aigov', 'migrate', 'mock', 'postgres', 'redis']);
    for (const [name, svc] of Object.entries(services)) {
      if (!svc.depends_on) continue;
      t.notOk(Array.isArray(svc.depends_on), `${name}: depends_on uses the long form`);
      for (const [dep, spec] of Object.entries(svc.depends_on)) {
        t.ok(services[dep], `${name} depends on a defined service ${dep}`);
        t.match(
          spec.condition,
          /^service_(healthy|completed_successfully)$/,
          `${name} -> ${dep} waits on a condition`,
        );
        if (spec.condition === 'service_healthy') {
          t.ok(services[dep]!.healthcheck || dep === 'aigov', `${dep} has a healthcheck to wait on`);
        }
      }
    }
    const aigov = services.aigov!;
    const deps = aigov.depends_on as Record<string, { condition: string }>;
    t.equal(deps.migrate?.condition, 'service_completed_successfully');
    t.equal(deps.postgres?.condition, 'service_healthy');
    t.equal(deps.redis?.condition, 'service_healthy');
    t.same(services.migrate!.command, ['migrate']);
    t.match(services.postgres!.image, /^postgres:16/);
    t.match(services.redis!.image, /^redis:7/);
    t.equal(aigov.environment?.OPENAI_BASE_URL, 'http://mock:9000');
    t.equal(aigov.environment?.AIGOV_MIGRATE_ON_START, 'false');
    t.equal(aigov.environment?.NODE_ENV, 'production');
    t.equal(aigov.read_only, true, 'same read-only root as in Kubernetes');
    t.match(services.mock!.build, { target: 'mock' });
    t.ok(stageByName('mock'), 'the Dockerfile has the mock stage compose builds');
    for (const [name, svc] of Object.entries(services)) {
      for (const [k, v] of Object.entries(svc.environment ?? {})) {
        if (!/KEY|TOKEN|SECRET|PASSWORD/.test(k)) continue;
        t.match(v, /^\$\{[A-Z_]+(:-[^}]*)?\}$/, `${name}.${k} comes from the environment`);
      }
    }
  },
);
