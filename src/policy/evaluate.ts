import type { KeyIdentity } from '../auth/identity.js';
import type { NormalizedRequest } from '../providers/types.js';
import { EvalContext } from './context.js';
import { computeRedactions } from './redact.js';
import type { CompiledPolicySet, CompiledRule, Decision, DecisionReason, Phase, RuleIndex } from './types.js';

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

function reasonOf(rule: CompiledRule, ctx: EvalContext): DecisionReason {
  return { policy: rule.id, action: rule.action, message: rule.message(ctx), mode: rule.mode };
}

/**
 * Decides one request (or, with phase 'response', one response's text). Pure and total: malformed
 * input is read defensively by EvalContext rather than caught, so bugs still surface in tests.
 */
export function evaluate(
  set: CompiledPolicySet,
  req: NormalizedRequest,
  key: KeyIdentity,
  phase: Phase = 'request',
): Decision {
  const ctx = new EvalContext(req, key);
  const isResponse = phase === 'response';
  const matched: CompiledRule[] = [];
  collectMatches(isResponse ? set.responseIndex : set.requestIndex, ctx, matched);

  const reasons: DecisionReason[] = [];
  const monitor: DecisionReason[] = [];
  const matchedPolicyIds: string[] = [];
  // Summed in millionths: 0.1 + 0.7 must reach a 0.8 threshold (as floats it is 0.7999999999999999).
  let riskMicros = 0;
  let scored = false;
  let firstBlock: string | null = null;
  let allowed = false;
  let redactRules: CompiledRule[] | null = null;
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
    }
  }
  const riskScore = Math.min(1, riskMicros / MICROS);
  let blockedBy = firstBlock;
  if (blockedBy === null && scored && riskMicros >= toMicros(set.defaults.block_threshold))
    blockedBy = 'risk_threshold';
  // Allow-list mode covers requests only: a response has already been paid for and produced.
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
