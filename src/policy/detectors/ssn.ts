import { scanRegex } from './scan.js';
import type { Detector, Finding } from './types.js';

// Separators are required: an unseparated 9-digit number is far more often an id than an SSN.
const SSN_RE = /(?<![\w-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\w]|-\d)/g;

export const ssn: Detector = {
  name: 'ssn',
  find(text: string): Finding[] {
    return scanRegex(SSN_RE, text, 'SSN', (m) => {
      const area = m[1] ?? '';
      // The SSA never issues area 000, 666 or 900-999, group 00 or serial 0000.
      if (area === '000' || area === '666' || area.startsWith('9')) return false;
      if (m[3] === '00' || m[4] === '0000') return false;
      return true;
    });
  },
};
