/**
 * The one place a governance decision is made. The proxy, /v1/check and the admin dry run (and
 * every later caller) ask these functions; none of them combines model access, policy evaluation
 * or refusal messages on its own. Pure: no I/O, no clock, no framework.
 */
import type { KeyIdentity } from '../auth/identity.js';
import { keyAllowsModel } from '../auth/model-access.js';
import { AigovError } from '../errors.js';
import { evaluate, type CompiledPolicySet, type Decision, type RuleAction } from '../policy/index.js';
import type { NormalizedRequest, TextSlot } from '../providers/types.js';

/** A reason as callers show it: the rule, what it does, and its rendered message. */
export interface ReasonView {
  policy: string;
  action: RuleAction;
  message: string;
}

/** Pseudo rule id for a key whose model allow-list excludes the requested model. */
export const MODEL_NOT_ALLOWED = 'model_not_allowed';

export interface RequestDecision {
  decision: 'allow' | 'block' | 'redact';
  allowed: boolean;
  riskScore: number;
  /** The key's model allow-list admits the request's model. */
  modelAllowed: boolean;
  /** Enforced reasons, the model allow-list's first when it refused. */
  reasons: ReasonView[];
  /** Monitor-mode matches: reported, never change the outcome. */
  monitor: ReasonView[];
  /** Every rule that matched (model_not_allowed first when it refused), for audit and headers. */
  ruleIds: string[];
  /** The refusal to answer with, when not allowed. */
  refusal: AigovError | null;
  /** The policy engine's own result (redactions, redacted prompt). */
  policy: Decision;
}

/** A policy reason as callers show it (without its mode). */
export function reasonView(r: { policy: string; action: RuleAction; message: string }): ReasonView {
  return { policy: r.policy, action: r.action, message: r.message };
}

export function modelRefusalMessage(model: string | null): string {
  return `This key may not use model ${model ?? '(none)'}`;
}

/** Request phase: the key's model allow-list, then the request rules of the set. */
export function decideRequest(
  set: CompiledPolicySet,
  norm: NormalizedRequest,
  key: KeyIdentity,
): RequestDecision {
  const policy = evaluate(set, norm, key);
  const modelAllowed = keyAllowsModel(key, norm.model);
  const reasons = policy.reasons.map(reasonView);
  const ruleIds = policy.matchedPolicyIds.slice();
  let refusal: AigovError | null = null;
  if (!modelAllowed) {
    const message = modelRefusalMessage(norm.model);
    reasons.unshift({ policy: MODEL_NOT_ALLOWED, action: 'block', message });
    ruleIds.unshift(MODEL_NOT_ALLOWED);
    refusal = new AigovError('model_not_allowed', { message, providerCode: MODEL_NOT_ALLOWED });
  } else if (!policy.allowed) {
    refusal = policyRefusal(policy, 'Request blocked by policy');
  }
  return {
    decision: modelAllowed ? policy.decision : 'block',
    allowed: refusal === null,
    riskScore: policy.riskScore,
    modelAllowed,
    reasons,
    monitor: policy.monitor.map(reasonView),
    ruleIds,
    refusal,
    policy,
  };
}

export interface ResponseDecision {
  /** The policy engine's result over the response text. */
  policy: Decision;
  /** Block: the error that replaces the answer (or ends the stream). */
  refusal: AigovError | null;
}

/**
 * Response phase over output text. `stream: true` means text already sent cannot be unsent, so a
 * matching redact rule ends the stream like a block.
 */
export function decideResponse(
  set: CompiledPolicySet,
  norm: NormalizedRequest,
  key: KeyIdentity,
  texts: TextSlot[],
  stream = false,
): ResponseDecision {
  const prompt = texts.length === 1 ? texts[0]!.text : texts.map((t) => t.text).join('\n');
  const policy = evaluate(set, { ...norm, texts, prompt }, key, 'response');
  if (!policy.allowed) return { policy, refusal: policyRefusal(policy, 'Response blocked by policy') };
  if (stream && policy.decision === 'redact') {
    const ruleId = policy.reasons[0]?.policy ?? 'policy_blocked';
    return {
      policy,
      refusal: new AigovError('policy_blocked', {
        providerCode: ruleId,
        message: policy.reasons[0]?.message || `Response stream ended by policy ${ruleId}`,
      }),
    };
  }
  return { policy, refusal: null };
}

/** Output rules exist at all (callers skip reading response text otherwise). */
export function hasResponseRules(set: CompiledPolicySet): boolean {
  return set.responseRules.length > 0;
}

function policyRefusal(policy: Decision, fallback: string): AigovError {
  const reason = policy.reasons.find((r) => r.policy === policy.blockedBy) ?? policy.reasons[0];
  return new AigovError('policy_blocked', {
    providerCode: policy.blockedBy ?? 'policy_blocked',
    message: reason?.message || (policy.blockedBy ? `${fallback} ${policy.blockedBy}` : fallback),
  });
}
