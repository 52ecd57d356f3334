import fc from 'fast-check';
import t from 'tap';
import { applyRedactions, normalizeForDetection, toOriginalSpan } from '../../../src/policy/index.js';

t.test('applyRedactions copies only the changed path', async (t) => {
  const body = {
    model: 'gpt-4o',
    system: 'sys a@b.com',
    messages: [
      { role: 'user', content: 'keep' },
      { role: 'user', content: [{ type: 'text', text: 'x a@b.com' }, { type: 'image' }] },
    ],
  };
  const out = applyRedactions(body, [
    { path: ['messages', 1, 'content', 0, 'text'], text: 'x [REDACTED:EMAIL]' },
    { path: ['system'], text: 'sys [REDACTED:EMAIL]' },
  ]) as typeof body;
  t.equal(out.system, 'sys [REDACTED:EMAIL]');
  t.same(out.messages[1]?.content, [{ type: 'text', text: 'x [REDACTED:EMAIL]' }, { type: 'image' }]);
  t.equal(out.messages[0], body.messages[0], 'untouched branch shared');
  t.not(out.messages, body.messages);
  t.equal(body.system, 'sys a@b.com', 'input not mutated');
  t.equal((body.messages[1]?.content as { text?: string }[])[0]?.text, 'x a@b.com');
});

t.test('applyRedactions is total: bad paths are skipped', async (t) => {
  const body = { a: [1, 'x'], s: 'str' };
  t.equal(applyRedactions(body, [{ path: ['missing', 0], text: 'y' }]), body);
  t.equal(applyRedactions(body, [{ path: ['a', 0], text: 'y' }]), body, 'not a string at the path');
  t.equal(applyRedactions(body, [{ path: ['a', 9], text: 'y' }]), body);
  t.equal(applyRedactions(body, [{ path: ['s', 'x'], text: 'y' }]), body);
  t.equal(applyRedactions(body, [{ path: [], text: 'y' }]), body, 'never replaces the whole body');
  t.equal(applyRedactions('raw', [{ path: ['a'], text: 'y' }]), 'raw');
  t.equal(applyRedactions(null, [{ path: ['a'], text: 'y' }]), null);
  t.same(applyRedactions(body, [{ path: ['a', 1], text: 'y' }]), { a: [1, 'y'], s: 'str' });
});

t.test('normalisation: fullwidth, zero-width, homoglyphs, offset map', async (t) => {
  const ascii = normalizeForDetection('plain text');
  t.equal(ascii.text, 'plain text');
  t.equal(ascii.starts, null, 'ASCII fast path allocates no map');
  const n = normalizeForDetection('ａ\u200bb\u00adс\uFEFFd😀е');
  t.equal(n.text, 'abcd😀e');
  t.same(toOriginalSpan(n, 0, 1), [0, 1]);
  t.same(toOriginalSpan(n, 1, 3), [2, 5], 'b..c spans the soft hyphen between them');
  t.same(toOriginalSpan(n, 4, 6), [7, 9], 'surrogate pair maps to two units');
  t.same(toOriginalSpan(n, 0, 7), [0, 10]);
  t.equal(normalizeForDetection('ﬁle').text, 'file', 'NFKC expands ligatures');
  t.equal(normalizeForDetection('ΑΒΕ αο').text, 'ABE ao', 'Greek look-alikes');
});

t.test('property: mapped spans always cover the original characters', async (t) => {
  const chars = fc.constantFrom('a', '1', ' ', '\u200b', 'ｂ', 'о', '😀', 'ﬁ', '\u00ad', '@', 'é');
  fc.assert(
    fc.property(fc.array(chars, { maxLength: 40 }), (parts) => {
      const original = parts.join('');
      const n = normalizeForDetection(original);
      for (let s = 0; s < n.text.length; s++) {
        for (let e = s + 1; e <= n.text.length; e++) {
          const [os, oe] = toOriginalSpan(n, s, e);
          if (!(os >= 0 && os < oe && oe <= original.length)) return false;
          // Every normalised char comes from inside the mapped original range.
          if (normalizeForDetection(original.slice(os, oe)).text.indexOf(n.text.slice(s, e)) === -1)
            return false;
        }
      }
      return true;
    }),
    { numRuns: 200 },
  );
  t.pass('spans map inside the original');
});
