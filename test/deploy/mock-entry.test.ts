/**
 * The compose demo's mock upstream entry (deploy/mock-provider.ts) serves the
 * test mock on a chosen address and shuts down cleanly on SIGTERM, as
 * `docker compose down` sends it.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { ROOT } from './support.js';

t.test('relays provider calls, streams included, and exits 0 on SIGTERM', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'deploy', 'mock-provider.ts')], {
    cwd: ROOT,
    env: { ...process.env, MOCK_PORT: '0', MOCK_HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no listen line: ${out}`)), 30_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
  t.ok(port > 0);
  const base = `http://127.0.0.1:${port}`;
  const chat = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer mock' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
  });
  t.equal(chat.status, 200);
  t.match(JSON.stringify(await chat.json()), /Hello from the mock provider/);

  const stream = await fetch(`${base}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'mock', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({
      model: 'claude-3-5-haiku',
      max_tokens: 50,
      stream: true,
      messages: [{ role: 'user', content: 'hi' }],
    }),
  });
  t.equal(stream.status, 200);
  t.match(stream.headers.get('content-type'), /text\/event-stream/);
  t.match(await stream.text(), /message_stop/);

  child.kill('SIGTERM');
  t.equal(await exited, 0, 'clean exit on SIGTERM');
});
