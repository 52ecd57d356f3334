import type { JsonPath } from '../providers/types.js';
import type { EvalContext } from './context.js';
import { toOriginalSpan } from './detectors/normalize.js';
import type { CompiledRule, Redaction } from './types.js';

interface Span {
  start: number;
  end: number;
  type: string;
  replacement: string;
}

function collectSpans(ctx: EvalContext, rules: readonly CompiledRule[], slot: number): Span[] {
  const spans: Span[] = [];
  const norm = ctx.normalizedSlot(slot);
  for (const rule of rules) {
    const plan = rule.redaction;
    if (plan === null) continue;
    for (const d of plan.detectors) {
      for (const f of ctx.findingsOf(d)[slot] ?? []) {
        const [start, end] = toOriginalSpan(norm, f.start, f.end);
        spans.push({ start, end, type: f.type, replacement: plan.replacement });
      }
    }
    for (const re of plan.patterns) {
      re.lastIndex = 0;
      let m: RegExpExecArray | null;
      while ((m = re.exec(norm.text)) !== null) {
        if (m[0].length === 0) {
          re.lastIndex++;
          continue;
        }
        const [start, end] = toOriginalSpan(norm, m.index, m.index + m[0].length);
        spans.push({ start, end, type: 'MATCH', replacement: plan.replacement });
      }
    }
  }
  return spans;
}

/** Replaces the union of all spans, right to left; overlapping spans merge under the first one's label. */
function rewrite(text: string, spans: Span[]): string {
  if (spans.length === 0) return text;
  spans.sort((a, b) => a.start - b.start || b.end - a.end);
  let out = '';
  let cursor = 0;
  let i = 0;
  while (i < spans.length) {
    const first = spans[i];
    if (first === undefined) break;
    let end = first.end;
    i++;
    for (let next = spans[i]; next !== undefined && next.start < end; next = spans[++i]) {
      if (next.end > end) end = next.end;
    }
    out += text.slice(cursor, first.start) + first.replacement.replace(/\{\{\s*type\s*\}\}/g, first.type);
    cursor = end;
  }
  return out + text.slice(cursor);
}

/** New text for every slot an enforced redact rule changed, plus the rewritten joined prompt. */
export function computeRedactions(
  ctx: EvalContext,
  rules: readonly CompiledRule[],
): { redactions: Redaction[]; redactedPrompt: string } {
  const redactions: Redaction[] = [];
  const texts: string[] = [];
  for (let i = 0; i < ctx.slots.length; i++) {
    const slot = ctx.slots[i];
    if (slot === undefined) continue;
    const next = rewrite(slot.text, collectSpans(ctx, rules, i));
    texts.push(next);
    if (next !== slot.text && slot.path !== null) redactions.push({ path: slot.path, text: next });
  }
  return { redactions, redactedPrompt: texts.join('\n') };
}

function setAt(node: unknown, path: JsonPath, depth: number, text: string): unknown {
  if (depth === path.length) return typeof node === 'string' ? text : node;
  const seg = path[depth];
  if (Array.isArray(node) && typeof seg === 'number' && seg >= 0 && seg < node.length) {
    const child: unknown = node[seg];
    const next = setAt(child, path, depth + 1, text);
    if (next === child) return node;
    const copy = node.slice();
    copy[seg] = next;
    return copy;
  }
  if (typeof node === 'object' && node !== null && !Array.isArray(node) && typeof seg === 'string') {
    const obj = node as Record<string, unknown>;
    if (!Object.hasOwn(obj, seg)) return node;
    const child = obj[seg];
    const next = setAt(child, path, depth + 1, text);
    if (next === child) return node;
    return { ...obj, [seg]: next };
  }
  return node;
}

/**
 * Writes redacted texts back into a request body. Only objects and arrays along each changed path
 * are copied; the input is never mutated. Paths that do not lead to a string are skipped.
 */
export function applyRedactions(body: unknown, redactions: readonly Redaction[]): unknown {
  let out = body;
  for (const r of redactions) {
    if (r.path.length === 0) continue;
    out = setAt(out, r.path, 0, r.text);
  }
  return out;
}
