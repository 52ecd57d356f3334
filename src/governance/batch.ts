/**
 * One line of a batch file (OpenAI Batch API JSONL: {custom_id, method, url, body}) judged exactly
 * as the same body sent alone to `url` would be: normalised by the provider's adapter, then model
 * access and request rules through decideRequest. Refusals name the line and its custom_id.
 */
import type { KeyIdentity } from '../auth/identity.js';
import { AigovError } from '../errors.js';
import { applyRedactions, type CompiledPolicySet } from '../policy/index.js';
import type { ProviderRuntime } from '../providers/registry.js';
import type { NormalizedRequest } from '../providers/types.js';
import { decideRequest, type RequestDecision } from './decide.js';
import { normalizeFor } from './target.js';

export interface BatchLineDecision {
  customId: string;
  norm: NormalizedRequest;
  decision: RequestDecision;
  /** The whole line rewritten by redact rules; undefined when the line is forwarded as it is. */
  redactedLine?: Record<string, unknown>;
  /** The refusal, naming the line number, its custom_id and the rule. */
  refusal: AigovError | null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function badLine(lineNo: number, what: string): AigovError {
  return new AigovError('invalid_request', {
    message: `Batch file line ${lineNo}: ${what}`,
    details: { line: lineNo },
  });
}

/** Throws invalid_request for a line that is not a batch request the provider can serve. */
export function decideBatchLine(
  set: CompiledPolicySet,
  provider: ProviderRuntime,
  key: KeyIdentity,
  line: unknown,
  lineNo: number,
): BatchLineDecision {
  if (!isObject(line)) throw badLine(lineNo, 'expected a JSON object');
  const customId = line['custom_id'];
  if (typeof customId !== 'string' || customId === '')
    throw badLine(lineNo, 'custom_id must be a non-empty string');
  const method = line['method'];
  if (method !== 'POST') throw badLine(lineNo, `(custom_id "${customId}") method must be "POST"`);
  const url = line['url'];
  const spec = typeof url === 'string' ? provider.adapter.routeFor('POST', url) : undefined;
  if (
    typeof url !== 'string' ||
    spec === undefined ||
    !spec.governed ||
    spec.body === 'multipart' ||
    spec.kind === 'files' ||
    spec.kind === 'batches'
  )
    throw badLine(lineNo, `(custom_id "${customId}") url ${JSON.stringify(url)} is not a batchable route`);
  if (!isObject(line['body'])) throw badLine(lineNo, `(custom_id "${customId}") body must be an object`);

  let norm: NormalizedRequest;
  try {
    norm = normalizeFor({ provider, route: spec.path }, line['body']);
  } catch (err) {
    if (!(err instanceof AigovError)) throw err;
    throw new AigovError('invalid_request', {
      message: `Batch file line ${lineNo} (custom_id "${customId}"): ${err.message}`,
      details: { line: lineNo, custom_id: customId, issues: err.details },
    });
  }
  const decision = decideRequest(set, norm, key);
  if (decision.refusal) {
    const rule = decision.refusal.providerCode;
    return {
      customId,
      norm,
      decision,
      refusal: new AigovError(decision.refusal.code, {
        providerCode: rule,
        message: `Batch file line ${lineNo} (custom_id "${customId}") blocked by ${rule}: ${decision.refusal.message}`,
        details: { line: lineNo, custom_id: customId, rule },
      }),
    };
  }
  if (decision.decision === 'redact' && decision.policy.redactions.length > 0) {
    const body = applyRedactions(line['body'], decision.policy.redactions) as Record<string, unknown>;
    return { customId, norm, decision, redactedLine: { ...line, body }, refusal: null };
  }
  return { customId, norm, decision, refusal: null };
}
