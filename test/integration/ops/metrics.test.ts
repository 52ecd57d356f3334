import t from 'tap';
import { startProxy, type ProxyHarness } from '../../support/proxy.js';
import { AigovMetrics } from '../../../src/metrics/metrics.js';
import type { AuditRow } from '../../../src/audit/row.js';

/**
 * GET /metrics through the real harness: allowed, policy-blocked and limit-refused requests each
 * show up with their own labels; tokens and cost per team; auth failures by reason; audit and
 * policy gauges read at scrape time.
 */
const POLICIES = `version: 1
rules:
  - id: no-ssn
    when: { detect: [ssn] }
    action: block
  - id: watch-wire
    when: { prompt: { contains: "wire transfer" } }
    action: block
    mode: monitor
  - id: two-per-hour
    scope: { tags: [limited] }
    limit: { requests: 2, per: 1h }
`;

/** The sum over every series of `name` whose labels include `labels`; undefined when none does. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    const m = /^([^{\s]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) got[k!] = v!;
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) sum = (sum ?? 0) + Number(m[3]);
  }
  return sum;
}

async function scrape(h: ProxyHarness): Promise<string> {
  const res = await h.app.inject({ method: 'GET', url: '/metrics' });
  if (res.statusCode !== 200) throw new Error(`/metrics answered ${res.statusCode}`);
  if (!String(res.headers['content-type']).startsWith('text/plain')) throw new Error('not text/plain');
  return res.body;
}

function chat(h: ProxyHarness, key: string, content: string, model = 'gpt-4o') {
  return h.app.inject({
    method: 'POST',
    url: '/v1/chat/completions',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    payload: { model, messages: [{ role: 'user', content }] },
  });
}

t.test('/metrics reflects allowed, blocked and limited requests', async (t) => {
  const h = await startProxy({
    policies: POLICIES,
    listen: false,
    mockBehavior: { usage: { prompt: 7, completion: 5 } },
  });
  t.teardown(() => h.close());
  const limitedKey = await h.newKey({ team: 'finance', tags: ['limited'] });

  const before = await scrape(h);
  t.equal(sample(before, 'aigov_requests_total'), undefined, 'no request series before traffic');
  t.ok(sample(before, 'aigov_process_cpu_seconds_total') !== undefined, 'process metrics, aigov_ prefix');
  t.equal(sample(before, 'aigov_limits_degraded'), 0);

  t.equal((await chat(h, h.key, 'hello')).statusCode, 200);
  t.equal((await chat(h, h.key, 'hello again')).statusCode, 200);
  t.equal((await chat(h, h.key, 'my ssn is 123-45-6789')).statusCode, 403);
  t.equal((await chat(h, h.key, 'please wire transfer now')).statusCode, 200, 'monitor rule only observes');
  for (let i = 0; i < 2; i++) t.equal((await chat(h, limitedKey, 'hi')).statusCode, 200);
  const refused = await chat(h, limitedKey, 'hi');
  t.equal(refused.statusCode, 429);
  const bad = await h.app.inject({
    method: 'POST',
    url: '/v1/chat/completions',
    headers: { authorization: 'Bearer aigov_not_a_real_key', 'content-type': 'application/json' },
    payload: { model: 'gpt-4o', messages: [] },
  });
  t.equal(bad.statusCode, 401);

  const text = await scrape(h);
  const route = '/v1/chat/completions';
  t.equal(
    sample(text, 'aigov_requests_total', {
      route,
      provider: 'openai',
      model: 'gpt-4o',
      decision: 'allow',
      status: '200',
    }),
    5,
    'allowed: two plain, one monitor-only match, two under the limit',
  );
  t.equal(
    sample(text, 'aigov_requests_total', { route, model: 'gpt-4o', decision: 'block', status: '403' }),
    1,
    'blocked by policy',
  );
  t.equal(
    sample(text, 'aigov_requests_total', { route, model: 'gpt-4o', decision: 'block', status: '429' }),
    1,
    'refused by the limit',
  );
  t.equal(
    sample(text, 'aigov_requests_total', { route, provider: 'none', decision: 'block', status: '401' }),
    1,
    'bad key: no provider chosen yet',
  );
  t.equal(
    sample(text, 'aigov_policy_matches_total', { rule: 'no-ssn', action: 'block', mode: 'enforce' }),
    1,
  );
  t.equal(
    sample(text, 'aigov_policy_matches_total', { rule: 'watch-wire', action: 'block', mode: 'monitor' }),
    1,
  );
  t.equal(
    sample(text, 'aigov_policy_matches_total', { rule: 'two-per-hour', action: 'limit', mode: 'enforce' }),
    1,
    'an enforced limit is a match when it refuses (not on every request it counts)',
  );
  t.equal(sample(text, 'aigov_limit_refusals_total', { rule: 'two-per-hour' }), 1);
  t.equal(sample(text, 'aigov_auth_failures_total', { reason: 'invalid_api_key' }), 1);

  // Usage is fixed by the mock: 7 prompt + 5 completion tokens per answered call.
  t.equal(
    sample(text, 'aigov_tokens_total', { provider: 'openai', model: 'gpt-4o', team: 'eng', kind: 'prompt' }),
    21,
  );
  t.equal(
    sample(text, 'aigov_tokens_total', {
      provider: 'openai',
      model: 'gpt-4o',
      team: 'finance',
      kind: 'completion',
    }),
    10,
  );
  const cost = sample(text, 'aigov_cost_usd_total', { provider: 'openai', model: 'gpt-4o', team: 'eng' });
  t.ok(cost !== undefined && cost > 0, 'gpt-4o has a price: cost counted');

  t.equal(sample(text, 'aigov_request_duration_seconds_count', { route, decision: 'allow' }), 5);
  t.equal(sample(text, 'aigov_upstream_duration_seconds_count', { provider: 'openai', route }), 5);
  t.equal(sample(text, 'aigov_overhead_seconds_count', { route }), 8, 'every proxied answer, refusals too');
  t.ok(text.includes('aigov_overhead_seconds_bucket{le="0.0001",route="/v1/chat/completions"}'));

  const version = h.services.policies.getStatus().version;
  t.equal(sample(text, 'aigov_policy_version_info', { version }), 1);
  t.equal(sample(text, 'aigov_policy_rules'), 3);

  await h.services.audit.drain(10_000);
  const after = await scrape(h);
  t.equal(sample(after, 'aigov_audit_rows_written_total'), 8, 'audit counters mirror the writer');
  t.equal(sample(after, 'aigov_audit_queue_depth'), 0);
  t.equal(sample(after, 'aigov_audit_rows_dropped_total'), 0);
});

t.test('/v1/check and /api/evaluate are counted, never as policy matches or refusals', async (t) => {
  const h = await startProxy({ policies: POLICIES, listen: false });
  t.teardown(() => h.close());
  const res = await h.app.inject({
    method: 'POST',
    url: '/v1/check',
    headers: { authorization: `Bearer ${h.key}` },
    payload: { model: 'gpt-4o', messages: [{ role: 'user', content: 'ssn 123-45-6789' }] },
  });
  t.equal(res.json().decision, 'block');
  await h.app.inject({ method: 'POST', url: '/api/evaluate', headers: { 'x-api-key': 'nope' } });
  const text = await scrape(h);
  t.equal(sample(text, 'aigov_requests_total', { route: '/v1/check', decision: 'block', status: '200' }), 1);
  t.equal(sample(text, 'aigov_requests_total', { route: '/api/evaluate', status: '401' }), 1);
  t.equal(sample(text, 'aigov_auth_failures_total', { reason: 'invalid_api_key' }), 1);
  t.equal(sample(text, 'aigov_policy_matches_total', { rule: 'no-ssn' }), undefined);
});

t.test('model and team labels are bounded', async (t) => {
  const h = await startProxy({ listen: false });
  t.teardown(() => h.close());
  const m = new AigovMetrics(h.services, { maxModels: 3, maxTeams: 2, processMetrics: false });
  const row = (model: string, team: string): AuditRow => ({
    ...baseRowFor(),
    model,
    team,
  });
  for (let i = 0; i < 10; i++) m.observeCall(row(`model-${i}`, `team-${i}`));
  m.observeCall(row('model-1', 'team-1'));
  const text = await m.render();
  const models = new Set([...text.matchAll(/aigov_requests_total\{[^}]*model="([^"]+)"/g)].map((x) => x[1]));
  t.same([...models].sort(), ['model-0', 'model-1', 'model-2', 'other']);
  t.equal(sample(text, 'aigov_requests_total', { model: 'other' }), 7);
  t.equal(sample(text, 'aigov_requests_total', { model: 'model-1' }), 2, 'a kept value stays kept');
  t.equal(sample(text, 'aigov_tokens_total', { team: 'other', kind: 'prompt' }), 8 * 3);
  t.ok((sample(text, 'aigov_metrics_label_overflow_total', { label: 'model' }) ?? 0) >= 7);
  t.equal(sample(text, 'aigov_process_cpu_seconds_total'), undefined, 'process metrics off');

  // Fail-closed refusals while the limit store is down, whether or not a content rule matched.
  m.observeCall({ ...baseRowFor(), statusCode: 503, decision: 'block', error: 'limits_unavailable' });
  m.observeCall({
    ...baseRowFor(),
    statusCode: 503,
    decision: 'block',
    error: 'limits_unavailable',
    policyIds: ['gone-rule'],
  });
  const after = await m.render();
  t.equal(sample(after, 'aigov_limit_refusals_total', { rule: 'store_unavailable' }), 2);
  t.equal(
    sample(after, 'aigov_policy_matches_total', { rule: 'gone-rule', action: 'none', mode: 'none' }),
    1,
    'a rule no longer in the active set is still counted',
  );
});

function baseRowFor(): AuditRow {
  return {
    requestId: 'r',
    createdAt: new Date(),
    keyId: 'k',
    owner: 'o',
    team: 't',
    method: 'POST',
    route: '/v1/chat/completions',
    provider: 'openai',
    model: 'gpt-4o',
    decision: 'allow',
    policyIds: [],
    reasons: null,
    riskScore: 0,
    statusCode: 200,
    latencyMs: 12,
    upstreamMs: 10,
    overheadMs: 2,
    promptTokens: 3,
    completionTokens: 4,
    totalTokens: 7,
    costUsd: null,
    stream: false,
    aborted: false,
    degraded: false,
    clientIp: null,
    error: null,
    content: null,
  };
}
