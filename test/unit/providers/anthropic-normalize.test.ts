import t from 'tap';
import fc from 'fast-check';
import { AigovError } from '../../../src/errors.js';
import { getAdapter } from '../../../src/providers/families.js';
import type { NormalizedRequest } from '../../../src/providers/types.js';

const anthropic = getAdapter('anthropic');
const norm = (body: unknown, route = '/v1/messages'): NormalizedRequest =>
  anthropic.normalize({ route, provider: 'anthropic', body });

function invalid(fn: () => unknown): AigovError | null {
  try {
    fn();
    return null;
  } catch (err) {
    return err instanceof AigovError ? err : null;
  }
}

t.test('system, string and block content, tool_use input leaves, tool_result, documents', async (t) => {
  const body = {
    model: 'claude-sonnet-4-5',
    max_tokens: 1024,
    stream: false,
    metadata: { user_id: 'u-42' },
    system: [
      { type: 'text', text: 'system one', cache_control: { type: 'ephemeral', ttl: '5m' } },
      { type: 'text', text: 'system two' },
    ],
    messages: [
      { role: 'user', content: 'plain question' },
      {
        role: 'assistant',
        content: [
          { type: 'thinking', thinking: 'let me think', signature: 'c2lnbmF0dXJl' },
          { type: 'text', text: 'calling tool' },
          {
            type: 'tool_use',
            id: 'toolu_1',
            name: 'lookup',
            input: { id: 'customer id 987', type: 'vip', nested: [{ email: 'a@b.co' }], n: 5 },
          },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_1', content: 'result string' },
          {
            type: 'tool_result',
            tool_use_id: 'toolu_1',
            content: [
              { type: 'text', text: 'result block' },
              { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
            ],
          },
          { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: '/9j/4AAQ' } },
          {
            type: 'document',
            source: { type: 'text', media_type: 'text/plain', data: 'document body text' },
            title: 'Doc title',
            context: 'doc context',
          },
          { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' } },
          { type: 'brand_new_block', stuff: { words: 'hidden words' } },
        ],
      },
    ],
  };
  const req = norm(body);
  t.equal(req.family, 'anthropic');
  t.equal(req.model, 'claude-sonnet-4-5');
  t.equal(req.maxTokens, 1024);
  t.equal(req.stream, false);
  t.same(req.metadata, { user_id: 'u-42' });
  t.same(
    req.texts.map((s) => [s.role, s.text]),
    [
      ['system', 'system one'],
      ['system', 'system two'],
      ['user', 'plain question'],
      ['assistant', 'let me think'],
      ['assistant', 'calling tool'],
      ['assistant', 'customer id 987'],
      ['assistant', 'vip'],
      ['assistant', 'a@b.co'],
      ['tool', 'result string'],
      ['tool', 'result block'],
      ['user', 'document body text'],
      ['user', 'Doc title'],
      ['user', 'doc context'],
      ['user', 'hidden words'],
    ],
  );
  t.notMatch(req.prompt, /iVBOR|9j|JVBER|toolu_1|ephemeral|c2lnbmF0/, 'ids and base64 never scanned');
  for (const slot of req.texts) {
    let v: unknown = body;
    for (const seg of slot.path) v = (v as Record<string | number, unknown>)[seg];
    t.equal(v, slot.text, `path ${slot.path.join('.')}`);
  }
  t.same(req.texts[0]!.path, ['system', 0, 'text']);
  t.same(req.texts[5]!.path, ['messages', 1, 'content', 2, 'input', 'id']);
});

t.test('string system, count_tokens without max_tokens, stream flag', async (t) => {
  const req = norm(
    { model: 'm', system: 'be nice', messages: [{ role: 'user', content: 'x' }] },
    '/v1/messages/count_tokens',
  );
  t.same(req.texts[0], { path: ['system'], role: 'system', text: 'be nice' });
  t.equal(req.maxTokens, null);
  t.equal(req.route, '/v1/messages/count_tokens');
  t.equal(norm({ model: 'm', max_tokens: 5, stream: true, messages: [] }).stream, true);
});

t.test('malformed bodies', async (t) => {
  const cases: [unknown, RegExp][] = [
    [42, /expected a JSON object/],
    [{ model: 'm', max_tokens: 10 }, /messages/],
    [{ model: ['m'], max_tokens: 10, messages: [] }, /model: expected a string/],
    [{ model: 'm', max_tokens: -5, messages: [] }, /max_tokens: expected a non-negative integer/],
    [
      { model: 'm', max_tokens: 1e9, messages: [] },
      /max_tokens: expected a non-negative integer up to 10000000/,
    ],
    [
      { model: 'm', messages: [{ role: 'user', content: 3 }] },
      /messages\[0\]\.content: expected a string or an array/,
    ],
    [{ model: 'm', messages: [{ role: 'user', content: [{ text: 'no type' }] }] }, /messages\[0\]\.content/],
    [{ model: 'm', messages: [], system: 5 }, /system: expected a string or an array of text blocks/],
    [{ model: 'm', messages: [], stream: 1 }, /stream: expected a boolean/],
  ];
  for (const [body, message] of cases) {
    const err = invalid(() => norm(body));
    t.ok(err, `rejects ${JSON.stringify(body)}`);
    t.match(err, { code: 'invalid_request', status: 400, message });
  }
});

t.test('property: arbitrary JSON normalises or throws invalid_request', async (t) => {
  const json = fc.jsonValue({ maxDepth: 6 });
  const block = fc.oneof(
    json,
    fc.record(
      {
        type: fc.constantFrom('text', 'tool_use', 'tool_result', 'x'),
        text: json,
        input: json,
        content: json,
      },
      { requiredKeys: ['type'] },
    ),
  );
  const shaped = fc.record(
    {
      model: json,
      max_tokens: json,
      system: fc.oneof(json, fc.array(block)),
      messages: fc.oneof(json, fc.array(fc.record({ role: json, content: fc.oneof(json, fc.array(block)) }))),
    },
    { requiredKeys: [] },
  );
  fc.assert(
    fc.property(fc.oneof(json, shaped), (body) => {
      try {
        return typeof norm(body).prompt === 'string';
      } catch (err) {
        return err instanceof AigovError && err.code === 'invalid_request';
      }
    }),
    { numRuns: 2000 },
  );
  t.pass('2000 arbitrary bodies handled');
});
