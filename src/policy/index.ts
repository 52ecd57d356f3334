/** The policy engine's public surface: load + compile once, evaluate per request. */
export { compilePolicies, validatePolicyInputs, type PolicyInput } from './compile.js';
export {
  detectorNames,
  detectors,
  getDetector,
  normalizeForDetection,
  toOriginalSpan,
  type Detector,
  type Finding,
  type NormalizedText,
} from './detectors/index.js';
export { parseDuration, tryParseDuration } from './duration.js';
export { evaluate } from './evaluate.js';
export type { CompiledLimitRule, LimitMetric, LimitSubject, LimitWindow } from './limit-rule.js';
export {
  compilePolicySources,
  listPolicyFiles,
  loadPolicies,
  parsePolicySources,
  policyVersion,
  readPolicySources,
  validatePolicies,
  type PolicySource,
} from './load.js';
export { formatProblem, PolicyLoadError, type PolicyProblem } from './load-error.js';
export { applyRedactions } from './redact.js';
export type { PolicyDefaults, PolicyFileDoc, RuleDoc } from './schema.js';
export {
  fallbackNormalize,
  formatPolicyTestResults,
  runPolicyTests,
  type Normalizer,
  type PolicyTestResult,
  type RunPolicyTestsOptions,
} from './testing.js';
export type {
  CompiledPolicySet,
  CompiledRule,
  Decision,
  DecisionReason,
  Phase,
  Redaction,
  RuleAction,
  RuleMode,
  ToolFacts,
} from './types.js';
