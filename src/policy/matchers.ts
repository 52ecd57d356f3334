import picomatch from 'picomatch';

export type StringTest = (value: string | null) => boolean;

/** Exact entries go in a Set; only entries with glob syntax pay for picomatch. */
export function compileStringSet(patterns: readonly string[]): StringTest {
  const exact = new Set<string>();
  const globs: string[] = [];
  for (const p of patterns) {
    if (picomatch.scan(p).isGlob) globs.push(p);
    else exact.add(p);
  }
  // bash mode: a single `*` also crosses "/", so `meta-*` matches "meta-llama/Llama-3".
  const glob = globs.length > 0 ? picomatch(globs, { bash: true, dot: true }) : null;
  if (glob === null) return (v) => v !== null && exact.has(v);
  if (exact.size === 0) return (v) => v !== null && glob(v);
  return (v) => v !== null && (exact.has(v) || glob(v));
}

export function isExactList(patterns: readonly string[]): boolean {
  return patterns.every((p) => !picomatch.scan(p).isGlob);
}

export interface InNotIn {
  in?: string[] | undefined;
  not_in?: string[] | undefined;
}

/** `in` and `not_in` together mean: in the first list and not in the second. */
export function compileInNotIn(m: InNotIn): StringTest {
  const inTest = m.in !== undefined ? compileStringSet(m.in) : null;
  const outTest = m.not_in !== undefined ? compileStringSet(m.not_in) : null;
  if (inTest !== null && outTest !== null) return (v) => inTest(v) && !outTest(v);
  if (inTest !== null) return inTest;
  if (outTest !== null) return (v) => !outTest(v);
  return () => true;
}

/** For a list-valued attribute (key tags): `in` = shares a value, `not_in` = shares none. */
export function compileListInNotIn(m: InNotIn): (values: readonly string[]) => boolean {
  const inTest = m.in !== undefined ? compileStringSet(m.in) : null;
  const outTest = m.not_in !== undefined ? compileStringSet(m.not_in) : null;
  return (values) => {
    if (inTest !== null && !values.some((v) => inTest(v))) return false;
    if (outTest !== null && values.some((v) => outTest(v))) return false;
    return true;
  };
}
