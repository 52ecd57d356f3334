import t from 'tap';
import { contentFor, redactText } from '../../../src/audit/content.js';

const request = {
  texts: [
    { path: ['messages', 0, 'content'], role: 'user' as const, text: 'mail me at jane.doe@example.com' },
    { path: ['messages', 1, 'content'], role: 'user' as const, text: 'card 4111 1111 1111 1111, ok?' },
  ],
  prompt: 'mail me at jane.doe@example.com\ncard 4111 1111 1111 1111, ok?',
};

t.test('none keeps nothing, full keeps the text, redacted replaces every detector match', async (t) => {
  t.equal(contentFor('none', request), null);
  t.equal(contentFor('full', request), request.prompt);
  const redacted = contentFor('redacted', request)!;
  t.equal(redacted, 'mail me at [REDACTED:EMAIL]\ncard [REDACTED:CREDIT_CARD], ok?');
  t.notMatch(redacted, /jane|4111/);
  t.equal(contentFor('full', null), null, 'no request body, no content');
});

t.test('texts the policy already redacted are used, and scanned again', async (t) => {
  const out = contentFor('redacted', request, ['mail me at [EMAIL]', 'my ssn is 123-45-6789']);
  t.notMatch(out!, /123-45-6789/);
  t.match(out!, /^mail me at \[EMAIL\]\n/);
});

t.test('obfuscated data is still found (normalised detection, original offsets)', async (t) => {
  const out = redactText('write to ｊａｎｅ@example.com now');
  t.equal(out, 'write to [REDACTED:EMAIL] now');
});
