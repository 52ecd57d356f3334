export interface PolicyProblem {
  file: string;
  /** Null when the problem is not inside a rule (YAML syntax, defaults, version). */
  ruleId: string | null;
  /** Field path inside the file, e.g. `rules[2].when.prompt.matches`; empty for the whole file. */
  path: string;
  message: string;
}

export function formatProblem(p: PolicyProblem): string {
  const rule = p.ruleId === null ? '' : ` rule "${p.ruleId}"`;
  const at = p.path === '' ? '' : ` at ${p.path}`;
  return `${p.file}:${rule}${at}: ${p.message}`;
}

/**
 * A policy set that cannot be loaded. Load-time only (start-up, hot reload, CLI), never on a
 * request path, so it is not an AigovError: the server keeps its last good set instead.
 */
export class PolicyLoadError extends Error {
  readonly problems: PolicyProblem[];

  constructor(problems: PolicyProblem[]) {
    const n = problems.length;
    super(
      `${n} policy problem${n === 1 ? '' : 's'}:\n${problems.map((p) => `  - ${formatProblem(p)}`).join('\n')}`,
    );
    this.name = 'PolicyLoadError';
    this.problems = problems;
  }
}
