import type { Detector, Finding } from './types.js';

// 13-19 digits, optionally grouped by single spaces or dashes.
const CARD_RE = /(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)/g;

function isSep(c: number): boolean {
  return c === 32 || c === 45;
}

const digitsScratch = new Uint8Array(32);

function luhnPrefix(count: number): boolean {
  let sum = 0;
  let double = false;
  for (let i = count - 1; i >= 0; i--) {
    let d = digitsScratch[i] ?? 0;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/**
 * Length of the longest prefix of a grouped digit run that is a plausible card: the whole run,
 * or the run cut at a separator ("4111 1111 1111 1111 2 items" must still find the card).
 * Card groupings (4-4-4-4, 4-6-5, 4-4-4-4-3) never have groups under 3 digits before the last.
 */
function cardLength(run: string): number {
  let count = 0;
  let group = 0;
  let best = -1;
  for (let i = 0; i <= run.length; i++) {
    const c = i < run.length ? run.charCodeAt(i) : 32;
    if (isSep(c)) {
      if (group < 3 && i < run.length) return best;
      if (count >= 13 && count <= 19 && !allSame(count) && luhnPrefix(count)) best = i;
      group = 0;
    } else {
      digitsScratch[count++] = c - 48;
      group++;
    }
  }
  return best;
}

// All-same-digit strings ("0000 0000 ...") pass Luhn but are placeholders, not cards.
function allSame(count: number): boolean {
  for (let i = 1; i < count; i++) if (digitsScratch[i] !== digitsScratch[0]) return false;
  return true;
}

export const creditCard: Detector = {
  name: 'credit_card',
  find(text: string): Finding[] {
    const found: Finding[] = [];
    CARD_RE.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = CARD_RE.exec(text)) !== null) {
      const len = cardLength(m[0]);
      if (len > 0) {
        found.push({ start: m.index, end: m.index + len, type: 'CREDIT_CARD' });
        CARD_RE.lastIndex = m.index + len;
      } else {
        CARD_RE.lastIndex = m.index + 1;
      }
    }
    return found;
  },
};
