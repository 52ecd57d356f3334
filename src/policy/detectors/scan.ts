import type { Finding } from './types.js';

/**
 * Runs a global regex over the text and keeps the matches `accept` approves. A rejected match
 * restarts one character later so a valid value right after an invalid prefix is still found.
 * Patterns passed here use bounded quantifiers, so every attempt is constant work: linear overall.
 */
export function scanRegex(
  re: RegExp,
  text: string,
  type: string,
  accept?: (match: RegExpExecArray) => boolean,
): Finding[] {
  const found: Finding[] = [];
  re.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    if (accept === undefined || accept(m)) {
      found.push({ start: m.index, end: m.index + m[0].length, type });
      if (m[0].length === 0) re.lastIndex++;
    } else {
      re.lastIndex = m.index + 1;
    }
  }
  return found;
}
