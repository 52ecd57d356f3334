import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { startProxy } from '../../support/proxy.js';

/** Every body in the nasty corpus: a clear provider-shaped answer, never a 5xx, never a crash. */
const DIR = fileURLToPath(new URL('../../fixtures/nasty/', import.meta.url));
const files = readdirSync(DIR).filter((f) => f.endsWith('.json') || f.endsWith('.raw'));

t.test('the nasty corpus against both API families', async (t) => {
  const h = await startProxy({
    policies: 'version: 1\nrules:\n  - id: no-ssn\n    when: { detect: [ssn] }\n    action: block\n',
  });
  t.teardown(h.close);
  t.ok(files.length >= 20, `${files.length} fixtures`);
  for (const route of ['/v1/chat/completions', '/v1/messages', '/v1/embeddings']) {
    for (const file of files) {
      const raw = readFileSync(DIR + file);
      const before = h.mock.requests.length;
      const res = await request(`${h.url}${route}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${h.key}`, 'content-type': 'application/json' },
        body: raw,
      });
      const text = await res.body.text();
      t.ok(res.statusCode < 500, `${route} ${file}: ${res.statusCode} ${text.slice(0, 160)}`);
      if (res.statusCode >= 400) {
        const json = JSON.parse(text) as Record<string, unknown>;
        if (route === '/v1/messages')
          t.match(json, { type: 'error', error: { type: String, message: String } });
        else t.match(json, { error: { type: String, message: String } });
        t.equal(h.mock.requests.length, before, `${route} ${file}: refused bodies are not forwarded`);
      }
    }
  }
  const health = await request(`${h.url}/health`);
  t.equal(health.statusCode, 200, 'still alive');
  await health.body.dump();
  const rows = await h.rows();
  t.ok(rows.length >= files.length, 'refusals with a valid key are audited');
});
