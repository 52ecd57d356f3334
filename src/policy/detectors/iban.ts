import type { Detector, Finding } from './types.js';

// Country code, check digits, then up to 30 alphanumerics optionally grouped by single spaces.
const IBAN_RE = /(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){11,30}/g;

// Registry lengths for the common countries; others fall back to the 15..34 range.
const LENGTHS: Record<string, number> = {
  AD: 24,
  AE: 23,
  AT: 20,
  BE: 16,
  BG: 22,
  BH: 22,
  BR: 29,
  CH: 21,
  CY: 28,
  CZ: 24,
  DE: 22,
  DK: 18,
  EE: 20,
  ES: 24,
  FI: 18,
  FO: 18,
  FR: 27,
  GB: 22,
  GI: 23,
  GL: 18,
  GR: 27,
  HR: 21,
  HU: 28,
  IE: 22,
  IL: 23,
  IS: 26,
  IT: 27,
  KW: 30,
  KZ: 20,
  LB: 28,
  LI: 21,
  LT: 20,
  LU: 20,
  LV: 21,
  MC: 27,
  MT: 31,
  NL: 18,
  NO: 15,
  PL: 28,
  PT: 25,
  QA: 29,
  RO: 24,
  SA: 24,
  SE: 24,
  SI: 19,
  SK: 24,
  SM: 27,
  TR: 26,
  UA: 29,
};

export function ibanChecksumValid(iban: string): boolean {
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let rest = 0;
  for (let i = 0; i < rearranged.length; i++) {
    const c = rearranged.charCodeAt(i);
    if (c >= 48 && c <= 57) rest = (rest * 10 + (c - 48)) % 97;
    else if (c >= 65 && c <= 90) rest = (rest * 100 + (c - 55)) % 97;
    else return false;
  }
  return rest === 1;
}

/** Offsets (in the match) just after each alphanumeric character, and the compact upper-case form. */
function compact(raw: string): { chars: string; endAfter: number[] } {
  let chars = '';
  const endAfter: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === ' ') continue;
    chars += (raw[i] ?? '').toUpperCase();
    endAfter.push(i + 1);
  }
  return { chars, endAfter };
}

function isAlnum(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

export const iban: Detector = {
  name: 'iban',
  find(text: string): Finding[] {
    const found: Finding[] = [];
    IBAN_RE.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = IBAN_RE.exec(text)) !== null) {
      const { chars, endAfter } = compact(m[0]);
      const known = LENGTHS[chars.slice(0, 2)];
      let matchedLen = -1;
      // The greedy match can run into the next word ("... 00 and"); try the lengths that fit.
      for (let len = known ?? Math.min(34, chars.length); len >= (known ?? 15); len--) {
        if (len > chars.length) break;
        const endInMatch = endAfter[len - 1] ?? 0;
        const next = text.charCodeAt(m.index + endInMatch);
        if (isAlnum(next)) continue;
        if (ibanChecksumValid(chars.slice(0, len))) {
          matchedLen = endInMatch;
          break;
        }
      }
      if (matchedLen > 0) {
        found.push({ start: m.index, end: m.index + matchedLen, type: 'IBAN' });
        IBAN_RE.lastIndex = m.index + matchedLen;
      } else {
        IBAN_RE.lastIndex = m.index + 1;
      }
    }
    return found;
  },
};
