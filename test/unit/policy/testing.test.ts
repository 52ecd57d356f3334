import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import {
  fallbackNormalize,
  formatPolicyTestResults,
  PolicyLoadError,
  runPolicyTests,
} from '../../../src/policy/index.js';
import type { NormalizedRequest } from '../../../src/providers/types.js';

t.test('the shipped default test cases all pass', async (t) => {
  const results = await runPolicyTests('policies');
  t.ok(results.length >= 15, `${results.length} cases`);
  for (const r of results) t.ok(r.passed, `${r.name}: ${r.failures.join('; ')}`);
  t.match(formatPolicyTestResults(results), new RegExp(`${results.length}/${results.length} passed$`));
});

function tmp(files: Record<string, string>): string {
  const d = mkdtempSync(join(tmpdir(), 'aigov-ptest-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(d, name, '..'), { recursive: true });
    writeFileSync(join(d, name), text);
  }
  return d;
}

const POLICY = `version: 1
rules:
  - { id: no-x, when: { prompt: { contains: forbidden } }, action: block }
  - { id: fin, scope: { teams: [finance] }, action: score, risk: 0.4 }
`;

t.test('failing cases report what differed', async (t) => {
  const d = tmp({
    'p.yaml': POLICY,
    'p.test.yaml': `cases:
  - name: wrong decision
    request: { body: { model: m, messages: [{ role: user, content: forbidden }] } }
    expect: { decision: allow, policies: [fin], not_policies: [no-x], blocked_by: null, risk_score: 0.5 }
  - name: right one
    request: { prompt: 'ok', model: m }
    key: { team: finance }
    expect: { decision: allow, policies: [fin], risk_score: { gte: 0.4, lte: 0.4 } }
`,
    'tests/bad.yaml': 'cases:\n  - { name: x, expect: {} }\n',
  });
  const results = await runPolicyTests(d);
  const wrong = results.find((r) => r.name === 'wrong decision');
  t.equal(wrong?.passed, false);
  t.same(wrong?.failures, [
    'decision: expected allow, got block',
    'policies: expected fin to match',
    'policies: expected no-x not to match',
    'blocked_by: expected null, got no-x',
    'risk_score: expected {"gte":0.5,"lte":0.5}, got 0',
  ]);
  t.equal(results.find((r) => r.name === 'right one')?.passed, true);
  const bad = results.find((r) => r.file.endsWith('bad.yaml'));
  t.equal(bad?.passed, false, 'malformed test file is a failed result');
  t.match(bad?.failures[0], /request/);
  const table = formatPolicyTestResults(results);
  t.match(table, /FAIL\s+p\.test\.yaml\s+wrong decision/);
  t.match(table, /- decision: expected allow, got block/);
  t.match(table, /1\/3 passed, 2 failed$/);
});

t.test('an injected normaliser is used', async (t) => {
  const d = tmp({
    'p.yaml': POLICY,
    'tests/t.yaml':
      'cases:\n  - { name: n, request: { provider: custom, body: { q: forbidden } }, expect: { decision: block } }\n',
  });
  const seen: string[] = [];
  const normalize = (provider: string, route: string, body: unknown): NormalizedRequest => {
    seen.push(`${provider} ${route}`);
    const q = (body as { q: string }).q;
    return {
      ...fallbackNormalize(provider, route, {}),
      texts: [{ path: ['q'], role: 'user', text: q }],
      prompt: q,
    };
  };
  const results = await runPolicyTests(d, { normalize });
  t.equal(results[0]?.passed, true);
  t.same(seen, ['custom /v1/chat/completions']);
});

t.test('policy load errors surface as PolicyLoadError', async (t) => {
  const d = tmp({ 'p.yaml': 'version: 1\nrules: [{ id: x }]\n' });
  await t.rejects(runPolicyTests(d), PolicyLoadError);
});

t.test('fallbackNormalize reads the common body shapes', async (t) => {
  const n = fallbackNormalize('anthropic', '/v1/messages', {
    model: 'claude-x',
    system: [{ type: 'text', text: 'sys' }],
    messages: [
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: [{ type: 'text', text: 'yo' }, { type: 'tool_use' }] },
    ],
    max_tokens: 10,
    stream: true,
    metadata: { user_id: 'u', n: 1 },
  });
  t.equal(n.family, 'anthropic');
  t.same(
    n.texts.map((x) => [x.path, x.role, x.text]),
    [
      [['system', 0, 'text'], 'system', 'sys'],
      [['messages', 0, 'content'], 'user', 'hi'],
      [['messages', 1, 'content', 0, 'text'], 'assistant', 'yo'],
    ],
  );
  t.equal(n.prompt, 'sys\nhi\nyo');
  t.equal(n.maxTokens, 10);
  t.equal(n.stream, true);
  t.same(n.metadata, { user_id: 'u' });
  const e = fallbackNormalize('openai', '/v1/embeddings', {
    model: 'e',
    input: ['a', 'b'],
    max_output_tokens: 5,
  });
  t.same(
    e.texts.map((x) => x.path),
    [
      ['input', 0],
      ['input', 1],
    ],
  );
  t.equal(e.maxTokens, 5);
  t.equal(fallbackNormalize('openai', '/v1/completions', { prompt: 'p' }).prompt, 'p');
  t.equal(fallbackNormalize('openai', '/x', null).model, null);
});
