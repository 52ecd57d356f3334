/**
 * What the governance logic itself costs per call, piece by piece, against the ~300 µs of CPU a
 * governed call takes end to end (bench/RESULTS.md): normalise, decide (request and response
 * phase, shipped policies), and the audit row's chain hash.
 *   node --import tsx bench/pipeline-parts.ts
 */
import { getAdapter } from '../src/providers/families.js';
import { loadPolicies, evaluate } from '../src/policy/index.js';
import { contentFields, rowHash } from '../src/audit/canonical.js';
import type { AuditRow } from '../src/audit/row.js';
import type { KeyIdentity } from '../src/auth/identity.js';

const body = {
  model: 'gpt-4o-mini',
  max_tokens: 64,
  messages: [
    { role: 'system', content: 'You are a helpful assistant.' },
    { role: 'user', content: 'Write a haiku about governance proxies and audit logs in the cloud.' },
  ],
};
const adapter = getAdapter('openai');
const set = await loadPolicies('policies');
const key: KeyIdentity = {
  id: 'k',
  owner: 'o@example.com',
  name: null,
  team: 't',
  tags: [],
  models: [],
  expiresAt: null,
};

function bench(name: string, fn: () => unknown, n = 50_000): void {
  for (let i = 0; i < 5_000; i++) fn();
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  console.log(`| ${name} | ${(Number(process.hrtime.bigint() - start) / n / 1000).toFixed(2)} µs |`);
}

const norm = adapter.normalize({ route: '/v1/chat/completions', provider: 'openai', body });
const response = { choices: [{ message: { role: 'assistant', content: 'Hello from the mock provider.' } }] };
const row: AuditRow = {
  requestId: 'r',
  createdAt: new Date(),
  keyId: 'k',
  owner: 'o@example.com',
  team: 't',
  method: 'POST',
  route: '/v1/chat/completions',
  provider: 'openai',
  model: 'gpt-4o-mini',
  decision: 'allow',
  policyIds: ['per-key-rate'],
  reasons: null,
  riskScore: 0,
  statusCode: 200,
  latencyMs: 1,
  upstreamMs: 1,
  overheadMs: 0.2,
  promptTokens: 20,
  completionTokens: 10,
  totalTokens: 30,
  costUsd: 0.00001,
  stream: false,
  aborted: false,
  degraded: false,
  clientIp: '127.0.0.1',
  error: null,
  content: null,
};

console.log('| step | mean per call |');
console.log('| --- | ---: |');
bench('normalise (zod + text walk)', () =>
  adapter.normalize({ route: '/v1/chat/completions', provider: 'openai', body }),
);
bench('decide, request phase (shipped policies)', () => evaluate(set, norm, key));
bench('decide, response phase', () => {
  const texts = adapter.responseTexts('/v1/chat/completions', response);
  return evaluate(set, { ...norm, texts, prompt: texts.map((t) => t.text).join('\n') }, key, 'response');
});
bench('audit row chain hash', () => rowHash('0'.repeat(64), 'replica', 1, contentFields(row)));
