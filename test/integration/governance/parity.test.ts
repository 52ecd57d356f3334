/**
 * Issue 14, "must show": one decision path. Every body of the corpus goes through POST /v1/check,
 * the admin dry run (POST /admin/policies/dry-run with the caller's key_id) and the proxy itself
 * (against the local mock provider), as the same stored key. All three must give the same decision,
 * the same rule ids and the same redacted text, and that must be what the policy set says.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { startProxy, type ProxyHarness } from '../../support/proxy.js';
import {
  FAMILY_CORPUS,
  PARITY_KEYS,
  SHIPPED_CORPUS,
  TEST_CORPUS,
  type KeyName,
  type ParityCase,
} from '../../fixtures/parity/corpus.js';

const TOKEN = 'admin-token-for-parity-0123456789';
const TEST_POLICIES = readFileSync(new URL('../../fixtures/parity/policies.yaml', import.meta.url), 'utf8');
const SHIPPED_DIR = fileURLToPath(new URL('../../../policies', import.meta.url));

type Json = Record<string, unknown>;
interface Reason {
  policy: string;
  action: string;
  message: string;
}
interface Verdict {
  allowed: boolean;
  decision: string;
  risk_score: number;
  reasons: Reason[];
  monitor: Reason[];
  provider: string;
  route: string;
  redacted?: Json;
}

interface Outcome {
  name: string;
  requestId: string;
  check: Verdict;
  dry: Verdict;
}

const sorted = (ids: string[]): string[] => [...ids].sort();
const idsOf = (v: Verdict): string[] => [...v.reasons, ...v.monitor].map((r) => r.policy);

function withoutMetadata(body: Json): Json {
  const { metadata: _m, ...rest } = body;
  return rest;
}

type Family = 'openai' | 'anthropic' | 'azure' | 'gemini' | 'bedrock';

function familyOf(c: ParityCase): Family {
  if (c.envelope) return c.envelope.provider as Family;
  return c.route === '/v1/messages' ? 'anthropic' : 'openai';
}

/** The header each family's SDK carries the key in. */
function keyHeader(family: Family, key: string): Record<string, string> {
  if (family === 'anthropic') return { 'x-api-key': key };
  if (family === 'azure') return { 'api-key': key };
  if (family === 'gemini') return { 'x-goog-api-key': key };
  return { authorization: `Bearer ${key}` };
}

/** The refusal's message and code, from the family's error shape (Gemini and Bedrock append "(code)"). */
function refusalOf(family: Family, text: string): { message: string; code: string | null } {
  const err = JSON.parse(text) as Json;
  if (family === 'bedrock' || family === 'gemini') {
    const raw =
      family === 'bedrock'
        ? String((err as { message: string }).message)
        : String((err as { error: { message: string } }).error.message);
    const m = /^(.*) \(([^()]+)\)$/.exec(raw);
    return { message: m?.[1] ?? raw, code: m?.[2] ?? null };
  }
  const e = (err as { error: { message: string; code?: string } }).error;
  return { message: e.message, code: family === 'anthropic' ? null : (e.code ?? null) };
}

/** /v1/check's envelope for families with the model in the path: it is not part of what is forwarded. */
function withoutEnvelopeModel(c: ParityCase, body: Json | undefined): Json | undefined {
  if (body === undefined || !c.envelope || 'model' in c.body) return body;
  const { model: _m, ...rest } = body;
  return rest;
}

async function checkAs(h: ProxyHarness, key: string, body: Json): Promise<Verdict> {
  const res = await h.send('/v1/check', { body, auth: key });
  if (res.status !== 200) throw new Error(`/v1/check ${res.status}: ${await res.text()}`);
  return (await res.json()) as Verdict;
}

async function dryRunAs(
  h: ProxyHarness,
  keyId: string,
  body: Json,
  envelope: { provider?: string; route?: string } = {},
): Promise<Verdict> {
  const res = await h.app.inject({
    method: 'POST',
    url: '/admin/policies/dry-run',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    payload: JSON.stringify({ request: body, key_id: keyId, ...envelope }),
  });
  if (res.statusCode !== 200) throw new Error(`dry run ${res.statusCode}: ${res.body}`);
  return res.json<Verdict>();
}

async function runCorpus(
  t: Test,
  label: string,
  corpus: ParityCase[],
  policies: { yaml: string } | { dir: string },
): Promise<void> {
  const h = await startProxy({
    ...('yaml' in policies ? { policies: policies.yaml } : {}),
    env: { AZURE_OPENAI_API_KEY: 'azure-key', GEMINI_API_KEY: 'gemini-key', AWS_BEARER_TOKEN_BEDROCK: 'br' },
    extraProviders: (mockUrl) => [
      {
        name: 'azure',
        family: 'azure',
        base_url: mockUrl,
        api_key_env: 'AZURE_OPENAI_API_KEY',
        deployments: { 'prod-4o': 'gpt-4o' },
      },
      { name: 'gemini', family: 'gemini', base_url: mockUrl, api_key_env: 'GEMINI_API_KEY' },
      { name: 'bedrock', family: 'bedrock', base_url: mockUrl, api_key_env: 'AWS_BEARER_TOKEN_BEDROCK' },
    ],
    overrides: {
      admin: { token: TOKEN },
      ...('dir' in policies ? { policies: { path: policies.dir, watch: false } } : {}),
    },
  });
  t.teardown(() => h.close());
  const keys = {} as Record<KeyName, { key: string; id: string }>;
  for (const [name, attrs] of Object.entries(PARITY_KEYS) as [KeyName, (typeof PARITY_KEYS)[KeyName]][]) {
    const created = await h.services.keys.create({
      ...attrs,
      tags: 'tags' in attrs ? [...attrs.tags] : [],
      models: 'models' in attrs ? [...attrs.models] : [],
    });
    keys[name] = { key: created.key, id: created.stored.id };
  }
  const run = randomBytes(3).toString('hex');
  const outcomes: Outcome[] = [];

  for (const [i, c] of corpus.entries()) {
    await t.test(c.name, async (t) => {
      const { key, id: keyId } = keys[c.key];
      const family = familyOf(c);
      const env = c.envelope;
      // Families with the model in the path: /v1/check takes provider, a top-level model (and
      // route); the dry run takes the model in its request, provider and route beside it.
      const check = await checkAs(h, key, env ? { ...c.body, ...env } : c.body);
      const dry = env
        ? await dryRunAs(
            h,
            keyId,
            { ...c.body, model: env.model },
            {
              provider: env.provider,
              ...(env.route !== undefined ? { route: env.route } : {}),
            },
          )
        : await dryRunAs(h, keyId, c.body);
      const requestId = `parity-${label}-${run}-${i}`;
      const before = h.mock.requests.length;
      const res = await h.send(c.path ?? c.route, {
        body: c.body,
        auth: false,
        headers: { ...keyHeader(family, key), 'x-request-id': requestId },
      });
      const text = await res.text();
      outcomes.push({ name: c.name, requestId, check, dry });

      // The decision, three ways, and what the policy says.
      const proxyDecision = res.headers.get('x-aigov-decision');
      t.equal(check.decision, c.expect.decision, '/v1/check decision');
      t.equal(dry.decision, c.expect.decision, 'dry-run decision');
      t.equal(proxyDecision, c.expect.decision, 'proxy decision (x-aigov-decision)');
      t.equal(check.allowed, c.expect.decision !== 'block');
      t.equal(dry.allowed, c.expect.decision !== 'block');

      // The rule ids: the proxy header in its order, the check/dry run as a set (enforced + monitor).
      const header = res.headers.get('x-aigov-policies') ?? '';
      const proxyIds = header === '' ? [] : header.split(',');
      t.same(proxyIds, c.expect.ruleIds, 'proxy rule ids (x-aigov-policies)');
      t.same(sorted(idsOf(check)), sorted(c.expect.ruleIds), '/v1/check rule ids');
      t.same(sorted(idsOf(dry)), sorted(c.expect.ruleIds), 'dry-run rule ids');
      t.same(check.reasons, dry.reasons, 'same reasons, messages included');
      t.same(check.monitor, dry.monitor, 'same monitor matches');
      t.equal(check.risk_score, dry.risk_score, 'same risk score');

      // The target: the provider and route the proxy used, as check/dry run resolved them.
      t.equal(check.route, c.route, '/v1/check route');
      t.equal(dry.route, c.route, 'dry-run route');
      t.equal(dry.provider, check.provider, 'same provider');

      if (c.expect.decision === 'block') {
        t.equal(res.status, 403, `proxy refused: ${text}`);
        t.equal(h.mock.requests.length, before, 'nothing reached the provider');
        const { message, code } = refusalOf(family, text);
        if (family === 'anthropic')
          t.match(JSON.parse(text), { type: 'error', error: { type: 'permission_error' } });
        else t.equal(code, c.expect.blockedBy, `refusal code (${family} shape)`);
        if (family === 'gemini')
          t.match(JSON.parse(text), { error: { code: 403, status: 'PERMISSION_DENIED' } });
        if (family === 'bedrock') t.match(res.headers.get('x-amzn-errortype'), /^AccessDeniedException/);
        const messages = check.reasons.map((r) => r.message);
        t.ok(messages.includes(message), `refusal message "${message}" is one of the check's reasons`);
        if (c.expect.blockedBy !== 'risk_threshold')
          t.equal(
            check.reasons.find((r) => r.policy === c.expect.blockedBy)?.message,
            message,
            'the blocking rule’s message',
          );
        t.notOk(check.redacted, 'no redacted body for a block');
        t.notOk(dry.redacted, 'no redacted body for a block (dry run)');
        return;
      }

      t.equal(res.status, 200, `proxy answered: ${text.slice(0, 200)}`);
      t.equal(h.mock.requests.length, before + 1, 'exactly one upstream request');
      const sent = h.mock.requests[before]!;
      t.equal(sent.path, (c.path ?? c.route).split('?')[0], 'forwarded to the same route');
      const forwarded = { ...(sent.body as Json) };
      // The proxy asks OpenAI streams for usage; that is not a governance change.
      if (forwarded['stream_options'] !== undefined && c.body['stream_options'] === undefined) {
        t.same(forwarded['stream_options'], { include_usage: true });
        delete forwarded['stream_options'];
      }
      if (c.expect.decision === 'redact') {
        t.ok(check.redacted, '/v1/check returns the redacted body');
        t.ok(dry.redacted, 'the dry run returns the redacted body');
        // /v1/check takes `metadata` as its envelope, so its body has none; a path family's
        // top-level `model` is envelope too.
        const dryBody = withoutEnvelopeModel(c, dry.redacted);
        t.same(
          withoutEnvelopeModel(c, check.redacted),
          withoutMetadata(dryBody ?? {}),
          'check and dry run redact alike',
        );
        t.same(forwarded, dryBody, 'the provider received exactly the redacted body');
      } else {
        t.notOk(check.redacted, 'nothing redacted (check)');
        t.notOk(dry.redacted, 'nothing redacted (dry run)');
        t.same(forwarded, c.body, 'the provider received the body unchanged');
      }
      const wire = JSON.stringify(forwarded);
      for (const s of c.expect.contains ?? []) t.ok(wire.includes(s), `forwarded text contains ${s}`);
      for (const s of c.expect.notContains ?? []) t.notOk(wire.includes(s), `forwarded text lacks ${s}`);
    });
  }

  await t.test('audit rows agree with the three answers', async (t) => {
    const rows = await h.rows(`request_id LIKE 'parity-${label}-${run}-%'`);
    t.equal(rows.length, corpus.length, 'one row per proxied call');
    const byId = new Map(rows.map((r) => [String(r['request_id']), r]));
    for (const [i, o] of outcomes.entries()) {
      const row = byId.get(o.requestId);
      const c = corpus[i]!;
      t.ok(row, `row for ${o.name}`);
      if (!row) continue;
      t.equal(row['decision'], c.expect.decision, `${o.name}: row decision`);
      t.same(row['policy_ids'], c.expect.ruleIds, `${o.name}: row policy ids`);
      // The column is a float4 (`real`): 0.6 + 0.3 comes back as 0.9, not 0.8999999999999999.
      t.ok(
        Math.abs(Number(row['risk_score']) - o.check.risk_score) < 1e-6,
        `${o.name}: row risk score ${String(row['risk_score'])} = ${o.check.risk_score}`,
      );
      t.equal(row['provider'], o.check.provider, `${o.name}: row provider`);
      t.equal(row['key_id'], keys[c.key].id, `${o.name}: row key`);
    }
  });
}

t.test('parity corpus size', async (t) => {
  t.ok(TEST_CORPUS.length + SHIPPED_CORPUS.length >= 40, 'at least 40 bodies');
  const routes = new Set([...TEST_CORPUS, ...SHIPPED_CORPUS].map((c) => c.route));
  t.same(
    [...routes].sort(),
    ['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/messages', '/v1/responses'],
    'both families, every governed route',
  );
  const families = FAMILY_CORPUS.map(familyOf);
  for (const f of ['azure', 'gemini', 'bedrock'] as const) {
    const cases = FAMILY_CORPUS.filter((_, i) => families[i] === f);
    t.ok(
      cases.some((c) => c.expect.decision === 'block'),
      `${f}: a block case`,
    );
    t.ok(
      cases.some((c) => c.expect.decision === 'redact'),
      `${f}: a redact case`,
    );
    t.ok(
      cases.every((c) => c.envelope?.model && c.path),
      `${f}: model in the envelope and the path`,
    );
  }
});

t.test('dedicated policy set: every action, mode, scope and condition', (t) =>
  runCorpus(t, 'test', TEST_CORPUS, { yaml: TEST_POLICIES }),
);

t.test('families with the model in the path (azure, gemini, bedrock)', (t) =>
  runCorpus(t, 'family', FAMILY_CORPUS, { yaml: TEST_POLICIES }),
);

t.test('the shipped policies/ directory', (t) =>
  runCorpus(t, 'shipped', SHIPPED_CORPUS, { dir: SHIPPED_DIR }),
);
