import { basename } from 'node:path';
import { AigovError } from '../errors.js';
import type { KeyIdentity } from '../auth/identity.js';
import { identityOf } from '../auth/key-store.js';
import { assess, assessToolCall, toolCallAnswer, toolLimitSubject } from '../governance/index.js';
import { compilePolicySources, PolicyLoadError, type CompiledPolicySet } from '../policy/index.js';
import type { Services } from '../services.js';
import type { DryRunBody } from './schemas.js';

/** The active set as an operator wants to see it: version, files, rules, reload status. */
export function policySummary(services: Services): Record<string, unknown> {
  const set = services.policies.current();
  const status = services.policies.getStatus();
  return {
    version: set.version,
    path: services.config.policies.path,
    files: set.sources.map((f) => basename(f)),
    defaults: set.defaults,
    rule_count: set.ruleCount,
    rules: [...set.rules, ...set.responseRules, ...set.toolCallRules, ...set.toolResultRules]
      .sort((a, b) => a.index - b.index)
      .map((r) => ({
        id: r.id,
        description: r.description,
        action: r.action,
        mode: r.mode,
        phase: r.phase,
        risk: r.risk,
        file: basename(r.source),
      })),
    limits: [...set.limitRules, ...set.toolLimitRules].map((l) => ({
      id: l.id,
      description: l.description,
      metric: l.metric,
      amount: l.amount,
      per: l.window.label,
      by: l.by,
      mode: l.mode,
    })),
    status: {
      loaded_at: status.loadedAt.toISOString(),
      reloads: status.reloads,
      failed_reloads: status.failedReloads,
      last_error: status.lastError,
      last_error_at: status.lastErrorAt ? status.lastErrorAt.toISOString() : null,
    },
  };
}

function compileProposed(yaml: string): CompiledPolicySet {
  try {
    return compilePolicySources([{ file: 'proposed.yaml', text: yaml }]);
  } catch (err) {
    if (err instanceof PolicyLoadError)
      throw new AigovError('invalid_request', {
        message: `The proposed policy is invalid: ${err.message}`,
        details: err.problems,
      });
    throw err;
  }
}

async function dryRunKey(services: Services, body: DryRunBody): Promise<KeyIdentity> {
  let base: KeyIdentity = {
    id: 'dry-run',
    owner: 'dry-run@aigov.local',
    name: null,
    team: null,
    tags: [],
    models: [],
    expiresAt: null,
  };
  if (body.key_id !== undefined) {
    const stored = await services.keys.findById(body.key_id);
    if (!stored) throw new AigovError('not_found', { message: `No key ${body.key_id}` });
    base = identityOf(stored);
  }
  const k = body.key ?? {};
  return {
    ...base,
    ...(k.id !== undefined ? { id: k.id } : {}),
    ...(k.owner !== undefined ? { owner: k.owner } : {}),
    ...(k.name !== undefined ? { name: k.name } : {}),
    ...(k.team !== undefined ? { team: k.team } : {}),
    ...(k.tags !== undefined ? { tags: k.tags } : {}),
    ...(k.models !== undefined ? { models: k.models } : {}),
  };
}

/**
 * The decision /v1/check would return for a provider body, against the active set or a proposed
 * policy file. Nothing is forwarded, recorded or counted; limits are listed, not consumed.
 */
export async function dryRun(services: Services, body: DryRunBody): Promise<Record<string, unknown>> {
  const set = body.policy !== undefined ? compileProposed(body.policy) : services.policies.current();
  const key = await dryRunKey(services, body);
  if (body.mcp !== undefined) {
    const call = { ...body.mcp, metadata: body.metadata };
    return {
      ...toolCallAnswer(assessToolCall(set, call, key), call),
      policy_source: body.policy !== undefined ? 'proposed' : 'active',
      policy_version: set.version,
      key: { id: key.id, owner: key.owner, team: key.team, tags: key.tags },
      limits: set.toolLimitRules.filter((l) => l.appliesTo(toolLimitSubject(call), key)).map((l) => l.id),
    };
  }
  const request = body.request ?? {};
  const { target, norm, decision, redacted } = assess(services.providers, {
    set,
    key,
    body: request,
    provider: body.provider,
    route: body.route,
    metadata: body.metadata,
  });
  return {
    allowed: decision.allowed,
    decision: decision.decision,
    risk_score: decision.riskScore,
    reasons: decision.reasons,
    monitor: decision.monitor,
    policy_source: body.policy !== undefined ? 'proposed' : 'active',
    policy_version: set.version,
    provider: target.provider.name,
    route: target.route,
    model: norm.model,
    key: { id: key.id, owner: key.owner, team: key.team, tags: key.tags },
    limits: set.limitRules.filter((l) => l.appliesTo(norm, key)).map((l) => l.id),
    ...(redacted !== undefined ? { redacted } : {}),
  };
}
