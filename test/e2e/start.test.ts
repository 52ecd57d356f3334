import t from 'tap';
import { spawn } from 'node:child_process';
import { ROOT } from '../support/cli.js';

/**
 * `npm start` on a fresh checkout: no DATABASE_URL (embedded PGlite in a fresh folder), no Redis,
 * serves /health, prints a development key that works, and drains cleanly on SIGTERM.
 */
t.test('the npm start command serves /health with no setup, then shuts down on SIGTERM', async (t) => {
  const dir = t.testdir({ 'aigov.yaml': '' });
  const { writeFileSync } = await import('node:fs');
  writeFileSync(
    `${dir}/aigov.yaml`,
    `database:\n  embedded_dir: ${dir}/pglite\nauth:\n  bcrypt_cost: 4\naudit:\n  spool_dir: ${dir}/spool\n`,
  );
  // Exactly what `npm start` runs, exec'd so SIGTERM reaches the server itself (npm would
  // forward it twice and report the signal as its own exit).
  const { readFileSync } = await import('node:fs');
  const startScript = (
    JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')) as { scripts: { start: string } }
  ).scripts.start;
  const child = spawn('sh', ['-c', `exec ${startScript}`], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      PORT: '0',
      AIGOV_CONFIG: `${dir}/aigov.yaml`,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    try {
      child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  });

  const started = Date.now();
  while (!/Try it:/.test(out) && Date.now() - started < 60_000) await new Promise((r) => setTimeout(r, 100));
  const url = /"url":"(http:\/\/[^"]+)"/.exec(out)?.[1];
  t.ok(url, `server printed its url:\n${out}`);
  const key = /\n {2}(aigov_\S+)\n/.exec(out)?.[1];
  t.ok(key, 'a development key was printed once');

  const health = await fetch(`${url}/health`);
  t.equal(health.status, 200);
  t.match(await health.json(), { status: 'ok' });
  const evaluate = await fetch(`${url}/api/evaluate`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}` },
  });
  t.equal(evaluate.status, 200, 'the printed key works');

  child.kill('SIGTERM');
  const code = await exited;
  t.equal(code, 0, 'clean exit after SIGTERM');
  t.match(out, /shutdown complete/);
});
