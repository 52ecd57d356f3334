import type { AigovError } from '../errors.js';
import { decideResponse, hasResponseRules } from '../governance/index.js';
import { applyRedactions, type Decision } from '../policy/index.js';
import type { Call, DecidedCall } from './call.js';

/** Output-side policies on streams look at this much of the most recent text. */
export const STREAM_WINDOW_CHARS = 4096;

/** The audit row lists output-side matches and their reasons next to the request-side ones. */
function noteResponseDecision(call: Call, decision: Decision): void {
  for (const id of decision.matchedPolicyIds)
    if (!call.row.policyIds.includes(id)) call.row.policyIds.push(id);
  const reasons = [...decision.reasons, ...decision.monitor];
  if (reasons.length > 0)
    call.row.reasons = [
      ...(Array.isArray(call.row.reasons) ? (call.row.reasons as unknown[]) : []),
      ...reasons,
    ];
}

/** Output-side policies on a whole response: block replaces it (throws), redact rewrites its text. */
export function inspectResponse(call: DecidedCall, json: unknown): { body: unknown; changed: boolean } {
  if (!hasResponseRules(call.policySet)) return { body: json, changed: false };
  const texts = call.provider.adapter.responseTexts(call.spec.path, json);
  if (texts.length === 0) return { body: json, changed: false };
  const { policy, refusal } = decideResponse(call.policySet, call.norm, call.key, texts);
  noteResponseDecision(call, policy);
  if (refusal) {
    call.row.decision = 'block';
    throw refusal;
  }
  if (policy.decision === 'redact' && policy.redactions.length > 0) {
    call.row.decision = 'redact';
    return { body: applyRedactions(json, policy.redactions), changed: true };
  }
  return { body: json, changed: false };
}

/**
 * For a stream: a function over the output text so far that returns the error to end the stream
 * with, or null. Null when no output rule exists (the relay then passes bytes through untouched).
 */
export function streamInspector(call: DecidedCall): ((text: string) => AigovError | null) | null {
  if (!hasResponseRules(call.policySet)) return null;
  const { policySet, norm, key } = call;
  return (text) => {
    const window = text.length > STREAM_WINDOW_CHARS ? text.slice(-STREAM_WINDOW_CHARS) : text;
    const { policy, refusal } = decideResponse(
      policySet,
      norm,
      key,
      [{ path: ['output'], role: 'assistant', text: window }],
      true,
    );
    if (!refusal) return null;
    noteResponseDecision(call, policy);
    call.row.decision = 'block';
    return refusal;
  };
}
