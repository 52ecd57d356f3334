import { isIPv6 } from 'node:net';
import { scanRegex } from './scan.js';
import type { Detector, Finding } from './types.js';

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4_RE = new RegExp(`(?<![\\d.])(?:${OCTET}\\.){3}${OCTET}(?!\\d|\\.\\d)`, 'g');

// Candidate run of hex digits, colons and dots, then validated by node:net (handles `::` and
// IPv4-mapped forms). The look-behind means a long hex run is tried once, not at every offset.
const IPV6_CANDIDATE_RE = /(?<![0-9A-Fa-f:.])[0-9A-Fa-f:.]{2,45}(?![0-9A-Fa-f:])/g;

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
    const v6 = scanRegex(IPV6_CANDIDATE_RE, text, 'IP_ADDRESS', (m) => {
      // Trailing sentence dot is not part of the address.
      const raw = m[0].endsWith('.') ? m[0].slice(0, -1) : m[0];
      return plausibleIPv6(raw);
    });
    if (v6.length === 0) return v4;
    for (const f of v6) {
      if (text.charCodeAt(f.end - 1) === 46) f.end--;
    }
    return mergeSorted(v4, v6);
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
