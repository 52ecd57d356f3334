import type { Detector, Finding } from './types.js';

// Hand-written scanner instead of one regex: `[local]+@` on a long run without `@` is quadratic
// with a backtracking engine. Here each `@` looks at most 64 characters left and 253 right.
const MAX_LOCAL = 64;
const MAX_DOMAIN = 253;

function isLocalChar(c: number): boolean {
  return (
    (c >= 97 && c <= 122) ||
    (c >= 65 && c <= 90) ||
    (c >= 48 && c <= 57) ||
    c === 46 || // .
    c === 95 || // _
    c === 37 || // %
    c === 43 || // +
    c === 45 // -
  );
}

function isDomainChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 45 || c === 46;
}

function isLetter(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
}

export const email: Detector = {
  name: 'email',
  find(text: string): Finding[] {
    const found: Finding[] = [];
    let lastEnd = 0;
    let at = text.indexOf('@');
    while (at !== -1) {
      let start = at;
      const floor = Math.max(lastEnd, at - MAX_LOCAL);
      while (start > floor && isLocalChar(text.charCodeAt(start - 1))) start--;
      while (start < at && text.charCodeAt(start) === 46) start++;
      let end = at + 1;
      const ceiling = Math.min(text.length, at + 1 + MAX_DOMAIN);
      while (end < ceiling && isDomainChar(text.charCodeAt(end))) end++;
      // A sentence-ending dot or a dash is not part of the address.
      while (end > at + 1 && (text.charCodeAt(end - 1) === 46 || text.charCodeAt(end - 1) === 45)) end--;
      if (start < at && validDomain(text, at + 1, end)) {
        found.push({ start, end, type: 'EMAIL' });
        lastEnd = end;
      }
      at = text.indexOf('@', at + 1);
    }
    return found;
  },
};

function validDomain(text: string, from: number, to: number): boolean {
  if (to <= from) return false;
  let labels = 0;
  let labelStart = from;
  for (let i = from; i <= to; i++) {
    if (i === to || text.charCodeAt(i) === 46) {
      const len = i - labelStart;
      if (len < 1 || len > 63) return false;
      if (text.charCodeAt(labelStart) === 45 || text.charCodeAt(i - 1) === 45) return false;
      labels++;
      if (i === to) {
        // The TLD is letters only, two or more: rules out "user@1.2" and the like.
        if (len < 2) return false;
        for (let k = labelStart; k < i; k++) if (!isLetter(text.charCodeAt(k))) return false;
      }
      labelStart = i + 1;
    }
  }
  return labels >= 2;
}
