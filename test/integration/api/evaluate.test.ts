import t from 'tap';
import { buildTestApp } from '../../support/app.js';
import { allDbs } from '../../support/db.js';

t.test('/api/evaluate on every database backend', async (t) => {
  for (const tdb of await allDbs()) {
    const h = await buildTestApp({ testDb: tdb });
    t.teardown(async () => {
      await h.close();
      await tdb.cleanup();
    });
    const { key, stored } = await h.services.keys.create({
      owner: 'alice@example.com',
      team: 'finance',
      tags: ['pii-ok'],
      models: ['gpt-4o*'],
    });

    let requests = 0;
    for (const headers of [
      { authorization: `Bearer ${key}` },
      { 'x-api-key': key },
      { 'api-key': key },
      { authorization: `bearer ${key}` },
    ]) {
      const res = await h.app.inject({ method: 'POST', url: '/api/evaluate', headers });
      requests++;
      t.equal(res.statusCode, 200, `${tdb.kind}: ${Object.keys(headers)[0]}`);
      t.match(res.json(), {
        valid: true,
        key: {
          id: stored.id,
          owner: 'alice@example.com',
          team: 'finance',
          tags: ['pii-ok'],
          models: ['gpt-4o*'],
        },
      });
      t.ok(res.headers['x-request-id'], 'request id on every response');
      t.notOk(res.body.includes(key), 'the key is never echoed');
    }

    for (const headers of [
      {},
      { authorization: 'Bearer nope' },
      // The last character changed (to x, or y when it already was x: 1 key in 62 ends in x).
      { authorization: `Bearer ${key.slice(0, -1)}${key.endsWith('x') ? 'y' : 'x'}` },
      { 'x-api-key': key.replace(/_([^_]+)$/, (_m, s: string) => '_' + s.split('').reverse().join('')) },
    ]) {
      const res = await h.app.inject({ method: 'POST', url: '/api/evaluate', headers });
      requests++;
      t.equal(res.statusCode, 401);
      t.match(res.json(), { valid: false, error: { type: 'authentication_error', code: 'invalid_api_key' } });
    }

    await h.services.keys.revoke(stored.id);
    h.services.verifier.forget(stored.id);
    const revoked = await h.app.inject({
      method: 'POST',
      url: '/api/evaluate',
      headers: { authorization: `Bearer ${key}` },
    });
    requests++;
    t.equal(revoked.statusCode, 401);
    t.match(revoked.json(), { error: { code: 'key_revoked' } });

    t.equal(await h.services.audit.drain(10_000), 0);
    const rows = await tdb.db.query<{ n: number; allowed: number; blocked: number }>(
      `SELECT count(*)::int AS n,
              count(*) FILTER (WHERE status_code = 200)::int AS allowed,
              count(*) FILTER (WHERE status_code = 401)::int AS blocked
       FROM usage_logs WHERE route = '/api/evaluate'`,
    );
    t.equal(Number(rows[0]!.n), requests, `${tdb.kind}: one audit row per request`);
    t.equal(Number(rows[0]!.allowed), 4);
    t.equal(Number(rows[0]!.blocked), 5);
  }
});

t.test('request ids, 404 and 405 in JSON', async (t) => {
  const h = await buildTestApp();
  t.teardown(h.close);
  const kept = await h.app.inject({
    method: 'GET',
    url: '/health',
    headers: { 'x-request-id': 'caller-id-1234' },
  });
  t.equal(kept.headers['x-request-id'], 'caller-id-1234', 'a well-formed incoming id is kept');
  const replaced = await h.app.inject({
    method: 'GET',
    url: '/health',
    headers: { 'x-request-id': 'bad id\u0001' },
  });
  t.not(replaced.headers['x-request-id'], 'bad id\u0001');
  t.match(String(replaced.headers['x-request-id']), /^[0-9a-f-]{36}$/);

  const missing = await h.app.inject({ method: 'GET', url: '/nope' });
  t.equal(missing.statusCode, 404);
  t.match(missing.json(), { error: { code: 'not_found', type: 'not_found_error' } });
  const anthropic404 = await h.app.inject({ method: 'POST', url: '/v1/messages/nope' });
  t.match(
    anthropic404.json(),
    { type: 'error', error: { type: 'not_found_error' } },
    'Anthropic paths speak Anthropic',
  );

  const wrongMethod = await h.app.inject({ method: 'GET', url: '/api/evaluate' });
  t.equal(wrongMethod.statusCode, 405);
  t.match(wrongMethod.json(), { error: { code: 'method_not_allowed' } });
});

t.test('/health and /ready', async (t) => {
  const h = await buildTestApp();
  t.teardown(h.close);
  const health = await h.app.inject({ method: 'GET', url: '/health' });
  t.equal(health.statusCode, 200);
  t.match(health.json(), { status: 'ok' });
  const ready = await h.app.inject({ method: 'GET', url: '/ready' });
  t.equal(ready.statusCode, 200);
  t.match(ready.json(), { status: 'ready', checks: { db: { ok: true } } });
  await h.testDb.db.close();
  const down = await h.app.inject({ method: 'GET', url: '/ready' });
  t.equal(down.statusCode, 503, 'not ready when the database is gone');
  t.match(down.json(), { checks: { db: { ok: false } } });
});
