import type { Detector, Finding } from './types.js';

// One alternation behind a look-behind: on ordinary text every offset fails in O(1).
// Quantifiers are bounded; a longer token is extended by hand below so the whole secret is covered.
const TOKEN_RE = new RegExp(
  [
    '(?<![A-Za-z0-9_-])(?:',
    'sk-(?:ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,200}', // OpenAI sk-/sk-proj-, Anthropic sk-ant-
    '|(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])', // AWS access key id
    '|gh[pousr]_[A-Za-z0-9]{36}', // GitHub classic tokens
    '|github_pat_[A-Za-z0-9_]{22,200}', // GitHub fine-grained
    '|xox[abposr]-[A-Za-z0-9-]{10,200}', // Slack
    ')',
  ].join(''),
  'g',
);

const PEM_BEGIN = '-----BEGIN ';
const PEM_END = '-----END ';

function isTokenChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 45;
}

function findPemBlocks(text: string, out: Finding[]): void {
  let from = 0;
  for (;;) {
    const begin = text.indexOf(PEM_BEGIN, from);
    if (begin === -1) return;
    const headerEnd = text.indexOf('-----', begin + PEM_BEGIN.length);
    // Label like "RSA PRIVATE KEY" / "ENCRYPTED PRIVATE KEY": short, on the same line.
    if (headerEnd === -1 || headerEnd - begin > 60) {
      from = begin + 1;
      continue;
    }
    const label = text.slice(begin + PEM_BEGIN.length, headerEnd);
    if (!label.endsWith('PRIVATE KEY') || label.includes('\n')) {
      from = headerEnd;
      continue;
    }
    const end = text.indexOf(PEM_END, headerEnd);
    if (end === -1) {
      // No footer (truncated paste): everything after the header is key material.
      out.push({ start: begin, end: text.length, type: 'API_SECRET' });
      return;
    }
    const footerClose = text.indexOf('-----', end + PEM_END.length);
    const stop = footerClose === -1 ? text.length : footerClose + 5;
    out.push({ start: begin, end: stop, type: 'API_SECRET' });
    from = stop;
  }
}

export const apiSecret: Detector = {
  name: 'api_secret',
  find(text: string): Finding[] {
    const found: Finding[] = [];
    TOKEN_RE.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = TOKEN_RE.exec(text)) !== null) {
      let end = m.index + m[0].length;
      while (end < text.length && isTokenChar(text.charCodeAt(end))) end++;
      found.push({ start: m.index, end, type: 'API_SECRET' });
      TOKEN_RE.lastIndex = end;
    }
    if (text.includes(PEM_BEGIN)) {
      const pem: Finding[] = [];
      findPemBlocks(text, pem);
      if (pem.length > 0) return [...found, ...pem].sort((a, b) => a.start - b.start);
    }
    return found;
  },
};
