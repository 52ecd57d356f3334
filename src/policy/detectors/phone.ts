import { scanRegex } from './scan.js';
import type { Detector, Finding } from './types.js';

// Separated groups (555-123-4567, (555) 123 4567, +44 7911 123456) or a compact international
// number with a leading +. Plain digit runs are not treated as phones: too many order numbers.
// Neighbouring digit groups are excluded so card numbers and long ids do not also count as phones.
const PHONE_RE =
  /(?<![\w+]|\d[ .-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])\d{3,4}[ .-]\d{3,4}(?![\w]|[ .-]\d)|(?<![\w+])\+\d{1,3}(?:[ .-]\d{2,8}){1,4}(?![\w]|[ .-]\d)|(?<![\w+])\+\d{8,15}(?!\w)/g;

function digitCount(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) n++;
  }
  return n;
}

export const phone: Detector = {
  name: 'phone',
  find(text: string): Finding[] {
    return scanRegex(PHONE_RE, text, 'PHONE', (m) => {
      const digits = digitCount(m[0]);
      return digits >= 7 && digits <= 15;
    });
  },
};
