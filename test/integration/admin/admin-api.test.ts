import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { mockHeader, startProxy, type ProxyHarness } from '../../support/proxy.js';
import { allDbs } from '../../support/db.js';
import { ADMIN_AUTH_FAILURES, ADMIN_RATE } from '../../../src/admin/guard.js';

const TOKEN = 'admin-token-for-tests-0123456789';
const AUTH = { authorization: `Bearer ${TOKEN}` };

const POLICIES = `version: 1
rules:
  - id: no-forbidden
    when: { prompt: { contains: [forbidden] } }
    action: block
    message: "forbidden word"
  - id: only-approved
    when: { model: { not_in: ["gpt-4o", "gpt-4o-mini"] } }
    action: block
`;

type Json = Record<string, unknown>;

async function admin(
  h: ProxyHarness,
  method: 'GET' | 'POST' | 'PATCH',
  url: string,
  payload?: unknown,
  headers: Record<string, string> = AUTH,
): Promise<{ status: number; body: Json; text: string; headers: Record<string, unknown> }> {
  const res = await h.app.inject({
    method,
    url,
    headers: payload === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }),
  });
  let body: Json = {};
  try {
    body = res.json();
  } catch {
    // CSV and the like
  }
  return { status: res.statusCode, body, text: res.body, headers: res.headers };
}

async function chat(h: ProxyHarness, key: string, content: string, model = 'gpt-4o'): Promise<number> {
  const res = await h.app.inject({
    method: 'POST',
    url: '/v1/chat/completions',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    payload: JSON.stringify({ model, messages: [{ role: 'user', content }] }),
  });
  return res.statusCode;
}

async function evaluateKey(h: ProxyHarness, key: string): Promise<{ status: number; body: Json }> {
  const res = await h.app.inject({
    method: 'POST',
    url: '/api/evaluate',
    headers: { authorization: `Bearer ${key}` },
  });
  return { status: res.statusCode, body: res.json() };
}

t.test('without ADMIN_TOKEN every /admin route is 404 admin_disabled', async (t) => {
  const h = await startProxy({ listen: false });
  t.teardown(() => h.close());
  for (const [method, url] of [
    ['GET', '/admin/keys'],
    ['POST', '/admin/keys'],
    ['GET', '/admin/logs'],
    ['GET', '/admin/nope'],
  ] as const) {
    const res = await admin(h, method, url, method === 'POST' ? { owner: 'x@example.com' } : undefined);
    t.equal(res.status, 404, `${method} ${url}`);
    t.match(res.body, { error: { code: 'admin_disabled' } });
  }
});

t.test('authentication: Bearer ADMIN_TOKEN only, never an aigov key', async (t) => {
  const h = await startProxy({ listen: false, overrides: { admin: { token: TOKEN } } });
  t.teardown(() => h.close());
  const cases: [string, Record<string, string>][] = [
    ['no header', {}],
    ['wrong token', { authorization: 'Bearer admin-token-for-tests-0123456780' }],
    ['token prefix', { authorization: `Bearer ${TOKEN.slice(0, -1)}` }],
    ['token as x-api-key', { 'x-api-key': TOKEN }],
    ['caller key as Bearer', { authorization: `Bearer ${h.key}` }],
    ['caller key as x-api-key', { 'x-api-key': h.key }],
  ];
  for (const [name, headers] of cases) {
    const res = await admin(h, 'GET', '/admin/keys', undefined, headers);
    t.equal(res.status, 401, name);
    t.match(res.body, { error: { code: 'admin_unauthorized', type: 'authentication_error' } }, name);
  }
  const unknown = await admin(h, 'GET', '/admin/nope', undefined, {});
  t.equal(unknown.status, 401, 'unknown admin paths are not revealed before auth');
  const ok = await admin(h, 'GET', '/admin/keys');
  t.equal(ok.status, 200);
  t.equal(ok.headers['cache-control'], 'no-store');
  const missing = await admin(h, 'GET', '/admin/nope');
  t.equal(missing.status, 404);
  t.match(missing.body, { error: { code: 'not_found' } });
});

t.test('rate limits per client IP', async (t) => {
  t.test('every request', async (t) => {
    const h = await startProxy({ listen: false, overrides: { admin: { token: TOKEN } } });
    t.teardown(() => h.close());
    let first429 = -1;
    let retryAfter: unknown;
    for (let i = 0; i < ADMIN_RATE.capacity + 5 && first429 < 0; i++) {
      const res = await admin(h, 'GET', '/admin/policies');
      if (res.status === 429) {
        first429 = i;
        retryAfter = res.headers['retry-after'];
        t.match(res.body, { error: { code: 'rate_limited' } });
      } else t.equal(res.status, 200);
    }
    // A few tokens refill while the loop runs (5/s); never many.
    t.ok(first429 >= ADMIN_RATE.capacity && first429 < ADMIN_RATE.capacity + 5, `429 after ${first429}`);
    t.ok(Number(retryAfter) >= 1, 'Retry-After');
  });

  t.test('failed sign-ins lock the address out, even for the right token', async (t) => {
    const h = await startProxy({ listen: false, overrides: { admin: { token: TOKEN } } });
    t.teardown(() => h.close());
    const wrong = { authorization: 'Bearer not-the-admin-token-at-all' };
    for (let i = 0; i < ADMIN_AUTH_FAILURES.capacity; i++)
      t.equal((await admin(h, 'GET', '/admin/keys', undefined, wrong)).status, 401);
    const locked = await admin(h, 'GET', '/admin/keys', undefined, wrong);
    t.equal(locked.status, 429);
    t.ok(Number(locked.headers['retry-after']) >= 1);
    t.equal((await admin(h, 'GET', '/admin/keys')).status, 429, 'no oracle while locked out');
  });
});

t.test('keys: create, list, get, update, rotate, revoke', async (t) => {
  const h = await startProxy({ listen: false, overrides: { admin: { token: TOKEN } } });
  t.teardown(() => h.close());

  const bad = await admin(h, 'POST', '/admin/keys', { team: 'x' });
  t.equal(bad.status, 400);
  t.match(bad.body, { error: { code: 'invalid_request', details: [{ path: ['owner'] }] } });
  t.equal((await admin(h, 'POST', '/admin/keys', { owner: 'a@example.com', admin: true })).status, 400);
  t.equal(
    (await admin(h, 'POST', '/admin/keys', { owner: 'a@example.com', expires_in: 'soon' })).status,
    400,
  );

  const created = await admin(h, 'POST', '/admin/keys', {
    owner: 'alice@example.com',
    name: 'alice laptop',
    team: 'finance',
    tags: ['pii-ok'],
    models: ['gpt-4o*'],
    expires_in: '30d',
  });
  t.equal(created.status, 201);
  const key = String(created.body.key);
  const id = String(created.body.id);
  t.match(created.body, { owner: 'alice@example.com', team: 'finance', status: 'active', tags: ['pii-ok'] });
  t.ok(Date.parse(String(created.body.expires_at)) > Date.now() + 29 * 86_400_000);
  t.match(await evaluateKey(h, key), { status: 200, body: { key: { id, team: 'finance' } } });

  const list = await admin(h, 'GET', '/admin/keys');
  t.equal(list.status, 200);
  t.ok(!list.text.includes(key) && !list.text.includes('secret') && !list.text.includes('$2'), 'no secrets');
  const ids = (list.body.data as Json[]).map((k) => k.id);
  t.same(ids.sort(), [id, h.keyId].sort());
  t.same(
    ((await admin(h, 'GET', '/admin/keys?team=finance')).body.data as Json[]).map((k) => k.id),
    [id],
  );
  t.match((await admin(h, 'GET', `/admin/keys/${id}`)).body, { id, name: 'alice laptop', key: undefined });
  t.equal((await admin(h, 'GET', '/admin/keys/nope')).status, 404);

  const patched = await admin(h, 'PATCH', `/admin/keys/${id}`, { team: 'risk', tags: ['a', 'b'] });
  t.equal(patched.status, 200);
  t.match(patched.body, { team: 'risk', tags: ['a', 'b'], name: 'alice laptop' });
  t.match(await evaluateKey(h, key), { body: { key: { team: 'risk' } } }, 'verifier cache forgotten');
  t.equal((await admin(h, 'PATCH', `/admin/keys/${id}`, {})).status, 400);
  t.equal((await admin(h, 'PATCH', '/admin/keys/nope', { team: 'x' })).status, 404);

  const rotated = await admin(h, 'POST', `/admin/keys/${id}/rotate`, { grace: '1h' });
  t.equal(rotated.status, 200);
  const newKey = String(rotated.body.key);
  const newId = String(rotated.body.id);
  t.not(newId, id);
  t.match(rotated.body, { rotated_from: id, team: 'risk', old: { id, rotated_to: newId } });
  t.ok(Date.parse(String((rotated.body.old as Json).expires_at)) <= Date.now() + 3_600_000 + 5_000);
  t.equal((await evaluateKey(h, newKey)).status, 200);
  t.equal((await evaluateKey(h, key)).status, 200, 'old key works during the grace period');

  const revoked = await admin(h, 'POST', `/admin/keys/${id}/revoke`);
  t.equal(revoked.status, 200);
  t.match(revoked.body, { id, status: 'revoked', already_revoked: false });
  t.match(await evaluateKey(h, key), { status: 401, body: { error: { code: 'key_revoked' } } });
  t.match((await admin(h, 'POST', `/admin/keys/${id}/revoke`)).body, { already_revoked: true });
  t.equal((await admin(h, 'POST', `/admin/keys/${id}/rotate`, {})).status, 400, 'revoked keys do not rotate');
  t.equal((await admin(h, 'POST', '/admin/keys/nope/revoke')).status, 404);
  t.equal(
    ((await admin(h, 'GET', '/admin/keys?include_revoked=false')).body.data as Json[]).some(
      (k) => k.id === id,
    ),
    false,
  );
});

t.test('logs, stats and policies on every database backend', async (t) => {
  for (const tdb of await allDbs()) {
    const h = await startProxy({
      listen: false,
      policies: POLICIES,
      testDb: tdb,
      overrides: { admin: { token: TOKEN } },
    });
    t.teardown(async () => {
      await h.close();
      await tdb.cleanup();
    });
    const fin = await h.newKey({ team: 'finance', owner: 'fin@example.com' });
    for (let i = 0; i < 5; i++) t.equal(await chat(h, h.key, `hello ${i}`), 200);
    t.equal(await chat(h, fin, 'hello from finance', 'gpt-4o-mini'), 200);
    t.equal(await chat(h, fin, 'this is forbidden'), 403);
    t.equal(await chat(h, h.key, 'hi', 'gpt-3.5-turbo'), 403);
    const rows = await h.rows();
    t.equal(rows.length, 8, `${tdb.kind}: audit rows`);

    // Pagination: newest first, no row twice, none missed, cursor stable.
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = `/admin/logs?limit=3${cursor ? `&cursor=${cursor}` : ''}`;
      const page = await admin(h, 'GET', q);
      t.equal(page.status, 200);
      const data = page.body.data as Json[];
      t.ok(data.length <= 3);
      seen.push(...data.map((r) => String(r.request_id)));
      cursor = page.body.next_cursor as string | null;
      pages++;
    } while (cursor && pages < 10);
    t.equal(pages, 3, `${tdb.kind}: 8 rows in pages of 3`);
    t.same([...seen].sort(), rows.map((r) => String(r.request_id)).sort(), 'every row exactly once');
    t.same(seen, rows.map((r) => String(r.request_id)).reverse(), 'newest first');
    t.equal((await admin(h, 'GET', '/admin/logs?cursor=garbage')).status, 400);
    t.equal((await admin(h, 'GET', '/admin/logs?limit=0')).status, 400);
    t.equal((await admin(h, 'GET', '/admin/logs?decision=maybe')).status, 400);
    t.equal((await admin(h, 'GET', '/admin/logs?from=yesterday')).status, 400);

    // Filters.
    const blocked = (await admin(h, 'GET', '/admin/logs?decision=block')).body.data as Json[];
    t.equal(blocked.length, 2);
    const byPolicy = (await admin(h, 'GET', '/admin/logs?policy=no-forbidden')).body.data as Json[];
    t.equal(byPolicy.length, 1);
    t.match(byPolicy[0], {
      decision: 'block',
      team: 'finance',
      model: 'gpt-4o',
      status_code: 403,
      policy_ids: ['no-forbidden'],
      reasons: [{ policy: 'no-forbidden', message: 'forbidden word' }],
    });
    t.equal(typeof byPolicy[0]!.latency_ms, 'number');
    t.equal(((await admin(h, 'GET', '/admin/logs?team=finance')).body.data as Json[]).length, 2);
    t.equal(((await admin(h, 'GET', `/admin/logs?key_id=${h.keyId}`)).body.data as Json[]).length, 6);
    t.equal(((await admin(h, 'GET', '/admin/logs?model=gpt-4o-mini')).body.data as Json[]).length, 1);
    t.equal(
      ((await admin(h, 'GET', '/admin/logs?route=/v1/chat/completions')).body.data as Json[]).length,
      8,
    );
    t.equal(((await admin(h, 'GET', '/admin/logs?route=/v1/embeddings')).body.data as Json[]).length, 0);
    const future = new Date(Date.now() + 60_000).toISOString();
    const past = new Date(Date.now() - 3_600_000).toISOString();
    t.equal(((await admin(h, 'GET', `/admin/logs?from=${future}`)).body.data as Json[]).length, 0);
    t.equal(((await admin(h, 'GET', `/admin/logs?from=${past}&to=${future}`)).body.data as Json[]).length, 8);
    const detail = await admin(h, 'GET', `/admin/logs/${String(byPolicy[0]!.request_id)}`);
    t.match(detail.body, { request_id: byPolicy[0]!.request_id, decision: 'block' });
    t.equal((await admin(h, 'GET', '/admin/logs/nope')).status, 404);

    // CSV export.
    const csv = await admin(h, 'GET', '/admin/logs?format=csv&team=finance');
    t.equal(csv.status, 200);
    t.match(String(csv.headers['content-type']), /^text\/csv/);
    t.match(String(csv.headers['content-disposition']), /attachment; filename="aigov-logs-.*\.csv"/);
    const lines = csv.text.trim().split('\r\n');
    t.equal(lines.length, 3, 'header + 2 rows');
    t.match(lines[0], /^created_at,request_id,key_id,owner,team,/);
    t.match(csv.text, /no-forbidden/);
    t.equal(
      (await admin(h, 'GET', '/admin/logs?format=csv')).text.trim().split('\r\n').length,
      9,
      'export is not limited to one page',
    );

    // Stats.
    const stats = await admin(h, 'GET', '/admin/stats?bucket=hour');
    t.equal(stats.status, 200);
    t.match(stats.body, { bucket: 'hour', totals: { requests: 8, blocks: 2 } });
    const series = stats.body.series as Json[];
    t.ok(series.length === 24 || series.length === 25, 'a day of hours (the first one partial)');
    t.equal(
      series.reduce((n, s) => n + Number(s.requests), 0),
      8,
    );
    t.ok(((stats.body.totals as Json).tokens as number) > 0, 'tokens from the mock usage');
    const teams = stats.body.by_team as Json[];
    t.ok(teams.some((r) => r.team === 'eng' && r.requests === 6));
    t.ok(teams.some((r) => r.team === 'finance' && r.requests === 2 && r.blocks === 1));
    t.ok((stats.body.by_rule as Json[]).some((r) => r.rule === 'no-forbidden' && r.blocks === 1));
    t.ok((stats.body.by_model as Json[]).some((r) => r.model === 'gpt-4o-mini' && r.requests === 1));
    t.match((await admin(h, 'GET', '/admin/stats?bucket=day')).body, { totals: { requests: 8 } });
    t.equal((await admin(h, 'GET', '/admin/stats?bucket=minute')).status, 400);
    t.equal(
      (await admin(h, 'GET', '/admin/stats?bucket=hour&from=2020-01-01T00:00:00Z&to=2024-01-01T00:00:00Z'))
        .status,
      400,
      'too many buckets',
    );
    t.match((await admin(h, 'GET', '/admin/stats?team=finance')).body, {
      totals: { requests: 2, blocks: 1 },
    });
  }
});

t.test('logs carry the token details: cached input, cache writes, reasoning (migration 005)', async (t) => {
  const h = await startProxy({ listen: false, overrides: { admin: { token: TOKEN } } });
  t.teardown(() => h.close());
  const call = async (url: string, body: Json, usage: Json, id: string): Promise<void> => {
    const res = await h.app.inject({
      method: 'POST',
      url,
      headers: {
        authorization: `Bearer ${h.key}`,
        'content-type': 'application/json',
        'x-request-id': id,
        ...mockHeader({ usage: usage as { prompt: number; completion: number } }),
      },
      payload: JSON.stringify(body),
    });
    t.equal(res.statusCode, 200, `${id}: ${res.body.slice(0, 200)}`);
  };
  // OpenAI reports cache reads and reasoning as parts; Anthropic cache reads and writes beside input.
  await call(
    '/v1/chat/completions',
    { model: 'gpt-4o', messages: [{ role: 'user', content: 'think' }] },
    { prompt: 1000, completion: 300, cached: 600, reasoning: 120 },
    'details-openai',
  );
  await call(
    '/v1/messages',
    { model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'cache' }] },
    { prompt: 100, completion: 20, cached: 2000, cacheWrite: 500 },
    'details-anthropic',
  );
  await call(
    '/v1/chat/completions',
    { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'plain' }] },
    { prompt: 10, completion: 5 },
    'details-none',
  );
  t.equal((await h.rows()).length, 3, 'rows flushed');
  const rows = (await admin(h, 'GET', '/admin/logs')).body.data as Json[];
  const byId = new Map(rows.map((r) => [String(r.request_id), r]));
  t.match(byId.get('details-openai'), {
    prompt_tokens: 1000,
    completion_tokens: 300,
    cached_tokens: 600,
    cache_write_tokens: null,
    reasoning_tokens: 120,
  });
  t.match(byId.get('details-anthropic'), {
    prompt_tokens: 2600,
    cached_tokens: 2000,
    cache_write_tokens: 500,
    reasoning_tokens: null,
  });
  t.match(byId.get('details-none'), {
    cached_tokens: null,
    cache_write_tokens: null,
    reasoning_tokens: null,
  });
  t.match((await admin(h, 'GET', '/admin/logs/details-openai')).body, {
    cached_tokens: 600,
    reasoning_tokens: 120,
  });
  const csv = (await admin(h, 'GET', '/admin/logs?format=csv')).text.trim().split('\r\n');
  const header = csv[0]!.split(',');
  const cols = ['cached_tokens', 'cache_write_tokens', 'reasoning_tokens'].map((c) => header.indexOf(c));
  t.ok(
    cols.every((i) => i > 0),
    'CSV has the three columns',
  );
  const line = csv.find((l) => l.includes('details-anthropic'))!.split(',');
  t.same(
    cols.map((i) => line[i]),
    ['2000', '500', ''],
    'CSV cells (unknown is empty, not 0)',
  );
});

t.test('policies: view, dry-run, reload', async (t) => {
  const h = await startProxy({ listen: false, policies: POLICIES, overrides: { admin: { token: TOKEN } } });
  t.teardown(() => h.close());
  const view = await admin(h, 'GET', '/admin/policies');
  t.equal(view.status, 200);
  t.match(view.body, {
    files: ['policies.yaml'],
    rule_count: 2,
    rules: [
      { id: 'no-forbidden', action: 'block', mode: 'enforce' },
      { id: 'only-approved', action: 'block' },
    ],
    status: { last_error: null },
  });
  const version = String(view.body.version);

  const blocked = await admin(h, 'POST', '/admin/policies/dry-run', {
    request: { model: 'gpt-4o', messages: [{ role: 'user', content: 'a forbidden thing' }] },
  });
  t.equal(blocked.status, 200);
  t.match(blocked.body, {
    allowed: false,
    decision: 'block',
    policy_source: 'active',
    policy_version: version,
    reasons: [{ policy: 'no-forbidden', action: 'block', message: 'forbidden word' }],
  });
  const allowed = await admin(h, 'POST', '/admin/policies/dry-run', {
    request: { model: 'gpt-4o', messages: [{ role: 'user', content: 'fine' }] },
    key: { team: 'finance', models: ['gpt-4o'] },
  });
  t.match(allowed.body, { allowed: true, decision: 'allow', reasons: [], key: { team: 'finance' } });
  const byModel = await admin(h, 'POST', '/admin/policies/dry-run', {
    request: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'fine' }] },
    key_id: h.keyId,
    key: { models: ['gpt-4o'] },
  });
  t.match(byModel.body, {
    decision: 'block',
    reasons: [{ policy: 'model_not_allowed' }],
    key: { id: h.keyId },
  });

  const proposed = await admin(h, 'POST', '/admin/policies/dry-run', {
    request: {
      model: 'claude-3-5-sonnet',
      max_tokens: 10,
      messages: [{ role: 'user', content: 'email me at a@b.co' }],
    },
    provider: 'anthropic',
    policy: 'version: 1\nrules:\n  - id: mask-email\n    when: { detect: [email] }\n    action: redact\n',
  });
  t.equal(proposed.status, 200);
  t.match(proposed.body, { decision: 'redact', policy_source: 'proposed', route: '/v1/messages' });
  t.notMatch(JSON.stringify(proposed.body.redacted), /a@b\.co/);

  const invalid = await admin(h, 'POST', '/admin/policies/dry-run', {
    request: { model: 'gpt-4o', messages: [] },
    policy: 'version: 1\nrules:\n  - id: x\n    when: { nope: 1 }\n    action: block\n',
  });
  t.equal(invalid.status, 400);
  t.match(invalid.body, { error: { code: 'invalid_request', details: [{ ruleId: 'x' }] } });
  t.equal((await admin(h, 'POST', '/admin/policies/dry-run', { model: 'gpt-4o' })).status, 400);
  t.equal(
    (await admin(h, 'POST', '/admin/policies/dry-run', { request: { model: 'gpt-4o' }, key_id: 'nope' }))
      .status,
    404,
  );

  // Reload: a broken file is refused and the last good set stays; a good one becomes active.
  writeFileSync(join(h.policiesDir, 'policies.yaml'), 'version: 1\nrules: [ {\n');
  const refused = await admin(h, 'POST', '/admin/policies/reload');
  t.equal(refused.status, 400);
  t.match(refused.body, { error: { details: { active_version: version } } });
  t.match((await admin(h, 'GET', '/admin/policies')).body, { version, status: { failed_reloads: 1 } });
  t.notSame((await admin(h, 'GET', '/admin/policies')).body.status, { last_error: null });
  writeFileSync(join(h.policiesDir, 'policies.yaml'), 'version: 1\nrules: []\n');
  const reloaded = await admin(h, 'POST', '/admin/policies/reload');
  t.equal(reloaded.status, 200);
  t.match(reloaded.body, { reloaded: true, rule_count: 0 });
  t.not(reloaded.body.version, version);
  t.equal(await chat(h, h.key, 'forbidden is fine now'), 200);
});
