import { createHash } from 'node:crypto';
import type { z } from 'zod';
import type { KeyIdentity } from '../auth/identity.js';
import type { NormalizedRequest } from '../providers/types.js';
import { compileCondition, type Predicate } from './conditions.js';
import { EvalContext } from './context.js';
import { getDetector, type Detector } from './detectors/index.js';
import { tryParseDuration } from './duration.js';
import type { CompiledLimitRule, LimitMetric } from './limit-rule.js';
import { PolicyLoadError, type PolicyProblem } from './load-error.js';
import { compileStringSet, isExactList } from './matchers.js';
import { compileMessage } from './message.js';
import { compilePolicyRegex } from './regex.js';
import {
  policyFileSchema,
  readsCallContent,
  redactionSources,
  type PolicyDefaults,
  type PolicyFileDoc,
  type RuleDoc,
  type ScopeDoc,
} from './schema.js';
import type { CompiledPolicySet, CompiledRule, RuleIndex } from './types.js';

/** One parsed policy document and where it came from. */
export interface PolicyInput {
  file: string;
  doc: unknown;
}

const DEFAULTS: PolicyDefaults = { decision: 'allow', block_threshold: 0.8 };

const DEFAULT_MESSAGES: Record<string, string> = {
  block: 'Request blocked by policy {{rule}}',
  redact: 'Sensitive content redacted by policy {{rule}}',
  score: 'Risk added by policy {{rule}}',
  allow: 'Allowed by policy {{rule}}',
};

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out;
}

function rawRuleId(doc: unknown, index: number): string | null {
  if (!isRecord(doc) || !Array.isArray(doc.rules)) return null;
  const rule: unknown = doc.rules[index];
  return isRecord(rule) && typeof rule.id === 'string' ? rule.id : null;
}

function issueProblems(file: string, doc: unknown, issues: readonly z.core.$ZodIssue[]): PolicyProblem[] {
  return issues.map((issue) => {
    const path = issue.path;
    const ruleId = path[0] === 'rules' && typeof path[1] === 'number' ? rawRuleId(doc, path[1]) : null;
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') message = `unknown field(s): ${issue.keys.join(', ')}`;
    return { file, ruleId, path: formatPath(path), message };
  });
}

/** Zod findings plus the cross-file checks zod cannot see (duplicate ids, several `defaults`). */
export function validatePolicyInputs(inputs: readonly PolicyInput[]): {
  problems: PolicyProblem[];
  files: { file: string; doc: PolicyFileDoc }[];
} {
  const problems: PolicyProblem[] = [];
  const files: { file: string; doc: PolicyFileDoc }[] = [];
  const seen = new Map<string, string>();
  let defaultsFile: string | null = null;
  for (const { file, doc } of inputs) {
    const parsed = policyFileSchema.safeParse(doc);
    if (!parsed.success) problems.push(...issueProblems(file, doc, parsed.error.issues));
    else files.push({ file, doc: parsed.data });
    if (isRecord(doc) && Array.isArray(doc.rules)) {
      doc.rules.forEach((_, i) => {
        const id = rawRuleId(doc, i);
        if (id === null) return;
        const where = `${file} rules[${i}]`;
        const first = seen.get(id.toLowerCase());
        if (first !== undefined) {
          problems.push({
            file,
            ruleId: id,
            path: `rules[${i}].id`,
            message: `duplicate rule id (first defined in ${first})`,
          });
        } else {
          seen.set(id.toLowerCase(), where);
        }
      });
    }
    if (isRecord(doc) && doc.defaults !== undefined) {
      if (defaultsFile !== null) {
        problems.push({
          file,
          ruleId: null,
          path: 'defaults',
          message: `"defaults" may appear in one file only (already set in ${defaultsFile})`,
        });
      } else {
        defaultsFile = file;
      }
    }
  }
  return { problems, files };
}

function compileScope(scope: ScopeDoc | undefined): Predicate {
  if (scope === undefined) return () => true;
  const tests: Predicate[] = [];
  if (scope.keys !== undefined) {
    const t = compileStringSet(scope.keys);
    tests.push((ctx) => t(ctx.keyId));
  }
  if (scope.teams !== undefined) {
    const t = compileStringSet(scope.teams);
    tests.push((ctx) => t(ctx.team));
  }
  if (scope.owners !== undefined) {
    const t = compileStringSet(scope.owners);
    tests.push((ctx) => t(ctx.owner));
  }
  if (scope.tags !== undefined) {
    const t = compileStringSet(scope.tags);
    tests.push((ctx) => ctx.tags.some((tag) => t(tag)));
  }
  if (scope.providers !== undefined) {
    const t = compileStringSet(scope.providers);
    tests.push((ctx) => t(ctx.provider));
  }
  if (scope.routes !== undefined) {
    const t = compileStringSet(scope.routes);
    tests.push((ctx) => t(ctx.route));
  }
  if (scope.models !== undefined) {
    const t = compileStringSet(scope.models);
    tests.push((ctx) => t(ctx.model));
  }
  if (tests.length === 1 && tests[0] !== undefined) return tests[0];
  return (ctx) => tests.every((t) => t(ctx));
}

function compileRedaction(rule: RuleDoc): CompiledRule['redaction'] {
  if (rule.action !== 'redact') return null;
  const sources = redactionSources(rule.when);
  const patterns: RegExp[] = [];
  for (const p of sources.patterns) {
    const re = compilePolicyRegex(p, 'g');
    if (typeof re !== 'string') patterns.push(re);
  }
  return {
    detectors: sources.detectors.map(getDetector).filter((d): d is Detector => d !== undefined),
    patterns,
    replacement: rule.redact_with ?? '[REDACTED:{{type}}]',
  };
}

function compileRule(rule: RuleDoc, index: number, source: string): CompiledRule {
  const action = rule.action ?? 'allow';
  return {
    id: rule.id,
    index,
    description: rule.description ?? null,
    action,
    risk: rule.risk ?? 0,
    mode: rule.mode,
    phase: rule.on,
    source,
    matchesScope: compileScope(rule.scope),
    matchesWhen: rule.when === undefined ? () => true : compileCondition(rule.when),
    message: compileMessage(rule.message ?? DEFAULT_MESSAGES[action] ?? '{{rule}}', rule.id),
    redaction: compileRedaction(rule),
    readsCallContent: readsCallContent(rule.when),
  };
}

function compileLimit(rule: RuleDoc): CompiledLimitRule | null {
  const limit = rule.limit;
  if (limit === undefined) return null;
  const window = tryParseDuration(limit.per);
  if (typeof window === 'string') return null;
  let metric: LimitMetric = 'requests';
  let amount = limit.requests ?? 0;
  if (limit.tokens !== undefined) {
    metric = 'tokens';
    amount = limit.tokens;
  } else if (limit.cost_usd !== undefined) {
    metric = 'cost_usd';
    amount = limit.cost_usd;
  }
  const scope = compileScope(rule.scope);
  const when = rule.when === undefined ? null : compileCondition(rule.when);
  return {
    id: rule.id,
    description: rule.description ?? null,
    metric,
    amount,
    window,
    by: limit.by,
    mode: rule.mode,
    failMode: rule.fail_mode,
    ...(limit.counting === undefined ? {} : { counting: limit.counting }),
    ...(limit.lease === undefined ? {} : { lease: limit.lease }),
    appliesTo(req: NormalizedRequest, key: KeyIdentity): boolean {
      const ctx = new EvalContext(req, key);
      return scope(ctx) && (when === null || when(ctx));
    },
  };
}

function push(map: Map<string, CompiledRule[]>, keys: readonly string[], rule: CompiledRule): void {
  for (const k of new Set(keys)) {
    const list = map.get(k);
    if (list === undefined) map.set(k, [rule]);
    else list.push(rule);
  }
}

/**
 * Buckets each rule under the most selective exact scope dimension it has, so a request only
 * looks at rules whose scope can match it. Glob scopes and unscoped rules are always candidates.
 */
export function buildIndex(
  rules: readonly CompiledRule[],
  scopes: readonly (ScopeDoc | undefined)[],
): RuleIndex {
  const byKey = new Map<string, CompiledRule[]>();
  const byTeam = new Map<string, CompiledRule[]>();
  const byOwner = new Map<string, CompiledRule[]>();
  const byProvider = new Map<string, CompiledRule[]>();
  const always: CompiledRule[] = [];
  rules.forEach((rule, i) => {
    const s = scopes[i];
    if (s?.keys !== undefined && isExactList(s.keys)) push(byKey, s.keys, rule);
    else if (s?.teams !== undefined && isExactList(s.teams)) push(byTeam, s.teams, rule);
    else if (s?.owners !== undefined && isExactList(s.owners)) push(byOwner, s.owners, rule);
    else if (s?.providers !== undefined && isExactList(s.providers)) push(byProvider, s.providers, rule);
    else always.push(rule);
  });
  return { byKey, byTeam, byOwner, byProvider, always };
}

function hashInputs(inputs: readonly PolicyInput[]): string {
  const h = createHash('sha256');
  for (const i of [...inputs].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0))) {
    h.update(i.file)
      .update('\0')
      .update(JSON.stringify(i.doc) ?? '')
      .update('\0');
  }
  return h.digest('hex').slice(0, 12);
}

/**
 * Validates and compiles parsed policy documents into closures. Throws PolicyLoadError listing
 * every problem found. `version` defaults to a hash of the documents (loadPolicies passes the
 * hash of the file bytes instead).
 */
export function compilePolicies(inputs: readonly PolicyInput[], version?: string): CompiledPolicySet {
  const { problems, files } = validatePolicyInputs(inputs);
  if (problems.length > 0) throw new PolicyLoadError(problems);
  let defaults = DEFAULTS;
  const request: CompiledRule[] = [];
  const requestScopes: (ScopeDoc | undefined)[] = [];
  const response: CompiledRule[] = [];
  const responseScopes: (ScopeDoc | undefined)[] = [];
  const limitRules: CompiledLimitRule[] = [];
  const toolCall: CompiledRule[] = [];
  const toolCallScopes: (ScopeDoc | undefined)[] = [];
  const toolResult: CompiledRule[] = [];
  const toolResultScopes: (ScopeDoc | undefined)[] = [];
  const toolLimitRules: CompiledLimitRule[] = [];
  let index = 0;
  let ruleCount = 0;
  for (const { file, doc } of files) {
    if (doc.defaults !== undefined) defaults = doc.defaults;
    for (const rule of doc.rules) {
      ruleCount++;
      if (rule.limit !== undefined) {
        const lr = compileLimit(rule);
        if (lr !== null) (rule.on === 'tool_call' ? toolLimitRules : limitRules).push(lr);
        continue;
      }
      const compiled = compileRule(rule, index++, file);
      if (compiled.phase === 'tool_call') {
        toolCall.push(compiled);
        toolCallScopes.push(rule.scope);
      } else if (compiled.phase === 'tool_result') {
        toolResult.push(compiled);
        toolResultScopes.push(rule.scope);
      } else if (compiled.phase === 'response') {
        response.push(compiled);
        responseScopes.push(rule.scope);
      } else {
        request.push(compiled);
        requestScopes.push(rule.scope);
      }
    }
  }
  return {
    version: version ?? hashInputs(inputs),
    defaults: { ...defaults },
    rules: request,
    responseRules: response,
    limitRules,
    toolCallRules: toolCall,
    toolResultRules: toolResult,
    toolLimitRules,
    toolCallIndex: buildIndex(toolCall, toolCallScopes),
    toolResultIndex: buildIndex(toolResult, toolResultScopes),
    ruleCount,
    sources: inputs.map((i) => i.file),
    requestIndex: buildIndex(request, requestScopes),
    responseIndex: buildIndex(response, responseScopes),
  };
}
