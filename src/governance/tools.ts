/**
 * MCP tool calls and tool results: the same decision path as LLM requests, over the call's
 * server, tool and argument strings (or the result's text). Pure: approvals and limits are looked
 * up by the caller; this says whether they are needed.
 */
import type { KeyIdentity } from '../auth/identity.js';
import { AigovError } from '../errors.js';
import {
  applyRedactions,
  evaluate,
  type CompiledPolicySet,
  type Decision,
  type ToolFacts,
} from '../policy/index.js';
import type { JsonPath, NormalizedRequest } from '../providers/types.js';
import { reasonView, type ReasonView } from './decide.js';

/** One `tools/call` as governance sees it. */
export interface ToolCall {
  server: string;
  tool: string;
  arguments: Record<string, unknown>;
  metadata?: Record<string, string> | undefined;
}

export interface ToolCallDecision {
  /** `require_approval`: no rule blocked, but an enforced require_approval rule matched. */
  decision: 'allow' | 'block' | 'redact' | 'require_approval';
  allowed: boolean;
  riskScore: number;
  reasons: ReasonView[];
  monitor: ReasonView[];
  ruleIds: string[];
  /** Rules that ask for a human's approval (empty unless decision is require_approval). */
  approvalRules: string[];
  /** The refusal when blocked (an approval refusal is made by the caller, who creates the approval). */
  refusal: AigovError | null;
  /** The arguments as they would be forwarded, when redact rules rewrote them. */
  redactedArguments?: Record<string, unknown>;
  policy: Decision;
}

export interface ToolResultDecision {
  policy: Decision;
  refusal: AigovError | null;
  /** Redacted text per slot path, when redact rules rewrote the result. */
  redactions: Decision['redactions'];
}

/** Every string in a JSON value (keys excluded), with its path, in document order. */
export function stringsOf(
  value: unknown,
  path: JsonPath = [],
  out: ToolFacts['texts'] = [],
): ToolFacts['texts'] {
  // Iterative over a stack would lose document order cheaply; arguments are small and the body's
  // nesting is bounded by the JSON reader (MAX_JSON_DEPTH).
  if (typeof value === 'string') out.push({ path, text: value });
  else if (Array.isArray(value)) value.forEach((v, i) => stringsOf(v, [...path, i], out));
  else if (typeof value === 'object' && value !== null)
    for (const [k, v] of Object.entries(value)) stringsOf(v, [...path, k], out);
  return out;
}

/** The facts tool rules evaluate for a call (texts = the argument strings). */
export function toolCallFacts(call: ToolCall): ToolFacts {
  return factsOf(call, stringsOf(call.arguments));
}

/** A call's facts with the given texts (its arguments, or its result). */
function factsOf(call: Pick<ToolCall, 'server' | 'tool' | 'metadata'>, texts: ToolFacts['texts']): ToolFacts {
  return {
    server: call.server,
    tool: call.tool,
    route: `/mcp/${call.server}`,
    texts,
    prompt: texts.map((t) => t.text).join('\n'),
    metadata: call.metadata ?? {},
  };
}

function refusalOf(policy: Decision, what: string): AigovError {
  const reason = policy.reasons.find((r) => r.policy === policy.blockedBy) ?? policy.reasons[0];
  const rule = policy.blockedBy ?? 'policy_blocked';
  return new AigovError('policy_blocked', {
    providerCode: rule,
    message: reason?.message || `${what} blocked by policy ${rule}`,
  });
}

/** `on: tool_call` rules over one call. */
export function decideToolCall(set: CompiledPolicySet, call: ToolCall, key: KeyIdentity): ToolCallDecision {
  const policy = evaluate(set, toolCallFacts(call), key, 'tool_call');
  const approvalRules = policy.allowed ? (policy.approvalRequiredBy ?? []) : [];
  const decision: ToolCallDecision['decision'] = !policy.allowed
    ? 'block'
    : approvalRules.length > 0
      ? 'require_approval'
      : policy.decision;
  return {
    decision,
    allowed: decision === 'allow' || decision === 'redact',
    riskScore: policy.riskScore,
    reasons: policy.reasons.map(reasonView),
    monitor: policy.monitor.map(reasonView),
    ruleIds: policy.matchedPolicyIds.slice(),
    approvalRules,
    refusal: policy.allowed ? null : refusalOf(policy, 'Tool call'),
    ...(policy.decision === 'redact' && policy.allowed
      ? { redactedArguments: applyRedactions(call.arguments, policy.redactions) as Record<string, unknown> }
      : {}),
    policy,
  };
}

/** `on: tool_result` rules over a result's text content (`texts` paths point into the result). */
export function decideToolResult(
  set: CompiledPolicySet,
  call: Pick<ToolCall, 'server' | 'tool' | 'metadata'>,
  key: KeyIdentity,
  texts: ToolFacts['texts'],
): ToolResultDecision {
  const policy = evaluate(set, factsOf(call, texts), key, 'tool_result');
  return {
    policy,
    refusal: policy.allowed ? null : refusalOf(policy, 'Tool result'),
    redactions: policy.allowed && policy.decision === 'redact' ? policy.redactions : [],
  };
}

/** Tool result rules exist (callers skip reading result text otherwise). */
export function hasToolResultRules(set: CompiledPolicySet): boolean {
  return set.toolResultRules.length > 0;
}

/**
 * Whether `tools/list` shows a tool to this caller: hidden when an enforced block rule refuses
 * every call of it, whatever the arguments (rules that read arguments, detectors or metadata
 * decide per call and never hide a tool). Returns the hiding rule's id, or null when listed.
 */
export function toolHiddenBy(
  set: CompiledPolicySet,
  server: string,
  tool: string,
  key: KeyIdentity,
): string | null {
  const candidates = set.toolCallRules.filter(
    (r) => r.action === 'block' && r.mode === 'enforce' && !r.readsCallContent,
  );
  if (candidates.length === 0) return null;
  const facts: ToolFacts = { server, tool, route: `/mcp/${server}`, texts: [], prompt: '', metadata: {} };
  const d = evaluate(set, facts, key, 'tool_call');
  return (
    d.reasons.find((r) => r.action === 'block' && candidates.some((c) => c.id === r.policy))?.policy ?? null
  );
}

/**
 * The tool call as the limiter sees a request: limits read the text (for estimates they do not
 * use here: tool limits count calls), and their `scope`/`when` read server and tool.
 */
export function toolLimitSubject(call: ToolCall): NormalizedRequest {
  const facts = toolCallFacts(call);
  const subject = {
    ...facts,
    provider: call.server,
    model: null,
    maxTokens: 0,
    stream: false,
    texts: facts.texts.map((t) => ({ ...t, role: 'input' as const })),
  };
  // No provider family applies to a tool call; nothing on the limit path reads it.
  return subject as unknown as NormalizedRequest;
}

export interface ToolCallAssessment {
  decision: ToolCallDecision;
  /** The rule that hides the tool from this caller's tools/list, or null when it is listed. */
  hiddenBy: string | null;
}

/** The decision for a described tool call (/v1/check, the admin dry run): what the relay decides. */
export function assessToolCall(set: CompiledPolicySet, call: ToolCall, key: KeyIdentity): ToolCallAssessment {
  return {
    decision: decideToolCall(set, call, key),
    hiddenBy: toolHiddenBy(set, call.server, call.tool, key),
  };
}

/** The answer /v1/check and the dry run give for a tool call (snake_case, like the rest of the API). */
export function toolCallAnswer(a: ToolCallAssessment, call: ToolCall): Record<string, unknown> {
  const d = a.decision;
  return {
    allowed: d.allowed,
    decision: d.decision,
    risk_score: d.riskScore,
    reasons: d.reasons,
    monitor: d.monitor,
    mcp: { server: call.server, tool: call.tool, listed: a.hiddenBy === null, hidden_by: a.hiddenBy },
    ...(d.approvalRules.length > 0 ? { approval_rules: d.approvalRules } : {}),
    ...(d.redactedArguments !== undefined ? { redacted_arguments: d.redactedArguments } : {}),
  };
}
