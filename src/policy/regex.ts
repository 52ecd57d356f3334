import safeRegex from 'safe-regex2';

export interface ParsedRegex {
  source: string;
  flags: string;
}

// DESIGN.md writes case-insensitive patterns PCRE-style as "(?i)..."; JavaScript has no inline
// flags, so a leading group of i/m/s flags is lifted into RegExp flags.
const INLINE_FLAGS = /^\(\?([ims]+)\)/;

export function parseRegexSource(pattern: string): ParsedRegex {
  const m = INLINE_FLAGS.exec(pattern);
  if (m === null) return { source: pattern, flags: '' };
  const flags = [...new Set(m[1] ?? '')].join('');
  return { source: pattern.slice(m[0].length), flags };
}

/** Compiles a policy regex, or explains why it is refused (syntax, or catastrophic backtracking risk). */
export function compilePolicyRegex(pattern: string, extraFlags = ''): RegExp | string {
  const { source, flags } = parseRegexSource(pattern);
  let re: RegExp;
  try {
    re = new RegExp(source, flags + extraFlags);
  } catch (err) {
    return `invalid regular expression: ${err instanceof Error ? err.message : String(err)}`;
  }
  if (!safeRegex(re)) {
    return `regular expression "${pattern}" is unsafe (nested or repeated quantifiers can backtrack catastrophically); rewrite it without nested repetition`;
  }
  return re;
}
