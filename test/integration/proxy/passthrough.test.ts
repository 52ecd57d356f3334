import t from 'tap';
import OpenAI from 'openai';
import { OPENAI_PROVIDER_KEY, startProxy } from '../../support/proxy.js';

/**
 * Passthrough (config `passthrough`): routes aigov does not govern are proxied opaquely with the
 * provider credential injected and the caller's key stripped whatever header carried it, counted
 * by request limits on their route, and audited with decision `passthrough`. Without the setting
 * such a route is a 404 in the provider's shape that names the route and the setting.
 */
const POLICIES = `version: 1
rules:
  - id: ft-requests
    scope: { routes: ["/v1/fine_tuning/jobs"] }
    limit: { requests: 3, per: 1h }
`;

t.test('passthrough routes', async (t) => {
  const h = await startProxy({
    policies: POLICIES,
    overrides: {
      passthrough: [{ provider: 'openai', routes: ['/v1/fine_tuning/**'], methods: ['GET', 'POST'] }],
    },
  });
  t.teardown(() => h.close());

  t.test('credential injected, caller key stripped in any header spelling', async (t) => {
    const spellings: Record<string, string>[] = [
      { authorization: `Bearer ${h.key}` },
      { 'x-api-key': h.key },
      { 'api-key': h.key, x_api_key: h.key, cookie: `k=${h.key}` },
    ];
    for (const headers of spellings) {
      const res = await h.send('/v1/fine_tuning/jobs/ftjob-1/events?limit=2', { headers, auth: false });
      t.equal(res.status, 200);
      t.equal(res.headers.get('x-aigov-decision'), 'passthrough');
      const req = h.mock.requests.at(-1)!;
      t.equal(req.path, '/v1/fine_tuning/jobs/ftjob-1/events');
      t.equal(req.headers['authorization'], `Bearer ${OPENAI_PROVIDER_KEY}`, 'provider key injected');
      for (const [name, value] of Object.entries(req.headers))
        t.notOk(String(value).includes(h.key), `no aigov key in ${name}`);
      t.notOk(req.headers['x-api-key'], 'x-api-key stripped');
      t.notOk(req.headers['cookie'], 'cookie stripped');
    }
  });

  t.test('bodies are streamed through untouched; the SDK works unchanged', async (t) => {
    const big = 'x'.repeat(2_000_000);
    const res = await h.send('/v1/fine_tuning/alpha/graders/run', { body: { grader: big } });
    t.equal(res.status, 200);
    const echoed = (await res.json()) as { received: { grader: string } };
    t.equal(echoed.received.grader.length, big.length, 'whole body forwarded');

    const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.key, maxRetries: 0 });
    const job = await client.fineTuning.jobs.retrieve('ftjob-2');
    t.equal(job.id, 'ftjob-mock');
  });

  t.test('request limits count passthrough calls on their route', async (t) => {
    const limited = await h.newKey();
    for (let i = 0; i < 3; i++) {
      const ok = await h.send('/v1/fine_tuning/jobs', { auth: limited });
      t.equal(ok.status, 200, `call ${i + 1} within the limit`);
    }
    const before = h.mock.requests.length;
    const refused = await h.send('/v1/fine_tuning/jobs', { auth: limited });
    t.equal(refused.status, 429);
    const body = (await refused.json()) as { error: { code: string; type: string } };
    t.equal(body.error.code, 'ft-requests');
    t.equal(body.error.type, 'rate_limit_error');
    t.ok(Number(refused.headers.get('retry-after')) >= 1);
    t.equal(h.mock.requests.length, before, 'not forwarded');
  });

  t.test('refusals: bad key, method not listed, route not listed', async (t) => {
    const before = h.mock.requests.length;
    const bad = await h.send('/v1/fine_tuning/jobs', { auth: 'aigov_nope' });
    t.equal(bad.status, 401);
    t.equal(((await bad.json()) as { error: { type: string } }).error.type, 'authentication_error');
    const noKey = await h.send('/v1/fine_tuning/jobs', { auth: false });
    t.equal(noKey.status, 401);
    const del = await h.send('/v1/fine_tuning/jobs/ftjob-1', { method: 'DELETE' });
    t.equal(del.status, 404, 'DELETE is not listed');
    const other = await h.send('/v1/assistants');
    t.equal(other.status, 404);
    const msg = ((await other.json()) as { error: { message: string } }).error.message;
    t.match(msg, /\/v1\/assistants/);
    t.match(msg, /passthrough/);
    t.equal(h.mock.requests.length, before, 'nothing forwarded');
  });

  t.test('audit rows', async (t) => {
    const rows = await h.rows("route LIKE '/v1/fine_tuning/%'");
    const passed = rows.filter((r) => r['decision'] === 'passthrough');
    t.ok(passed.length >= 8, `${passed.length} passthrough rows`);
    t.ok(passed.every((r) => r['provider'] === 'openai' && r['status_code'] === 200 && r['key_id'] !== null));
    t.ok(rows.some((r) => r['decision'] === 'block' && r['status_code'] === 429));
    t.ok(rows.some((r) => r['status_code'] === 401 && r['key_id'] === null));
  });
});

t.test('without passthrough config an unknown route is a 404 naming the setting', async (t) => {
  const h = await startProxy();
  t.teardown(() => h.close());
  const res = await h.send('/v1/fine_tuning/jobs');
  t.equal(res.status, 404);
  const body = (await res.json()) as { error: { message: string; type: string } };
  t.equal(body.error.type, 'not_found_error');
  t.match(body.error.message, /GET \/v1\/fine_tuning\/jobs/);
  t.match(body.error.message, /passthrough/);
  t.equal(h.mock.requests.length, 0);
});
