import { detectors, normalizeForDetection, toOriginalSpan, type Detector } from '../policy/index.js';
import type { NormalizedRequest } from '../providers/types.js';

export type AuditContentMode = 'none' | 'redacted' | 'full';

interface Span {
  start: number;
  end: number;
  type: string;
}

/** Every detector match replaced by [REDACTED:<TYPE>]; overlapping matches merge under the first. */
export function redactText(text: string, using: readonly Detector[] = Object.values(detectors)): string {
  if (text.length === 0) return text;
  const norm = normalizeForDetection(text);
  const spans: Span[] = [];
  for (const d of using)
    for (const f of d.find(norm.text)) {
      const [start, end] = toOriginalSpan(norm, f.start, f.end);
      if (end > start) spans.push({ start, end, type: f.type });
    }
  if (spans.length === 0) return text;
  spans.sort((a, b) => a.start - b.start || b.end - a.end);
  let out = '';
  let cursor = 0;
  for (let i = 0; i < spans.length;) {
    const first = spans[i]!;
    let end = first.end;
    for (i++; i < spans.length && spans[i]!.start < end; i++) end = Math.max(end, spans[i]!.end);
    out += `${text.slice(cursor, first.start)}[REDACTED:${first.type}]`;
    cursor = end;
  }
  return out + text.slice(cursor);
}

/**
 * What of the prompt the audit row keeps (`content` column). `redactedTexts` are the slot texts
 * after the policy's own redactions (what went upstream), when the proxy has them; the detectors
 * then run over those too, so nothing a detector recognises is stored whatever the policy said.
 */
export function contentFor(
  mode: AuditContentMode,
  request: Pick<NormalizedRequest, 'texts' | 'prompt'> | null,
  redactedTexts?: readonly string[],
): string | null {
  if (mode === 'none' || request === null) return null;
  const texts = redactedTexts ?? request.texts.map((t) => t.text);
  const joined = texts.length > 0 ? texts.join('\n') : request.prompt;
  if (mode === 'full') return joined;
  return redactText(joined);
}
