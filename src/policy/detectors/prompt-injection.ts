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

export const promptInjection: Detector = {
  name: 'prompt_injection',
  find(text: string): Finding[] {
    return scanRegex(INJECTION_RE, text, 'PROMPT_INJECTION');
  },
};
