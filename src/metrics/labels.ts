/**
 * Label-value helpers for the hot path: bounded cardinality and per-label-set child caching, so
 * observing a finished request is a few Map lookups and no allocation once a label set was seen.
 */

export const OTHER = 'other';
export const NONE = 'none';
/** Longer label values are folded into "other" rather than truncated (two values, one series). */
const MAX_VALUE_LENGTH = 128;

/**
 * Keeps the first `max` distinct values of a caller-controlled label (model, team, rule) and folds
 * every later one into "other", so a client sending random model names cannot grow the series
 * count without bound. `onOverflow` is told each time a value is folded.
 */
export class BoundedLabel {
  private readonly seen = new Set<string>();

  constructor(
    readonly name: string,
    readonly max: number,
    private readonly onOverflow: (label: string) => void = () => {},
  ) {}

  value(v: string | null | undefined): string {
    if (v === null || v === undefined || v === '') return NONE;
    if (this.seen.has(v)) return v;
    if (this.seen.size >= this.max || v.length > MAX_VALUE_LENGTH) {
      this.onOverflow(this.name);
      return OTHER;
    }
    this.seen.add(v);
    return v;
  }

  get size(): number {
    return this.seen.size;
  }
}

type Key = string | number;
type Level = Map<Key, unknown>;

function step(level: Level, key: Key): Level {
  let next = level.get(key) as Level | undefined;
  if (next === undefined) {
    next = new Map();
    level.set(key, next);
  }
  return next;
}

/**
 * prom-client's `labels(...)` builds a label object and hashes it on every call; this caches the
 * child per label tuple in nested Maps (no key string is built), which is what keeps
 * observeCall allocation-free on a hit. Children stay valid because the metrics are never reset.
 */
export class ChildCache<T> {
  private readonly root: Level = new Map();

  constructor(private readonly create: (values: string[]) => T) {}

  get1(a: Key): T {
    return (this.root.get(a) as T | undefined) ?? this.add(this.root, a, [a]);
  }

  get2(a: Key, b: Key): T {
    const l = step(this.root, a);
    return (l.get(b) as T | undefined) ?? this.add(l, b, [a, b]);
  }

  get3(a: Key, b: Key, c: Key): T {
    const l = step(step(this.root, a), b);
    return (l.get(c) as T | undefined) ?? this.add(l, c, [a, b, c]);
  }

  get4(a: Key, b: Key, c: Key, d: Key): T {
    const l = step(step(step(this.root, a), b), c);
    return (l.get(d) as T | undefined) ?? this.add(l, d, [a, b, c, d]);
  }

  get5(a: Key, b: Key, c: Key, d: Key, e: Key): T {
    const l = step(step(step(step(this.root, a), b), c), d);
    return (l.get(e) as T | undefined) ?? this.add(l, e, [a, b, c, d, e]);
  }

  /** Miss path only: the label array is built once per distinct label set. */
  private add(level: Level, key: Key, values: Key[]): T {
    const child = this.create(values.map(String));
    level.set(key, child);
    return child;
  }
}
