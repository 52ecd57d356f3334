import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import t from 'tap';
import { registerUiRoutes } from '../../../src/routes/ui.js';

t.test('/ui serves the built dashboard, safely, and explains a missing build', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'aigov-ui-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const built = join(root, 'built');
  const empty = join(root, 'empty');
  mkdirSync(built);
  mkdirSync(empty);
  writeFileSync(join(root, 'secret.txt'), 'outside');
  writeFileSync(join(built, 'index.html'), '<!doctype html><title>dash</title>');
  writeFileSync(join(built, 'app.js'), 'console.log(1)');

  const app = Fastify();
  registerUiRoutes(app, { dirs: [built] });
  const none = Fastify();
  registerUiRoutes(none, { dirs: [empty] });
  t.teardown(async () => {
    await app.close();
    await none.close();
  });

  const redirect = await app.inject('/ui');
  t.equal(redirect.statusCode, 302);
  t.equal(redirect.headers.location, '/ui/');

  const index = await app.inject('/ui/');
  t.equal(index.statusCode, 200);
  t.match(index.headers['content-type'], /^text\/html/);
  t.match(index.body, /<title>dash<\/title>/);
  t.match(String(index.headers['content-security-policy']), /default-src 'self'/);
  t.match(String(index.headers['content-security-policy']), /connect-src 'self'/);
  t.equal(index.headers['x-content-type-options'], 'nosniff');

  const js = await app.inject('/ui/app.js');
  t.equal(js.statusCode, 200);
  t.match(js.headers['content-type'], /^text\/javascript/);
  t.equal((await app.inject('/ui/keys')).body, index.body, 'extension-less paths are the app');

  for (const url of ['/ui/../secret.txt', '/ui/%2e%2e/secret.txt', '/ui/..%2fsecret.txt', '/ui/missing.js']) {
    const res = await app.inject(url);
    t.not(res.statusCode, 200, url);
    t.notMatch(res.body, /outside/, url);
  }

  const missing = await none.inject('/ui/');
  t.equal(missing.statusCode, 503);
  t.match(missing.body, /npm run build/);
});
