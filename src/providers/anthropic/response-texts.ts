import { collectStrings, isPlainObject } from '../text-walk.js';
import type { TextSlot } from '../types.js';

/** Assistant output of a non-streamed message: text blocks, plus string leaves of tool inputs. */
export function anthropicResponseTexts(_route: string, body: unknown): TextSlot[] {
  const out: TextSlot[] = [];
  if (!isPlainObject(body)) return out;
  const content = body['content'];
  if (!Array.isArray(content)) return out;
  content.forEach((b, i) => {
    if (!isPlainObject(b)) return;
    if (typeof b['text'] === 'string')
      out.push({ path: ['content', i, 'text'], role: 'assistant', text: b['text'] });
    else if (typeof b['type'] === 'string' && b['type'].endsWith('tool_use')) {
      collectStrings(b['input'], ['content', i, 'input'], 'assistant', out, { raw: true });
    }
  });
  return out;
}
