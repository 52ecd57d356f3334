import type { EvalContext } from './context.js';
import { getDetector, normalizeForDetection, type Detector } from './detectors/index.js';
import { compileInNotIn, compileListInNotIn, compileStringSet } from './matchers.js';
import { compilePolicyRegex } from './regex.js';
import type {
  ComparisonDoc,
  ConditionDoc,
  MaxTokensDoc,
  MetadataMatcherDoc,
  PromptDoc,
  ToolTextDoc,
} from './schema.js';

export type Predicate = (ctx: EvalContext) => boolean;

/** A predicate with a rough cost, so cheap leaves run before detectors and regexes. */
interface Costed {
  test: Predicate;
  cost: number;
}

const COST_FIELD = 1;
const COST_TEXT = 10;
const COST_DETECTOR = 100;

function compileComparison(c: ComparisonDoc): (n: number) => boolean {
  const { gt, gte, lt, lte } = c;
  return (n) =>
    (gt === undefined || n > gt) &&
    (gte === undefined || n >= gte) &&
    (lt === undefined || n < lt) &&
    (lte === undefined || n <= lte);
}

function hasComparison(c: ComparisonDoc): boolean {
  return c.gt !== undefined || c.gte !== undefined || c.lt !== undefined || c.lte !== undefined;
}

/** Absent max_tokens matches only `missing: true`; a present value must pass every comparison given. */
function compileMaxTokens(m: MaxTokensDoc): Predicate {
  const cmp = compileComparison(m);
  const compares = hasComparison(m);
  const missing = m.missing;
  return (ctx) => {
    if (ctx.maxTokens === null) return missing === true;
    if (compares) return cmp(ctx.maxTokens);
    return missing === false;
  };
}

function anySlot(ctx: EvalContext, test: (i: number) => boolean): boolean {
  for (let i = 0; i < ctx.slots.length; i++) if (test(i)) return true;
  return false;
}

function compilePrompt(p: PromptDoc): Costed[] {
  const out: Costed[] = [];
  if (p.length !== undefined) {
    const cmp = compileComparison(p.length);
    out.push({ test: (ctx) => cmp(ctx.prompt.length), cost: COST_FIELD });
  }
  if (p.contains !== undefined) {
    // Needles get the same normalisation as the text, so policy authors may write them naturally.
    const needles = p.contains.map((s) => normalizeForDetection(s).text.toLowerCase());
    out.push({
      test: (ctx) => anySlot(ctx, (i) => needles.some((n) => ctx.loweredSlot(i).includes(n))),
      cost: COST_TEXT,
    });
  }
  if (p.matches !== undefined) {
    const re = compilePolicyRegex(p.matches);
    // Schema validation already refused bad patterns; a string here means "never matches".
    if (typeof re === 'string') out.push({ test: () => false, cost: COST_FIELD });
    else
      out.push({
        test: (ctx) => anySlot(ctx, (i) => re.test(ctx.normalizedSlot(i).text)),
        cost: COST_TEXT * 2,
      });
  }
  return out;
}

function compileDetect(names: readonly string[]): Costed {
  const list = names.map(getDetector).filter((d): d is Detector => d !== undefined);
  return {
    test: (ctx) => {
      for (const d of list) {
        const perSlot = ctx.findingsOf(d);
        for (const f of perSlot) if (f.length > 0) return true;
      }
      return false;
    },
    cost: COST_DETECTOR * list.length,
  };
}

/** `arguments` / `result`: the tool strings are the evaluation's slots, so these are prompt + detect leaves. */
function compileToolText(t: ToolTextDoc): Costed[] {
  const { detect, ...prompt } = t;
  const parts: Costed[] = [];
  if (prompt.contains !== undefined || prompt.matches !== undefined || prompt.length !== undefined)
    parts.push(...compilePrompt(prompt));
  if (detect !== undefined) parts.push(compileDetect(detect));
  return parts;
}

function compileMetadataMatcher(m: MetadataMatcherDoc): (v: string | null) => boolean {
  const tests: ((v: string | null) => boolean)[] = [];
  if (m.equals !== undefined) {
    const expected = m.equals;
    tests.push((v) => v === expected);
  }
  if (m.in !== undefined || m.not_in !== undefined) tests.push(compileInNotIn(m));
  if (m.matches !== undefined) {
    const re = compilePolicyRegex(m.matches);
    tests.push(typeof re === 'string' ? () => false : (v) => v !== null && re.test(v));
  }
  return (v) => tests.every((t) => t(v));
}

function compileMetadata(meta: Record<string, MetadataMatcherDoc>): Costed {
  const entries = Object.entries(meta).map(([name, m]) => ({ name, test: compileMetadataMatcher(m) }));
  return {
    test: (ctx) =>
      entries.every(({ name, test }) => {
        const v = Object.hasOwn(ctx.metadata, name) ? ctx.metadata[name] : undefined;
        return test(typeof v === 'string' ? v : null);
      }),
    cost: COST_FIELD * entries.length,
  };
}

function allOf(parts: Costed[]): Costed {
  parts.sort((a, b) => a.cost - b.cost);
  const cost = parts.reduce((s, p) => s + p.cost, 0);
  if (parts.length === 1 && parts[0] !== undefined) return parts[0];
  const tests = parts.map((p) => p.test);
  return { test: (ctx) => tests.every((t) => t(ctx)), cost };
}

function anyOf(parts: Costed[]): Costed {
  parts.sort((a, b) => a.cost - b.cost);
  const cost = parts.reduce((s, p) => s + p.cost, 0);
  const tests = parts.map((p) => p.test);
  return { test: (ctx) => tests.some((t) => t(ctx)), cost };
}

function compileNode(c: ConditionDoc): Costed {
  const parts: Costed[] = [];
  if (c.model !== undefined) {
    const t = compileInNotIn(c.model);
    parts.push({ test: (ctx) => t(ctx.model), cost: COST_FIELD });
  }
  if (c.provider !== undefined) {
    const t = compileInNotIn(c.provider);
    parts.push({ test: (ctx) => t(ctx.provider), cost: COST_FIELD });
  }
  if (c.route !== undefined) {
    const t = compileInNotIn(c.route);
    parts.push({ test: (ctx) => t(ctx.route), cost: COST_FIELD });
  }
  if (c.server !== undefined) {
    const t = compileInNotIn(c.server);
    parts.push({ test: (ctx) => t(ctx.server), cost: COST_FIELD });
  }
  if (c.tool !== undefined) {
    const t = compileInNotIn(c.tool);
    parts.push({ test: (ctx) => t(ctx.tool), cost: COST_FIELD });
  }
  if (c.arguments !== undefined) parts.push(...compileToolText(c.arguments));
  if (c.result !== undefined) parts.push(...compileToolText(c.result));
  if (c.stream !== undefined) {
    const want = c.stream;
    parts.push({ test: (ctx) => ctx.stream === want, cost: COST_FIELD });
  }
  if (c.max_tokens !== undefined) parts.push({ test: compileMaxTokens(c.max_tokens), cost: COST_FIELD });
  if (c.key !== undefined) {
    const k = c.key;
    const tests: Predicate[] = [];
    if (k.id !== undefined) {
      const t = compileInNotIn(k.id);
      tests.push((ctx) => t(ctx.keyId));
    }
    if (k.name !== undefined) {
      const t = compileInNotIn(k.name);
      tests.push((ctx) => t(ctx.keyName));
    }
    if (k.team !== undefined) {
      const t = compileInNotIn(k.team);
      tests.push((ctx) => t(ctx.team));
    }
    if (k.owner !== undefined) {
      const t = compileInNotIn(k.owner);
      tests.push((ctx) => t(ctx.owner));
    }
    if (k.tags !== undefined) {
      const t = compileListInNotIn(k.tags);
      tests.push((ctx) => t(ctx.tags));
    }
    parts.push({ test: (ctx) => tests.every((t) => t(ctx)), cost: COST_FIELD * tests.length });
  }
  if (c.metadata !== undefined) parts.push(compileMetadata(c.metadata));
  if (c.prompt !== undefined) parts.push(...compilePrompt(c.prompt));
  if (c.detect !== undefined) parts.push(compileDetect(c.detect));
  if (c.all !== undefined) parts.push(allOf(c.all.map(compileNode)));
  if (c.any !== undefined) parts.push(anyOf(c.any.map(compileNode)));
  if (c.not !== undefined) {
    const inner = compileNode(c.not);
    parts.push({ test: (ctx) => !inner.test(ctx), cost: inner.cost });
  }
  if (parts.length === 0) return { test: () => true, cost: 0 };
  return allOf(parts);
}

export function compileCondition(c: ConditionDoc): Predicate {
  return compileNode(c).test;
}

export { compileStringSet };
