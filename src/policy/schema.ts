import { z } from 'zod';
import { detectorNames } from './detectors/index.js';
import { tryParseDuration } from './duration.js';
import { unknownPlaceholders } from './message.js';
import { compilePolicyRegex } from './regex.js';

/** `x` or `[x, y]` -> a non-empty list. */
const stringList = z.preprocess(
  (v) => (typeof v === 'string' ? [v] : v),
  z.array(z.string().min(1, 'must not be empty')).min(1, 'list must not be empty'),
);

/** `glob`, `[globs]` or `{ in: [...], not_in: [...] }`. */
const setMatcher = z.preprocess(
  (v) => (typeof v === 'string' || Array.isArray(v) ? { in: v } : v),
  z
    .strictObject({ in: stringList.optional(), not_in: stringList.optional() })
    .refine((o) => o.in !== undefined || o.not_in !== undefined, 'needs "in" or "not_in"'),
);
export type SetMatcherDoc = z.infer<typeof setMatcher>;

const comparisonShape = {
  gt: z.number().optional(),
  gte: z.number().optional(),
  lt: z.number().optional(),
  lte: z.number().optional(),
};
const comparison = z
  .strictObject(comparisonShape)
  .refine((o) => Object.values(o).some((v) => v !== undefined), 'needs at least one of gt, gte, lt, lte');
export type ComparisonDoc = z.infer<typeof comparison>;

const maxTokens = z
  .strictObject({ ...comparisonShape, missing: z.boolean().optional() })
  .refine(
    (o) => Object.values(o).some((v) => v !== undefined),
    'needs at least one of gt, gte, lt, lte, missing',
  );
export type MaxTokensDoc = z.infer<typeof maxTokens>;

const regexString = z
  .string()
  .min(1)
  .superRefine((pattern, ctx) => {
    const compiled = compilePolicyRegex(pattern);
    if (typeof compiled === 'string') ctx.addIssue({ code: 'custom', message: compiled });
  });

const prompt = z
  .strictObject({
    contains: stringList.optional(),
    matches: regexString.optional(),
    length: comparison.optional(),
  })
  .refine(
    (o) => o.contains !== undefined || o.matches !== undefined || o.length !== undefined,
    'needs at least one of contains, matches, length',
  );
export type PromptDoc = z.infer<typeof prompt>;

const detectList = stringList.superRefine((names, ctx) => {
  names.forEach((name, i) => {
    if (!detectorNames.includes(name)) {
      ctx.addIssue({
        code: 'custom',
        path: [i],
        message: `unknown detector "${name}" (known: ${detectorNames.join(', ')})`,
      });
    }
  });
});

/** `arguments` (tool_call) and `result` (tool_result): the prompt leaves plus detect, over those strings. */
const toolText = z
  .strictObject({
    contains: stringList.optional(),
    matches: regexString.optional(),
    length: comparison.optional(),
    detect: detectList.optional(),
  })
  .refine(
    (o) => Object.values(o).some((v) => v !== undefined),
    'needs at least one of contains, matches, length, detect',
  );
export type ToolTextDoc = z.infer<typeof toolText>;

const metadataMatcher = z.preprocess(
  (v) => (typeof v === 'string' ? { equals: v } : v),
  z
    .strictObject({
      equals: z.string().optional(),
      in: stringList.optional(),
      not_in: stringList.optional(),
      matches: regexString.optional(),
    })
    .refine(
      (o) => Object.values(o).some((v) => v !== undefined),
      'needs a string, or one of equals, in, not_in, matches',
    ),
);
export type MetadataMatcherDoc = z.infer<typeof metadataMatcher>;

const keyCondition = z
  .strictObject({
    id: setMatcher.optional(),
    name: setMatcher.optional(),
    team: setMatcher.optional(),
    owner: setMatcher.optional(),
    tags: setMatcher.optional(),
  })
  .refine((o) => Object.values(o).some((v) => v !== undefined), 'needs one of id, name, team, owner, tags');
export type KeyConditionDoc = z.infer<typeof keyCondition>;

export interface ConditionDoc {
  all?: ConditionDoc[] | undefined;
  any?: ConditionDoc[] | undefined;
  not?: ConditionDoc | undefined;
  model?: SetMatcherDoc | undefined;
  provider?: SetMatcherDoc | undefined;
  route?: SetMatcherDoc | undefined;
  max_tokens?: MaxTokensDoc | undefined;
  prompt?: PromptDoc | undefined;
  detect?: string[] | undefined;
  metadata?: Record<string, MetadataMatcherDoc> | undefined;
  key?: KeyConditionDoc | undefined;
  stream?: boolean | undefined;
  server?: SetMatcherDoc | undefined;
  tool?: SetMatcherDoc | undefined;
  arguments?: ToolTextDoc | undefined;
  result?: ToolTextDoc | undefined;
}

export const conditionSchema: z.ZodType<ConditionDoc> = z.lazy(() =>
  z
    .strictObject({
      all: z.array(conditionSchema).min(1).optional(),
      any: z.array(conditionSchema).min(1).optional(),
      not: conditionSchema.optional(),
      model: setMatcher.optional(),
      provider: setMatcher.optional(),
      route: setMatcher.optional(),
      max_tokens: maxTokens.optional(),
      prompt: prompt.optional(),
      detect: detectList.optional(),
      metadata: z.record(z.string(), metadataMatcher).optional(),
      key: keyCondition.optional(),
      stream: z.boolean().optional(),
      server: setMatcher.optional(),
      tool: setMatcher.optional(),
      arguments: toolText.optional(),
      result: toolText.optional(),
    })
    .refine((o) => Object.values(o).some((v) => v !== undefined), 'a condition needs at least one key'),
);

const scope = z.strictObject({
  keys: stringList.optional(),
  teams: stringList.optional(),
  owners: stringList.optional(),
  tags: stringList.optional(),
  providers: stringList.optional(),
  routes: stringList.optional(),
  models: stringList.optional(),
});
export type ScopeDoc = z.infer<typeof scope>;

const limit = z
  .strictObject({
    requests: z.number().int().positive().optional(),
    tokens: z.number().int().positive().optional(),
    cost_usd: z.number().positive().optional(),
    per: z.union([z.string(), z.number()]),
    by: z.enum(['key', 'team', 'owner', 'global']).default('key'),
    /** Not `mode`: a rule's `mode` already means enforce / monitor. */
    counting: z.enum(['exact', 'lease']).optional(),
    lease: z.number().positive().optional(),
  })
  .superRefine((o, ctx) => {
    const metrics = [o.requests, o.tokens, o.cost_usd].filter((v) => v !== undefined).length;
    if (metrics !== 1) {
      ctx.addIssue({ code: 'custom', message: 'needs exactly one of requests, tokens, cost_usd' });
    }
    if (o.lease !== undefined && o.counting !== 'lease') {
      ctx.addIssue({ code: 'custom', path: ['lease'], message: '"lease" only applies to counting: lease' });
    }
    const amount = o.requests ?? o.tokens ?? o.cost_usd;
    if (o.lease !== undefined && amount !== undefined && o.lease > amount) {
      ctx.addIssue({ code: 'custom', path: ['lease'], message: 'a lease cannot be larger than the limit' });
    }
    const window = tryParseDuration(o.per);
    if (typeof window === 'string') ctx.addIssue({ code: 'custom', path: ['per'], message: window });
  });

export const RULE_ID_RE = /^[a-z0-9][a-z0-9_.-]*$/i;

export const TOOL_PHASES = ['tool_call', 'tool_result'] as const;

/** Condition keys that only make sense in some phases, and the phases they are allowed in. */
const LEAF_PHASES: Partial<Record<keyof ConditionDoc, readonly string[]>> = {
  model: ['request', 'response'],
  provider: ['request', 'response'],
  max_tokens: ['request', 'response'],
  stream: ['request', 'response'],
  server: TOOL_PHASES,
  tool: TOOL_PHASES,
  arguments: ['tool_call'],
  result: ['tool_result'],
};

/** Leaves a condition uses that its rule's phase never sets (they could never match as written). */
export function misplacedLeaves(when: ConditionDoc | undefined, phase: string): string[] {
  const bad: string[] = [];
  const walk = (c: ConditionDoc | undefined): void => {
    if (c === undefined) return;
    for (const [leaf, phases] of Object.entries(LEAF_PHASES)) {
      if (c[leaf as keyof ConditionDoc] !== undefined && !phases.includes(phase) && !bad.includes(leaf))
        bad.push(leaf);
    }
    c.all?.forEach(walk);
    c.any?.forEach(walk);
    walk(c.not);
  };
  walk(when);
  return bad;
}

/** Whether a condition reads the call's arguments or metadata (unknown when listing tools). */
export function readsCallContent(when: ConditionDoc | undefined): boolean {
  if (when === undefined) return false;
  if (
    when.arguments !== undefined ||
    when.detect !== undefined ||
    when.prompt !== undefined ||
    when.metadata !== undefined
  )
    return true;
  return [...(when.all ?? []), ...(when.any ?? []), ...(when.not ? [when.not] : [])].some(readsCallContent);
}

/** Detector names and regexes a redact rule can rewrite: those not under a `not`. */
export function redactionSources(when: ConditionDoc | undefined): {
  detectors: string[];
  patterns: string[];
} {
  const out = { detectors: [] as string[], patterns: [] as string[] };
  const walk = (c: ConditionDoc | undefined): void => {
    if (c === undefined) return;
    for (const d of [...(c.detect ?? []), ...(c.arguments?.detect ?? []), ...(c.result?.detect ?? [])])
      if (!out.detectors.includes(d)) out.detectors.push(d);
    for (const m of [c.prompt?.matches, c.arguments?.matches, c.result?.matches])
      if (m !== undefined) out.patterns.push(m);
    c.all?.forEach(walk);
    c.any?.forEach(walk);
  };
  walk(when);
  return out;
}

export const ruleSchema = z
  .strictObject({
    id: z.string().regex(RULE_ID_RE, 'rule id must match /^[a-z0-9][a-z0-9_.-]*$/i'),
    description: z.string().optional(),
    scope: scope.optional(),
    when: conditionSchema.optional(),
    action: z.enum(['block', 'redact', 'score', 'allow', 'require_approval']).optional(),
    risk: z.number().min(0).max(1).optional(),
    message: z.string().optional(),
    mode: z.enum(['enforce', 'monitor']).default('enforce'),
    on: z.enum(['request', 'response', 'tool_call', 'tool_result']).default('request'),
    redact_with: z.string().optional(),
    limit: limit.optional(),
    fail_mode: z.enum(['open', 'closed']).optional(),
  })
  .superRefine((r, ctx) => {
    const issue = (path: string, message: string): void =>
      ctx.addIssue({ code: 'custom', path: path === '' ? [] : [path], message });
    if ((r.action === undefined) === (r.limit === undefined)) {
      issue('', 'a rule needs exactly one of "action" or "limit"');
    }
    if (r.action === 'score' && r.risk === undefined) issue('risk', 'score rules need "risk" (0..1)');
    if (r.risk !== undefined && r.action !== 'score') issue('risk', '"risk" only applies to action: score');
    if (r.redact_with !== undefined && r.action !== 'redact') {
      issue('redact_with', '"redact_with" only applies to action: redact');
    }
    if (r.limit !== undefined && (r.on === 'response' || r.on === 'tool_result'))
      issue('on', 'limit rules apply to requests and tool calls only');
    if (r.limit !== undefined && r.on === 'tool_call' && r.limit.requests === undefined)
      issue('limit', 'tool_call limits count calls: use "requests"');
    if (r.action === 'require_approval' && r.on !== 'tool_call')
      issue('action', 'require_approval applies to rules with on: tool_call only');
    for (const leaf of misplacedLeaves(r.when, r.on))
      issue('when', `"${leaf}" does not apply to rules with on: ${r.on}`);
    if (r.fail_mode !== undefined && r.limit === undefined)
      issue('fail_mode', '"fail_mode" only applies to limit rules');
    if (r.message !== undefined) {
      for (const name of unknownPlaceholders(r.message)) {
        issue(
          'message',
          `unknown placeholder {{${name}}} (known: model, provider, route, team, owner, key_id, rule, server, tool)`,
        );
      }
    }
    if (r.action === 'redact') {
      const sources = redactionSources(r.when);
      if (sources.detectors.length === 0 && sources.patterns.length === 0) {
        issue('when', 'redact rules need "detect" or "prompt.matches" in "when" (what to redact)');
      }
    }
  });
export type RuleDoc = z.infer<typeof ruleSchema>;

export const defaultsSchema = z.strictObject({
  decision: z.enum(['allow', 'block']).default('allow'),
  block_threshold: z.number().min(0).max(1).default(0.8),
});
export type PolicyDefaults = z.infer<typeof defaultsSchema>;

export const policyFileSchema = z.strictObject({
  version: z.literal(1, 'version must be 1'),
  defaults: defaultsSchema.optional(),
  rules: z.array(ruleSchema).default([]),
});
export type PolicyFileDoc = z.infer<typeof policyFileSchema>;
