/**
 * The governance core: resolve the target, normalise, check model access, evaluate, map reasons.
 * Everything that decides (the proxy pipeline, /v1/check, the admin dry run) calls this folder.
 */
import type { KeyIdentity } from '../auth/identity.js';
import { applyRedactions, type CompiledPolicySet } from '../policy/index.js';
import type { NormalizedRequest } from '../providers/types.js';
import { decideRequest, type RequestDecision } from './decide.js';
import { normalizeFor, resolveForCheck, type ProviderLookup, type Target } from './target.js';

export * from './decide.js';
export * from './target.js';
export * from './tools.js';

export interface AssessInput {
  set: CompiledPolicySet;
  key: KeyIdentity;
  /** A provider request body as its SDK sends it. */
  body: Record<string, unknown>;
  provider?: string | undefined;
  route?: string | undefined;
  metadata?: Record<string, string> | undefined;
}

export interface Assessment {
  target: Target;
  norm: NormalizedRequest;
  decision: RequestDecision;
  /** The body as it would be forwarded, when redact rules rewrote it. */
  redacted?: unknown;
}

/**
 * The decision for a body without a URL (/v1/check, dry run): the same resolution, normalisation
 * and decision the proxy makes for that body. Limits are the caller's (peek or list them).
 */
export function assess(lookup: ProviderLookup, input: AssessInput): Assessment {
  const target = resolveForCheck(lookup, input.provider, input.route, input.body);
  const norm = normalizeFor(target, input.body, input.metadata);
  const decision = decideRequest(input.set, norm, input.key);
  return {
    target,
    norm,
    decision,
    ...(decision.decision === 'redact'
      ? { redacted: applyRedactions(input.body, decision.policy.redactions) }
      : {}),
  };
}
export * from './batch.js';
