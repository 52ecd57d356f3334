import type { KeyIdentity } from '../auth/identity.js';
import type { NormalizedRequest } from '../providers/types.js';
import { EvalContext } from './context.js';
import { computeRedactions } from './redact.js';
import type {
  CompiledPolicySet,
  CompiledRule,
  Decision,
  DecisionReason,
  Phase,
  RuleIndex,
  ToolFacts,
} from './types.js';

const NONE: readonly CompiledRule[] = [];

function bucket(
  map: ReadonlyMap<string, readonly CompiledRule[]>,
  key: string | null,
): readonly CompiledRule[] {
  return key === null ? NONE : (map.get(key) ?? NONE);
}

function collectMatches(index: RuleIndex, ctx: EvalContext, out: CompiledRule[]): void {
  const lists = [
    index.always,
    bucket(index.byKey, ctx.keyId),
    bucket(index.byTeam, ctx.team),
    bucket(index.byOwner, ctx.owner),
    bucket(index.byProvider, ctx.provider),
  ];
  for (const list of lists) {
    for (const rule of list) {
      if (rule.matchesScope(ctx) && rule.matchesWhen(ctx)) out.push(rule);
    }
  }
  // Buckets are visited out of file order; decisions (first blocking rule, reason order) use file order.
  if (out.length > 1) out.sort((a, b) => a.index - b.index);
}

const MICROS = 1_000_000;

function toMicros(risk: number): number {
  return Math.round(risk * MICROS);
}

function indexFor(set: CompiledPolicySet, phase: Phase): RuleIndex {
  switch (phase) {
    case 'request':
      return set.requestIndex;
    case 'response':
      return set.responseIndex;
    case 'tool_call':
      return set.toolCallIndex;
    case 'tool_result':
      return set.toolResultIndex;
  }
}

function reasonOf(rule: CompiledRule, ctx: EvalContext): DecisionReason {
  return { policy: rule.id, action: rule.action, message: rule.message(ctx), mode: rule.mode };
}

/**
 * Decides one request (or, with phase 'response', one response's text). Pure and total: malformed
 * input is read defensively by EvalContext rather than caught, so bugs still surface in tests.
 */
export function evaluate(
  set: CompiledPolicySet,
  req: NormalizedRequest | ToolFacts,
  key: KeyIdentity,
  phase: Phase = 'request',
): Decision {
  const ctx = new EvalContext(req, key);
  const isResponse = phase !== 'request';
  const matched: CompiledRule[] = [];
  collectMatches(indexFor(set, phase), ctx, matched);

  const reasons: DecisionReason[] = [];
  const monitor: DecisionReason[] = [];
  const matchedPolicyIds: string[] = [];
  // Summed in millionths: 0.1 + 0.7 must reach a 0.8 threshold (as floats it is 0.7999999999999999).
  let riskMicros = 0;
  let scored = false;
  let firstBlock: string | null = null;
  let allowed = false;
  let redactRules: CompiledRule[] | null = null;
  let approvalRules: string[] | null = null;
  for (const rule of matched) {
    matchedPolicyIds.push(rule.id);
    if (rule.mode === 'monitor') {
      monitor.push(reasonOf(rule, ctx));
      continue;
    }
    reasons.push(reasonOf(rule, ctx));
    switch (rule.action) {
      case 'block':
        firstBlock ??= rule.id;
        break;
      case 'score':
        riskMicros += toMicros(rule.risk);
        scored = true;
        break;
      case 'allow':
        allowed = true;
        break;
      case 'redact':
        (redactRules ??= []).push(rule);
        break;
      case 'require_approval':
        (approvalRules ??= []).push(rule.id);
        break;
    }
  }
  const riskScore = Math.min(1, riskMicros / MICROS);
  let blockedBy = firstBlock;
  if (blockedBy === null && scored && riskMicros >= toMicros(set.defaults.block_threshold))
    blockedBy = 'risk_threshold';
  // Allow-list mode covers LLM requests only: a response has already been paid for and produced,
  // and tool allow-lists are written as tool rules (docs/mcp.md).
  if (blockedBy === null && !isResponse && set.defaults.decision === 'block' && !allowed) {
    blockedBy = 'default_deny';
  }

  const decision: Decision = {
    decision: 'allow',
    allowed: true,
    riskScore,
    reasons,
    monitor,
    matchedPolicyIds,
    blockedBy,
    redactions: [],
    ...(approvalRules !== null ? { approvalRequiredBy: approvalRules } : {}),
  };
  if (blockedBy !== null) {
    decision.decision = 'block';
    decision.allowed = false;
  } else if (redactRules !== null) {
    const { redactions, redactedPrompt } = computeRedactions(ctx, redactRules);
    decision.decision = 'redact';
    decision.redactions = redactions;
    decision.redactedPrompt = redactedPrompt;
  }
  return decision;
}
