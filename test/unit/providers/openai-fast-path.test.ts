import t from 'tap';
import fc from 'fast-check';
import { chatBody, isPlainChat, normalizeOpenAI } from '../../../src/providers/openai/normalize.js';

/**
 * The chat body's hand-written fast check may only be stricter than the zod schema: every body it
 * accepts, zod accepts too, and the request normalises the same either way.
 */
const valid = {
  model: 'gpt-4o-mini',
  stream: false,
  max_tokens: 64,
  metadata: { team: 'a' },
  messages: [
    { role: 'system', content: 'be brief' },
    { role: 'user', content: [{ type: 'text', text: 'hello' }], name: 'bob' },
    { role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function' }] },
  ],
};

const fieldValues: Record<string, unknown[]> = {
  model: [undefined, 'm', 1, null, {}],
  stream: [undefined, null, true, 'yes', 0],
  max_tokens: [undefined, null, 0, 64, 10_000_000, 10_000_001, -1, 1.5, '64', Number.MAX_SAFE_INTEGER + 2],
  max_completion_tokens: [undefined, null, 5, -5, 'x'],
  max_output_tokens: [undefined, 7, 2.5],
  metadata: [undefined, null, {}, { a: 1 }, [], 'x', 3],
  messages: [undefined, null, [], 'hi', {}, [null], ['x'], [[]]],
};

const messageValues: Record<string, unknown[]> = {
  role: [undefined, 'user', 1, null],
  content: [undefined, null, 'text', [], [{ type: 'text', text: 'x' }], ['x'], [null], [[]], 3, {}],
  name: [undefined, 'n', 1, null],
  tool_calls: [undefined, null, [], [{}], ['x'], {}, 'x'],
};

function withField(base: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> {
  const copy = { ...base };
  if (value === undefined) delete copy[key];
  else copy[key] = value;
  return copy;
}

t.test('the fast check never accepts what the schema refuses', async (t) => {
  const bodies: unknown[] = [valid, null, [], 'x', 1, {}];
  for (const [key, values] of Object.entries(fieldValues))
    for (const v of values) bodies.push(withField(valid, key, v));
  const user = valid.messages[1] as Record<string, unknown>;
  for (const [key, values] of Object.entries(messageValues))
    for (const v of values) bodies.push({ ...valid, messages: [withField(user, key, v)] });

  let fast = 0;
  let refused = 0;
  for (const body of bodies) {
    const zodOk = chatBody.safeParse(body).success;
    if (!zodOk) refused++;
    if (isPlainChat(body)) {
      fast++;
      t.ok(zodOk, `zod accepts what the fast check accepted: ${JSON.stringify(body)}`);
    }
  }
  // Both branches were exercised: the corpus has bodies of each kind.
  t.ok(fast > 20, `${fast} bodies took the fast path`);
  t.ok(refused > 20, `${refused} bodies are refused by the schema`);
});

t.test('fast path and schema normalise a body the same', async (t) => {
  const input = { provider: 'openai', route: '/v1/chat/completions', body: valid, metadata: {} };
  const viaFast = normalizeOpenAI(input);
  const parsed = chatBody.parse(valid);
  const viaSchema = normalizeOpenAI({ ...input, body: parsed });
  t.same(viaFast, viaSchema);
  t.equal(viaFast.texts.length, 3);
  t.equal(viaFast.maxTokens, 64);
});

t.test('an invalid body still gets the precise 400', async (t) => {
  const input = {
    provider: 'openai',
    route: '/v1/chat/completions',
    body: { ...valid, max_tokens: -1 },
    metadata: {},
  };
  t.throws(() => normalizeOpenAI(input), { code: 'invalid_request', message: /max_tokens/ });
});

t.test('property: any JSON-shaped body the fast check accepts, the schema accepts', async (t) => {
  const value = fc.oneof(
    fc.constant(undefined),
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -2, max: 10_000_002 }),
    fc.double({ noNaN: true }),
    fc.string({ maxLength: 4 }),
    fc.constant([]),
    fc.constant({}),
    fc.array(fc.oneof(fc.constant({ type: 'text' }), fc.string({ maxLength: 2 }), fc.constant(null)), {
      maxLength: 2,
    }),
  );
  // Mostly well-formed values, so both outcomes of the fast check come up often.
  const likely = <T>(good: fc.Arbitrary<T>): fc.Arbitrary<unknown> =>
    fc.oneof({ arbitrary: good, weight: 6 }, { arbitrary: value, weight: 1 });
  const parts = fc.array(fc.constant({ type: 'text', text: 'x' }), { maxLength: 2 });
  const message = fc.record(
    {
      role: likely(fc.constantFrom('user', 'system')),
      content: likely(fc.oneof(fc.string({ maxLength: 3 }), parts, fc.constant(null))),
      name: likely(fc.constant(undefined)),
      tool_calls: likely(fc.constant(undefined)),
    },
    { requiredKeys: [] },
  );
  const limit = likely(fc.oneof(fc.constant(undefined), fc.nat({ max: 10_000_000 })));
  const body = fc.record(
    {
      model: likely(fc.string({ maxLength: 3 })),
      stream: likely(fc.boolean()),
      max_tokens: limit,
      max_completion_tokens: limit,
      max_output_tokens: limit,
      metadata: likely(fc.constant(undefined)),
      messages: likely(fc.array(message, { maxLength: 3 })),
    },
    { requiredKeys: ['messages'] },
  );
  let fast = 0;
  fc.assert(
    fc.property(body, (b) => {
      const json: unknown = JSON.parse(JSON.stringify(b));
      if (!isPlainChat(json)) return true;
      fast++;
      return chatBody.safeParse(json).success;
    }),
    { numRuns: 3000 },
  );
  t.ok(fast > 300, `${fast} generated bodies took the fast path`);
});
