import { scanRegex } from './scan.js';
import type { Detector, Finding } from './types.js';

// Heuristic phrases only: this catches copy-pasted jailbreaks, not a determined attacker (see
// docs/policies.md). Gaps between words are bounded so the patterns stay linear.
const GAP = '[\\s,.:;*_-]{1,6}';
const w = (s: string): string => s.replace(/ /g, GAP);

const PATTERNS = [
  // ignore / disregard (all) previous instructions, disregard your system prompt
  w(
    '\\b(?:ignore|disregard|forget|override|bypass|skip) (?:(?:all|any|the|your|my|of|these|those|every) ){0,3}' +
      '(?:previous|prior|above|earlier|preceding|foregoing|original|initial|system|safety|developer)' +
      '(?: (?:system|safety|developer))? (?:instructions?|prompts?|rules|directions|guidelines|directives|messages?|context|constraints)',
  ),
  // reveal / print your system prompt
  w(
    '\\b(?:reveal|print|show|output|repeat|display|leak|dump|tell me|give me|what (?:is|are|was)) ' +
      '(?:(?:me|us|your|the|full|entire|exact|original|initial|hidden|secret|complete) ){0,4}' +
      '(?:system prompt|system message|initial instructions|hidden instructions|original instructions|developer message)',
  ),
  // "you are now DAN", DAN / do anything now, unrestricted persona openers
  w(
    '\\byou are (?:now|going to be|about to become) (?:an? )?(?:DAN|unrestricted|unfiltered|uncensored|jailbroken|evil)\\b',
  ),
  w('\\b(?:DAN mode|do anything now)\\b'),
  w(
    '\\b(?:pretend|act|behave|roleplay|role-play) (?:(?:to be|that you are|you are|as if you were|as|like) )' +
      '(?:an? )?(?:unrestricted|unfiltered|uncensored|jailbroken|evil|rogue|amoral)',
  ),
  w('\\byou are no longer (?:bound|restricted|limited|an AI|ChatGPT|Claude|an assistant)'),
  w('\\bfrom now on,? you (?:will|must|shall) (?:ignore|not follow|disregard|answer without)'),
  // developer mode
  w('\\b(?:enable|enter|activate|switch to|turn on) developer mode\\b'),
  w('\\bdeveloper mode (?:enabled|on|activated)\\b'),
];

const INJECTION_RE = new RegExp(PATTERNS.join('|'), 'gi');

// A big case-insensitive alternation costs a few ns per character at every offset. Every match of
// the patterns above contains a word starting with one of these prefixes, so the full regex only
// runs in windows around those words.
const ANCHOR_PREFIXES = [
  'inst',
  'prom',
  'rule',
  'dire',
  'guid',
  'mess',
  'cont',
  'cons',
  'dan',
  'anyt',
  'unre',
  'unfi',
  'unce',
  'jail',
  'evil',
  'rogu',
  'amor',
  'long',
  'deve',
  'igno',
  'foll',
  'disr',
  'with',
];

// One small alternation of word starts is much cheaper to run over the whole text than the
// full pattern set.
const ANCHOR_RE = new RegExp(`\\b(?:${ANCHOR_PREFIXES.join('|')})`, 'gi');

function isAsciiLetter(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

// Longest possible match is well under this many characters on either side of its anchor word.
const WINDOW = 200;

function anchorWindows(text: string): [number, number][] {
  const windows: [number, number][] = [];
  ANCHOR_RE.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = ANCHOR_RE.exec(text)) !== null) {
    const start = Math.max(0, m.index - WINDOW);
    const end = Math.min(text.length, m.index + WINDOW);
    const last = windows[windows.length - 1];
    if (last !== undefined && start <= last[1]) last[1] = Math.max(last[1], end);
    else windows.push([start, end]);
  }
  return windows;
}

export const promptInjection: Detector = {
  name: 'prompt_injection',
  find(text: string): Finding[] {
    const found: Finding[] = [];
    let covered = 0;
    for (const [start, end] of anchorWindows(text)) {
      const from = Math.max(start, covered);
      const chunk = from === 0 && end === text.length ? text : text.slice(from, end);
      for (const f of scanRegex(INJECTION_RE, chunk, 'PROMPT_INJECTION')) {
        // \b at a window edge could see a word start that is not one in the full text.
        if (f.start === 0 && from > 0 && isWordChar(text.charCodeAt(from - 1))) continue;
        found.push({ start: f.start + from, end: f.end + from, type: f.type });
        covered = f.end + from;
      }
    }
    return found;
  },
};

function isWordChar(c: number): boolean {
  return isAsciiLetter(c) || (c >= 48 && c <= 57) || c === 95;
}
