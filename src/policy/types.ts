import type { JsonPath } from '../providers/types.js';
import type { Predicate } from './conditions.js';
import type { EvalContext } from './context.js';
import type { Detector } from './detectors/types.js';
import type { CompiledLimitRule } from './limit-rule.js';
import type { MessageRenderer } from './message.js';
import type { PolicyDefaults } from './schema.js';

export type RuleAction = 'block' | 'redact' | 'score' | 'allow' | 'require_approval';
export type RuleMode = 'enforce' | 'monitor';
/** LLM request and response, and an MCP tool call and its result. */
export type Phase = 'request' | 'response' | 'tool_call' | 'tool_result';

/**
 * What rules with `on: tool_call` / `on: tool_result` evaluate: the call's server and tool, and
 * its argument strings (or the result's text content) as text slots.
 */
export interface ToolFacts {
  server: string;
  tool: string;
  /** `/mcp/{server}`. */
  route: string;
  texts: { path: JsonPath; text: string }[];
  prompt: string;
  metadata: Record<string, string>;
}

export interface RedactionPlan {
  detectors: Detector[];
  /** Global regexes from `prompt.matches`; spans labelled MATCH. */
  patterns: RegExp[];
  /** Replacement template; `{{type}}` becomes the finding type. */
  replacement: string;
}

export interface CompiledRule {
  id: string;
  /** Position across all files: ties decisions (first blocking rule) to file order. */
  index: number;
  description: string | null;
  action: RuleAction;
  risk: number;
  mode: RuleMode;
  phase: Phase;
  source: string;
  matchesScope: Predicate;
  matchesWhen: Predicate;
  message: MessageRenderer;
  redaction: RedactionPlan | null;
  /** Tool rules: the condition reads arguments, detectors or metadata (unknowable when listing tools). */
  readsCallContent: boolean;
}

/** Rules bucketed by the exact scope value they require; unscoped rules are always candidates. */
export interface RuleIndex {
  byKey: ReadonlyMap<string, readonly CompiledRule[]>;
  byTeam: ReadonlyMap<string, readonly CompiledRule[]>;
  byOwner: ReadonlyMap<string, readonly CompiledRule[]>;
  byProvider: ReadonlyMap<string, readonly CompiledRule[]>;
  always: readonly CompiledRule[];
}

export interface CompiledPolicySet {
  /** sha256 over the sorted file names and contents, first 12 hex characters. */
  version: string;
  defaults: PolicyDefaults;
  /** Request-phase rules, in file order. */
  rules: readonly CompiledRule[];
  /** Rules with `on: response`, evaluated with phase 'response'. */
  responseRules: readonly CompiledRule[];
  limitRules: readonly CompiledLimitRule[];
  /** `on: tool_call` rules, `on: tool_result` rules and `on: tool_call` limits (count tool calls). */
  toolCallRules: readonly CompiledRule[];
  toolResultRules: readonly CompiledRule[];
  toolLimitRules: readonly CompiledLimitRule[];
  toolCallIndex: RuleIndex;
  toolResultIndex: RuleIndex;
  /** Every rule, limits included. */
  ruleCount: number;
  /** Files the set was loaded from. */
  sources: readonly string[];
  requestIndex: RuleIndex;
  responseIndex: RuleIndex;
}

export interface DecisionReason {
  policy: string;
  action: RuleAction;
  message: string;
  mode: RuleMode;
}

export interface Redaction {
  path: JsonPath;
  text: string;
}

export interface Decision {
  decision: 'allow' | 'block' | 'redact';
  allowed: boolean;
  /** Sum of enforced score risks, capped at 1. */
  riskScore: number;
  reasons: DecisionReason[];
  /** Monitor-mode matches: logged, never change the outcome. */
  monitor: DecisionReason[];
  matchedPolicyIds: string[];
  /** First enforced blocking rule id, 'risk_threshold', 'default_deny', or null. */
  blockedBy: string | null;
  redactions: Redaction[];
  redactedPrompt?: string;
  /** Tool calls: enforced require_approval rules that matched (the call needs a human's approval). */
  approvalRequiredBy?: string[];
}

export type { EvalContext };
