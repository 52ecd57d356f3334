import { AigovError } from '../errors.js';
import { decideRequest, normalizeFor, resolveForProxy } from '../governance/index.js';
import type { EstimateOverride } from '../limits/limiter.js';
import type { Call, DecidedCall, ProxyDeps } from './call.js';

/** What an input stage learnt that the body alone does not say (a batch file's model and size). */
export interface PolicyAdjust {
  /** The model policies and the allow-list judge, when the body names none (batches, batch files). */
  model?: string | null;
  /** Replaces the limiter's per-request estimate (a batch reserves all its lines at once). */
  estimate?: EstimateOverride;
}

/**
 * Request policy: resolve the provider, normalise, decide (model access + rules) through the
 * governance core, then reserve limits. Throws the refusal; fills the audit row as it goes.
 */
export async function requestPolicyStage(
  call: Call,
  deps: Pick<ProxyDeps, 'providers' | 'audit' | 'limiter'>,
  providerName: string | null,
  adjust: PolicyAdjust = {},
): Promise<DecidedCall> {
  const key = call.key!;
  const provider = resolveForProxy(deps.providers, call.family, providerName, call.request.body, call.path);
  call.provider = provider;
  call.row.provider = provider.name;
  const normalized = normalizeFor({ provider, route: call.spec.path, path: call.path }, call.request.body);
  const norm = adjust.model !== undefined ? { ...normalized, model: adjust.model } : normalized;
  call.norm = norm;
  call.row.model = norm.model;
  call.row.stream = norm.stream;

  const decision = decideRequest(call.policySet, norm, key);
  call.decision = decision;
  const { row } = call;
  row.decision = decision.decision;
  row.policyIds = decision.ruleIds.slice(); // later stages append limit and output rules
  row.riskScore = decision.riskScore;
  row.reasons =
    decision.reasons.length || decision.monitor.length ? [...decision.reasons, ...decision.monitor] : null;
  if (decision.refusal) throw decision.refusal;

  if (!deps.audit.accepting()) throw new AigovError('audit_unavailable');
  const limits = await deps.limiter.reserve(call.policySet.limitRules, norm, key, adjust.estimate);
  row.degraded = limits.degraded;
  for (const id of limits.monitorMatches) if (!row.policyIds.includes(id)) row.policyIds.push(id);
  for (const [name, value] of Object.entries(limits.headers)) call.reply.header(name, value);
  if (!limits.allowed) {
    row.decision = 'block';
    if (!row.policyIds.includes(limits.rule.id)) row.policyIds.push(limits.rule.id);
    throw limits.error;
  }
  call.reservation = limits.reservation;
  return call as DecidedCall;
}
