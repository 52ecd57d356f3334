import t from 'tap';
import fc from 'fast-check';
import { SseParser, type SseEvent } from '../../../src/providers/sse.js';

function parseAll(
  chunks: (Buffer | string)[],
  maxEventSize?: number,
): { events: SseEvent[]; dropped: number } {
  const p = new SseParser(maxEventSize === undefined ? {} : { maxEventSize });
  const events: SseEvent[] = [];
  for (const c of chunks) events.push(...p.push(c));
  events.push(...p.end());
  return { events, dropped: p.droppedEvents };
}

t.test('parses OpenAI-style data-only events and [DONE]', async (t) => {
  const { events } = parseAll(['data: {"a":1}\n\ndata: {"b":2}\n\ndata: [DONE]\n\n']);
  t.same(events, [
    { event: null, data: '{"a":1}' },
    { event: null, data: '{"b":2}' },
    { event: null, data: '[DONE]' },
  ]);
});

t.test('named events, ids, multi-line data, comments, no-space values', async (t) => {
  const src =
    ': keep-alive\n' +
    'event: message_start\nid: 7\ndata: line1\ndata:line2\n\n' +
    'event: ping\ndata\n\n' +
    'retry: 100\nunknown: x\ndata: y\n\n';
  const { events } = parseAll([src]);
  t.same(events, [
    { event: 'message_start', data: 'line1\nline2', id: '7' },
    { event: 'ping', data: '' },
    { event: null, data: 'y' },
  ]);
});

t.test('an event with only an event field is not dispatched (spec)', async (t) => {
  const { events } = parseAll(['event: lonely\n\ndata: x\n\n']);
  t.same(events, [{ event: null, data: 'x' }]);
});

t.test('CRLF and CR line endings, including CR and LF in different chunks', async (t) => {
  t.same(parseAll(['data: a\r\n\r\ndata: b\r\rdata: c\n\n']).events, [
    { event: null, data: 'a' },
    { event: null, data: 'b' },
    { event: null, data: 'c' },
  ]);
  // "\r" at a chunk end followed by "\n": one line break, not an empty line in between.
  t.same(parseAll(['data: a\r', '\ndata: b\r', '\n\r', '\n']).events, [{ event: null, data: 'a\nb' }]);
});

t.test('multi-byte UTF-8 split inside a character', async (t) => {
  const bytes = Buffer.from('data: h€llo 😀\n\n');
  const chunks = [...bytes].map((b) => Buffer.from([b]));
  t.same(parseAll(chunks).events, [{ event: null, data: 'h€llo 😀' }]);
});

t.test('leading BOM is ignored', async (t) => {
  t.same(parseAll([Buffer.from('\uFEFFdata: x\n\n')]).events, [{ event: null, data: 'x' }]);
});

t.test('end() flushes an unterminated final event', async (t) => {
  const p = new SseParser();
  t.same(p.push('data: a\n\ndata: [DONE]'), [{ event: null, data: 'a' }]);
  t.same(p.end(), [{ event: null, data: '[DONE]' }]);
  t.same(p.end(), [], 'second end is empty');
});

t.test('oversize events are dropped whole and counted; parsing resumes', async (t) => {
  const big = 'x'.repeat(200);
  const src = `data: small\n\ndata: ${big}\ndata: more\n\nevent: e\ndata: after\n\n`;
  const whole = parseAll([src], 100);
  t.same(whole.events, [
    { event: null, data: 'small' },
    { event: 'e', data: 'after' },
  ]);
  t.equal(whole.dropped, 1);
  // Same result when the huge line arrives in small chunks (it never fully buffers).
  const pieces: string[] = [];
  for (let i = 0; i < src.length; i += 7) pieces.push(src.slice(i, i + 7));
  const split = parseAll(pieces, 100);
  t.same(split.events, whole.events);
  t.equal(split.dropped, 1);
  // Oversize reached across several lines of one event.
  const multi = parseAll(['data: ' + 'y'.repeat(60) + '\ndata: ' + 'z'.repeat(60) + '\n\ndata: ok\n\n'], 100);
  t.same(multi.events, [{ event: null, data: 'ok' }]);
  t.equal(multi.dropped, 1);
});

t.test('long line in many chunks stays linear-ish (no quadratic blow-up)', async (t) => {
  const line = 'data: ' + 'a'.repeat(500_000) + '\n\n';
  const chunks: string[] = [];
  for (let i = 0; i < line.length; i += 64) chunks.push(line.slice(i, i + 64));
  const { events } = parseAll(chunks);
  t.equal(events.length, 1);
  t.equal(events[0]!.data.length, 500_000);
});

const lineText = fc
  .string({ unit: 'binary', maxLength: 20 })
  .filter((s) => !/[\r\n]/.test(s) && Buffer.from(s).toString() === s);

const eventArb = fc.record({
  event: fc.option(lineText, { nil: null }),
  id: fc.option(
    lineText.filter((s) => !s.includes('\0')),
    { nil: undefined },
  ),
  data: fc.array(lineText, { minLength: 1, maxLength: 4 }),
  comment: fc.boolean(),
});

t.test('property: any byte split yields the events of the source', async (t) => {
  fc.assert(
    fc.property(
      fc.array(eventArb, { maxLength: 6 }),
      fc.constantFrom('\n', '\r\n', '\r'),
      fc.array(fc.nat(), { maxLength: 10 }),
      (evs, eol, cuts) => {
        let src = '';
        const expected: SseEvent[] = [];
        for (const e of evs) {
          if (e.comment) src += `: note${eol}`;
          if (e.event !== null) src += `event: ${e.event}${eol}`;
          if (e.id !== undefined) src += `id: ${e.id}${eol}`;
          for (const d of e.data) src += `data: ${d}${eol}`;
          src += eol;
          const ex: SseEvent = { event: e.event, data: e.data.join('\n') };
          if (e.id !== undefined) ex.id = e.id;
          expected.push(ex);
        }
        const bytes = Buffer.from(src);
        const points = [...new Set(cuts.map((c) => (bytes.length === 0 ? 0 : c % bytes.length)))].sort(
          (a, b) => a - b,
        );
        const chunks: Buffer[] = [];
        let prev = 0;
        for (const p of points) {
          chunks.push(bytes.subarray(prev, p));
          prev = p;
        }
        chunks.push(bytes.subarray(prev));
        const got = parseAll(chunks).events;
        return JSON.stringify(got) === JSON.stringify(expected);
      },
    ),
    { numRuns: 300 },
  );
  t.pass('300 random streams and splits matched');
});
