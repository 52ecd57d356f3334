import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import type { KeyIdentity } from '../auth/identity.js';
import type { NormalizedRequest, ProviderFamily, TextSlot } from '../providers/types.js';
import { evaluate } from './evaluate.js';
import { loadPolicies } from './load.js';
import type { CompiledPolicySet, Decision, Phase, ToolFacts } from './types.js';

export { validatePolicies } from './load.js';

/** Turns a provider body into a NormalizedRequest; the server passes the real provider normalisers. */
export type Normalizer = (provider: string, route: string, body: unknown) => NormalizedRequest;

const range = z.preprocess(
  (v) => (typeof v === 'number' ? { gte: v, lte: v } : v),
  z.strictObject({
    gt: z.number().optional(),
    gte: z.number().optional(),
    lt: z.number().optional(),
    lte: z.number().optional(),
  }),
);

const caseSchema = z
  .strictObject({
    name: z.string().min(1),
    phase: z.enum(['request', 'response', 'tool_call', 'tool_result']).default('request'),
    /** A tool call (phase tool_call) or the call whose result is `result` (phase tool_result). */
    mcp: z
      .strictObject({
        server: z.string().min(1),
        tool: z.string().min(1),
        arguments: z.record(z.string(), z.unknown()).default({}),
        result: z.string().optional(),
      })
      .optional(),
    request: z
      .strictObject({
        provider: z.string().optional(),
        route: z.string().optional(),
        body: z.unknown().optional(),
        // Already-normalised fields, for cases that do not want to go through a provider body.
        model: z.string().nullable().optional(),
        prompt: z.string().optional(),
        max_tokens: z.number().nullable().optional(),
        stream: z.boolean().optional(),
        metadata: z.record(z.string(), z.string()).optional(),
      })
      .optional(),
    key: z
      .strictObject({
        id: z.string().optional(),
        owner: z.string().optional(),
        name: z.string().nullable().optional(),
        team: z.string().nullable().optional(),
        tags: z.array(z.string()).optional(),
        models: z.array(z.string()).optional(),
      })
      .optional(),
    expect: z.strictObject({
      decision: z.enum(['allow', 'block', 'redact', 'require_approval']).optional(),
      allowed: z.boolean().optional(),
      policies: z.array(z.string()).optional(),
      not_policies: z.array(z.string()).optional(),
      blocked_by: z.string().nullable().optional(),
      risk_score: range.optional(),
      redacted: z
        .strictObject({
          contains: z.array(z.string()).optional(),
          not_contains: z.array(z.string()).optional(),
        })
        .optional(),
    }),
  })
  .superRefine((c, ctx) => {
    // Tool phases say what they miss per case ("phase tool_call needs mcp"); LLM phases need a request.
    if (c.request === undefined && (c.phase === 'request' || c.phase === 'response'))
      ctx.addIssue({ code: 'custom', path: ['request'], message: `phase ${c.phase} needs a request` });
  })
  .transform((c) => ({ ...c, request: c.request ?? {} }));
export type PolicyTestCase = z.infer<typeof caseSchema>;

const fileSchema = z.strictObject({ cases: z.array(caseSchema).min(1) });

export interface PolicyTestResult {
  name: string;
  file: string;
  passed: boolean;
  expected: PolicyTestCase['expect'] | null;
  actual:
    | (Pick<Decision, 'riskScore' | 'matchedPolicyIds' | 'blockedBy'> & {
        decision: Decision['decision'] | 'require_approval';
      })
    | null;
  /** Why the case failed, one line each. */
  failures: string[];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function contentTexts(
  content: unknown,
  path: (string | number)[],
  role: TextSlot['role'],
  out: TextSlot[],
): void {
  if (typeof content === 'string') {
    out.push({ path, text: content, role });
    return;
  }
  if (!Array.isArray(content)) return;
  content.forEach((part: unknown, i) => {
    if (typeof part === 'string') out.push({ path: [...path, i], text: part, role });
    else if (isRecord(part) && typeof part.text === 'string')
      out.push({ path: [...path, i, 'text'], text: part.text, role });
  });
}

function roleOf(v: unknown): TextSlot['role'] {
  return v === 'system' || v === 'user' || v === 'assistant' || v === 'tool' ? v : 'other';
}

/**
 * Minimal body reader for policy tests when the real provider normalisers are not passed in:
 * `system`, `messages[].content` (strings or text parts), `prompt`, `input`.
 */
export const fallbackNormalize: Normalizer = (provider, route, body) => {
  const b = isRecord(body) ? body : {};
  const texts: TextSlot[] = [];
  if (b.system !== undefined) contentTexts(b.system, ['system'], 'system', texts);
  if (Array.isArray(b.messages)) {
    b.messages.forEach((m: unknown, i) => {
      if (isRecord(m)) contentTexts(m.content, ['messages', i, 'content'], roleOf(m.role), texts);
    });
  }
  if (b.prompt !== undefined) contentTexts(b.prompt, ['prompt'], 'input', texts);
  if (b.input !== undefined) contentTexts(b.input, ['input'], 'input', texts);
  const max = b.max_tokens ?? b.max_completion_tokens ?? b.max_output_tokens;
  const metadata: Record<string, string> = {};
  if (isRecord(b.metadata)) {
    for (const [k, v] of Object.entries(b.metadata)) if (typeof v === 'string') metadata[k] = v;
  }
  const family: ProviderFamily = provider === 'anthropic' ? 'anthropic' : 'openai';
  return {
    provider,
    family,
    route,
    model: typeof b.model === 'string' ? b.model : null,
    texts,
    prompt: texts.map((t) => t.text).join('\n'),
    maxTokens: typeof max === 'number' ? max : null,
    stream: b.stream === true,
    metadata,
  };
};

function buildRequest(c: PolicyTestCase, normalize: Normalizer): NormalizedRequest {
  const r = c.request;
  const provider = r.provider ?? 'openai';
  const route = r.route ?? (provider === 'anthropic' ? '/v1/messages' : '/v1/chat/completions');
  const req = normalize(provider, route, r.body ?? {});
  if (r.model !== undefined) req.model = r.model;
  if (r.prompt !== undefined) {
    req.texts = [...req.texts, { path: ['prompt'], role: 'input', text: r.prompt }];
    req.prompt = req.texts.map((t) => t.text).join('\n');
  }
  if (r.max_tokens !== undefined) req.maxTokens = r.max_tokens;
  if (r.stream !== undefined) req.stream = r.stream;
  if (r.metadata !== undefined) req.metadata = { ...req.metadata, ...r.metadata };
  return req;
}

/** Every string of a JSON value with its path (tool arguments are evaluated string by string). */
function stringSlots(value: unknown, path: (string | number)[], out: ToolFacts['texts']): ToolFacts['texts'] {
  if (typeof value === 'string') out.push({ path, text: value });
  else if (Array.isArray(value)) value.forEach((v, i) => stringSlots(v, [...path, i], out));
  else if (isRecord(value)) for (const [k, v] of Object.entries(value)) stringSlots(v, [...path, k], out);
  return out;
}

function buildToolFacts(c: PolicyTestCase): ToolFacts | string {
  const m = c.mcp;
  if (m === undefined) return `phase ${c.phase} needs "mcp: {server, tool, arguments}"`;
  const texts =
    c.phase === 'tool_result'
      ? m.result === undefined
        ? []
        : [{ path: ['content', 0, 'text'], text: m.result }]
      : stringSlots(m.arguments, [], []);
  return {
    server: m.server,
    tool: m.tool,
    route: `/mcp/${m.server}`,
    texts,
    prompt: texts.map((t) => t.text).join('\n'),
    metadata: c.request.metadata ?? {},
  };
}

function buildKey(c: PolicyTestCase): KeyIdentity {
  const k = c.key ?? {};
  return {
    id: k.id ?? 'test-key',
    owner: k.owner ?? 'tester@example.com',
    name: k.name ?? null,
    team: k.team ?? null,
    tags: k.tags ?? [],
    models: k.models ?? [],
    expiresAt: null,
  };
}

function check(
  expect: PolicyTestCase['expect'],
  d: Omit<Decision, 'decision'> & { decision: Decision['decision'] | 'require_approval' },
): string[] {
  const failures: string[] = [];
  if (expect.decision !== undefined && d.decision !== expect.decision) {
    failures.push(`decision: expected ${expect.decision}, got ${d.decision}`);
  }
  if (expect.allowed !== undefined && d.allowed !== expect.allowed) {
    failures.push(`allowed: expected ${expect.allowed}, got ${d.allowed}`);
  }
  if (expect.policies !== undefined) {
    if (expect.policies.length === 0 && d.matchedPolicyIds.length > 0) {
      failures.push(`policies: expected none, got [${d.matchedPolicyIds.join(', ')}]`);
    }
    for (const id of expect.policies) {
      if (!d.matchedPolicyIds.includes(id)) failures.push(`policies: expected ${id} to match`);
    }
  }
  for (const id of expect.not_policies ?? []) {
    if (d.matchedPolicyIds.includes(id)) failures.push(`policies: expected ${id} not to match`);
  }
  if (expect.blocked_by !== undefined && d.blockedBy !== expect.blocked_by) {
    failures.push(`blocked_by: expected ${String(expect.blocked_by)}, got ${String(d.blockedBy)}`);
  }
  const r = expect.risk_score;
  if (r !== undefined) {
    const s = d.riskScore;
    const ok =
      (r.gt === undefined || s > r.gt) &&
      (r.gte === undefined || s >= r.gte - 1e-9) &&
      (r.lt === undefined || s < r.lt) &&
      (r.lte === undefined || s <= r.lte + 1e-9);
    if (!ok) failures.push(`risk_score: expected ${JSON.stringify(r)}, got ${s}`);
  }
  if (expect.redacted !== undefined) {
    const text = d.redactedPrompt ?? '';
    for (const s of expect.redacted.contains ?? []) {
      if (!text.includes(s)) failures.push(`redacted prompt: expected to contain ${JSON.stringify(s)}`);
    }
    for (const s of expect.redacted.not_contains ?? []) {
      if (text.includes(s)) failures.push(`redacted prompt: expected not to contain ${JSON.stringify(s)}`);
    }
  }
  return failures;
}

/** Runs one test case against a compiled set. */
export function runPolicyTestCase(
  set: CompiledPolicySet,
  c: PolicyTestCase,
  file: string,
  normalize: Normalizer = fallbackNormalize,
): PolicyTestResult {
  const tool = c.phase === 'tool_call' || c.phase === 'tool_result' ? buildToolFacts(c) : null;
  if (typeof tool === 'string')
    return { name: c.name, file, passed: false, expected: c.expect, actual: null, failures: [tool] };
  const d = evaluate(set, tool ?? buildRequest(c, normalize), buildKey(c), c.phase as Phase);
  // require_approval is the outcome of an allowed tool call that an approval rule matched.
  const outcome = d.allowed && (d.approvalRequiredBy?.length ?? 0) > 0 ? 'require_approval' : d.decision;
  const failures = check(c.expect, { ...d, decision: outcome });
  return {
    name: c.name,
    file,
    passed: failures.length === 0,
    expected: c.expect,
    actual: {
      decision: outcome,
      riskScore: d.riskScore,
      matchedPolicyIds: d.matchedPolicyIds,
      blockedBy: d.blockedBy,
    },
    failures,
  };
}

async function yamlFilesIn(dir: string, only: RegExp): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries
      .filter((e) => e.isFile() && only.test(e.name))
      .map((e) => join(dir, e.name))
      .sort();
  } catch {
    // No tests folder is not an error: the policy set simply has no cases there.
    return [];
  }
}

/** Test files for a policy path: `<dir>/tests/*.yaml` and `<dir>/*.test.yaml`. */
export async function findTestFiles(policiesPath: string): Promise<string[]> {
  const info = await stat(policiesPath);
  const dir = info.isFile() ? dirname(policiesPath) : policiesPath;
  const inTests = await yamlFilesIn(join(dir, 'tests'), /\.ya?ml$/i);
  let siblings = await yamlFilesIn(dir, /\.test\.ya?ml$/i);
  if (info.isFile()) {
    const stem = basename(policiesPath).replace(/\.ya?ml$/i, '');
    siblings = siblings.filter((f) => basename(f).startsWith(`${stem}.test.`));
  }
  return [...inTests, ...siblings];
}

function fileFailure(file: string, message: string): PolicyTestResult {
  return { name: '(test file)', file, passed: false, expected: null, actual: null, failures: [message] };
}

/** Parses and runs every case in one test file. A malformed file is reported as one failed result. */
export async function runPolicyTestFile(
  set: CompiledPolicySet,
  file: string,
  normalize: Normalizer = fallbackNormalize,
): Promise<PolicyTestResult[]> {
  const doc = parseDocument(await readFile(file, 'utf8'), { uniqueKeys: true });
  if (doc.errors.length > 0)
    return [fileFailure(file, `YAML: ${doc.errors[0]?.message.split('\n')[0] ?? ''}`)];
  const parsed = fileSchema.safeParse(doc.toJS());
  if (!parsed.success) {
    return parsed.error.issues.map((i) => fileFailure(file, `${i.path.join('.')}: ${i.message}`));
  }
  return parsed.data.cases.map((c) => runPolicyTestCase(set, c, file, normalize));
}

export interface RunPolicyTestsOptions {
  normalize?: Normalizer;
  /** Test files or folder; defaults to the ones next to the policies (see findTestFiles). */
  testsPath?: string;
}

/**
 * The runner behind `aigov policies test [path]`. Throws PolicyLoadError when the policies
 * themselves do not load; otherwise returns one result per case.
 */
export async function runPolicyTests(
  policiesPath: string,
  options: RunPolicyTestsOptions = {},
): Promise<PolicyTestResult[]> {
  const set = await loadPolicies(policiesPath);
  let files: string[];
  if (options.testsPath === undefined) files = await findTestFiles(policiesPath);
  else if ((await stat(options.testsPath)).isFile()) files = [options.testsPath];
  else files = await yamlFilesIn(options.testsPath, /\.ya?ml$/i);
  const results: PolicyTestResult[] = [];
  for (const f of files) results.push(...(await runPolicyTestFile(set, f, options.normalize)));
  return results;
}

/** A plain-text pass/fail table with failure details and a summary line. */
export function formatPolicyTestResults(results: readonly PolicyTestResult[]): string {
  const rows = results.map((r) => [r.passed ? 'PASS' : 'FAIL', basename(r.file), r.name]);
  const widths = [4, Math.max(4, ...rows.map((r) => (r[1] ?? '').length))];
  const lines = [`${'RESULT'.padEnd(6)}  ${'FILE'.padEnd(widths[1] ?? 4)}  CASE`];
  results.forEach((r, i) => {
    const row = rows[i] ?? [];
    lines.push(`${(row[0] ?? '').padEnd(6)}  ${(row[1] ?? '').padEnd(widths[1] ?? 4)}  ${row[2] ?? ''}`);
    for (const f of r.failures) lines.push(`${''.padEnd(8)}${''.padEnd(widths[1] ?? 4)}    - ${f}`);
  });
  const passed = results.filter((r) => r.passed).length;
  lines.push(
    '',
    `${passed}/${results.length} passed${passed === results.length ? '' : `, ${results.length - passed} failed`}`,
  );
  return lines.join('\n');
}
