/**
 * Policy decision microbenchmark: `node --import tsx bench/policy-decision.ts`.
 * Times evaluate() on a 2 KB prompt for 10, 100 and 1000 realistic rules (detectors included),
 * and for 1000 rules of which all but 10 are scoped to other teams (the scope index should make
 * that cost about the same as 10 rules). Prints a markdown table.
 */
import type { KeyIdentity } from '../src/auth/identity.js';
import { compilePolicies, evaluate, type CompiledPolicySet } from '../src/policy/index.js';
import type { NormalizedRequest } from '../src/providers/types.js';

const TEMPLATES: ((i: number) => Record<string, unknown>)[] = [
  (i) => ({
    id: `models-${i}`,
    when: { model: { not_in: ['gpt-4o*', 'gpt-4.1*', 'claude-*', 'o3*'] } },
    action: 'block',
  }),
  (i) => ({ id: `ssn-${i}`, when: { detect: ['ssn', 'credit_card'] }, action: 'block' }),
  (i) => ({ id: `secrets-${i}`, when: { detect: ['api_secret'] }, action: 'block' }),
  (i) => ({ id: `mask-${i}`, when: { detect: ['email', 'phone'] }, action: 'redact' }),
  (i) => ({ id: `inj-${i}`, when: { detect: ['prompt_injection'] }, action: 'score', risk: 0.6 }),
  (i) => ({ id: `tokens-${i}`, when: { max_tokens: { gt: 16384 } }, action: 'block' }),
  (i) => ({
    id: `words-${i}`,
    when: { prompt: { contains: [`project-codename-${i}`, 'confidential merger'] } },
    action: 'block',
  }),
  (i) => ({
    id: `regex-${i}`,
    when: { prompt: { matches: `(?i)acct[- ]?${i}\\d{4}` } },
    action: 'score',
    risk: 0.2,
  }),
  (i) => ({
    id: `meta-${i}`,
    when: { all: [{ metadata: { env: 'prod' } }, { any: [{ stream: true }, { key: { tags: ['batch'] } }] }] },
    action: 'score',
    risk: 0.1,
  }),
  (i) => ({ id: `iban-${i}`, when: { detect: ['iban', 'ip_address'] }, action: 'block', mode: 'monitor' }),
];

function rules(n: number, offset = 0): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) => TEMPLATES[i % TEMPLATES.length]!(i + offset));
}

function set(list: Record<string, unknown>[]): CompiledPolicySet {
  return compilePolicies([{ file: 'bench.yaml', doc: { version: 1, rules: list } }]);
}

const SENTENCE =
  'Please review the attached quarterly planning notes and summarise the main risks for the board, ' +
  'including supplier delays, hiring plans and the migration of the billing system to the new region. ';
const prompt2k = SENTENCE.repeat(Math.ceil(2048 / SENTENCE.length)).slice(0, 2048);

const request: NormalizedRequest = {
  provider: 'openai',
  family: 'openai',
  route: '/v1/chat/completions',
  model: 'gpt-4o-mini',
  texts: [
    { path: ['messages', 0, 'content'], role: 'system', text: 'You are a helpful assistant.' },
    { path: ['messages', 1, 'content'], role: 'user', text: prompt2k },
  ],
  prompt: `You are a helpful assistant.\n${prompt2k}`,
  maxTokens: 1024,
  stream: false,
  metadata: { env: 'prod' },
};

const key: KeyIdentity = {
  id: 'key_bench',
  owner: 'bench@example.com',
  name: 'bench',
  team: 'eng',
  tags: ['batch'],
  models: [],
  expiresAt: null,
};

function measure(s: CompiledPolicySet, iterations: number): { p50: number; p99: number; mean: number } {
  for (let i = 0; i < 2000; i++) evaluate(s, request, key);
  const samples = new Float64Array(iterations);
  for (let i = 0; i < iterations; i++) {
    const t0 = process.hrtime.bigint();
    evaluate(s, request, key);
    samples[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  samples.sort();
  const at = (q: number): number => samples[Math.min(iterations - 1, Math.floor(q * iterations))]!;
  return { p50: at(0.5), p99: at(0.99), mean: samples.reduce((a, b) => a + b, 0) / iterations };
}

const scopedElsewhere = [
  ...rules(10),
  ...rules(990, 10).map((r, i) => ({ ...r, scope: { teams: [`team-${i % 50}`] } })),
];

const cases: [string, CompiledPolicySet][] = [
  ['10 rules', set(rules(10))],
  ['100 rules', set(rules(100))],
  ['1000 rules', set(rules(1000))],
  ['1000 rules, 990 scoped to other teams', set(scopedElsewhere)],
];

const decision = evaluate(cases[0]![1], request, key);
if (decision.decision !== 'allow')
  throw new TypeError(`bench request should be allowed, got ${decision.decision}`);

const iterations = Number(process.env.BENCH_ITERATIONS ?? 20000);
const results = cases.map(([name, s]) => ({ name, ...measure(s, iterations) }));
const base = results[0]!.p50;
console.log(
  `evaluate() on a ${prompt2k.length}-char prompt, ${iterations} iterations each, Node ${process.version}\n`,
);
console.log('| rule set | p50 (µs) | p99 (µs) | mean (µs) | p50 vs 10 rules |');
console.log('|---|---:|---:|---:|---:|');
for (const r of results) {
  console.log(
    `| ${r.name} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.mean.toFixed(1)} | ${(r.p50 / base).toFixed(2)}x |`,
  );
}
