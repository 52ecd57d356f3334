import { isIPv6 } from 'node:net';
import { scanRegex } from './scan.js';
import type { Detector, Finding } from './types.js';

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4_RE = new RegExp(`(?<![\\d.])(?:${OCTET}\\.){3}${OCTET}(?!\\d|\\.\\d)`, 'g');

function isV6Char(c: number): boolean {
  return (c >= 48 && c <= 58) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102) || c === 46;
}

/**
 * IPv6 candidates are the maximal runs of hex digits, colons and dots around each colon; a run is
 * visited once, so this is linear, and prose without colons costs one indexOf.
 */
function findIPv6(text: string): Finding[] {
  const found: Finding[] = [];
  let colon = text.indexOf(':');
  while (colon !== -1) {
    let start = colon;
    while (start > 0 && isV6Char(text.charCodeAt(start - 1))) start--;
    let end = colon + 1;
    while (end < text.length && isV6Char(text.charCodeAt(end))) end++;
    while (end > start && text.charCodeAt(end - 1) === 46) end--; // sentence-ending dot
    while (start < end && text.charCodeAt(start) === 46) start++;
    if (end - start >= 2 && end - start <= 45 && plausibleIPv6(text.slice(start, end))) {
      found.push({ start, end, type: 'IP_ADDRESS' });
    }
    let next = end;
    while (next < text.length && isV6Char(text.charCodeAt(next))) next++;
    colon = text.indexOf(':', Math.max(next, colon + 1));
  }
  return found;
}

function plausibleIPv6(candidate: string): boolean {
  let colons = 0;
  let hex = 0;
  for (let i = 0; i < candidate.length; i++) {
    const c = candidate.charCodeAt(i);
    if (c === 58) colons++;
    else if (c !== 46) hex++;
  }
  // "std::vec" style C++ scopes are valid IPv6 to node; require a real address's shape.
  if (colons < 2) return false;
  if (candidate !== '::1' && hex < 4) return false;
  return isIPv6(candidate);
}

export const ipAddress: Detector = {
  name: 'ip_address',
  find(text: string): Finding[] {
    const v4 = scanRegex(IPV4_RE, text, 'IP_ADDRESS');
    const v6 = findIPv6(text);
    return v6.length === 0 ? v4 : mergeSorted(v4, v6);
  },
};

/** Both lists are sorted; an IPv4 match inside an IPv4-mapped IPv6 address is dropped. */
function mergeSorted(v4: Finding[], v6: Finding[]): Finding[] {
  const out: Finding[] = [];
  let j = 0;
  for (const f of v6) {
    for (let x = v4[j]; x !== undefined && x.end <= f.start; x = v4[++j]) out.push(x);
    for (let x = v4[j]; x !== undefined && x.start < f.end; x = v4[++j]);
    out.push(f);
  }
  for (let x = v4[j]; x !== undefined; x = v4[++j]) out.push(x);
  return out;
}
