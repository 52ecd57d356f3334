import t from 'tap';
import fc from 'fast-check';
import { AigovError } from '../../../src/errors.js';
import { getAdapter } from '../../../src/providers/families.js';
import type { NormalizedRequest } from '../../../src/providers/types.js';

/** The subtest type, taken from t.test's callback. */
type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

const openai = getAdapter('openai');
const norm = (route: string, body: unknown, metadata?: Record<string, string>): NormalizedRequest =>
  openai.normalize({ route, provider: 'openai', body, ...(metadata ? { metadata } : {}) });

function rejects(t: TapTest, fn: () => unknown, message: RegExp): void {
  try {
    fn();
    t.fail('expected invalid_request');
  } catch (err) {
    t.type(err, AigovError);
    t.match(err, { code: 'invalid_request', status: 400, message });
    t.ok(Array.isArray((err as AigovError).details), 'zod issues as details');
  }
}

/** Every slot's path must lead to exactly its text in the body (redaction relies on it). */
function checkPaths(t: TapTest, body: unknown, req: NormalizedRequest): void {
  for (const slot of req.texts) {
    let v: unknown = body;
    for (const seg of slot.path) v = (v as Record<string | number, unknown>)[seg];
    t.equal(v, slot.text, `path ${slot.path.join('.')}`);
  }
}

t.test('chat: strings, content parts, names, tool calls, tool results', async (t) => {
  const body = {
    model: 'gpt-4o',
    max_completion_tokens: 200,
    stream: true,
    metadata: { app: 'billing', n: 3 },
    messages: [
      { role: 'developer', content: 'be brief' },
      { role: 'system', content: [{ type: 'text', text: 'sys part' }] },
      {
        role: 'user',
        name: 'alice',
        content: [
          { type: 'text', text: 'look at this' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA', detail: 'low' } },
          { type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } },
          { type: 'future_part', payload: { note: 'hidden 123-45-6789' } },
        ],
      },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{"email":"x@y.com"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_1', content: 'secret result' },
    ],
  };
  const req = norm('/v1/chat/completions', body);
  t.equal(req.model, 'gpt-4o');
  t.equal(req.family, 'openai');
  t.equal(req.maxTokens, 200);
  t.equal(req.stream, true);
  t.same(req.metadata, { app: 'billing' });
  t.same(
    req.texts.map((s) => [s.role, s.text]),
    [
      ['system', 'be brief'],
      ['system', 'sys part'],
      ['user', 'alice'],
      ['user', 'look at this'],
      ['user', 'hidden 123-45-6789'],
      ['assistant', 'lookup'],
      ['assistant', '{"email":"x@y.com"}'],
      ['tool', 'secret result'],
    ],
  );
  t.notMatch(req.prompt, /base64|UklGRg|call_1|low|wav/, 'ids, enums and binary payloads are not text');
  t.match(req.prompt, /hidden 123-45-6789/, 'unknown part types are still scanned');
  checkPaths(t, body, req);
  // Document order: the caller's own object is walked, not a schema-ordered copy.
  t.same(req.texts[2]!.path, ['messages', 2, 'name']);
  t.same(req.texts[3]!.path, ['messages', 2, 'content', 0, 'text']);
});

t.test('max tokens fields: the largest wins; null and absent mean null', async (t) => {
  t.equal(
    norm('/v1/chat/completions', { model: 'm', messages: [], max_tokens: 10, max_completion_tokens: 50 })
      .maxTokens,
    50,
  );
  t.equal(norm('/v1/chat/completions', { model: 'm', messages: [], max_tokens: null }).maxTokens, null);
  t.equal(norm('/v1/chat/completions', { model: 'm', messages: [] }).maxTokens, null);
  t.equal(norm('/v1/responses', { model: 'm', input: 'x', max_output_tokens: 0 }).maxTokens, 0);
});

t.test('completions prompt and embeddings input: strings yes, token arrays no', async (t) => {
  t.same(norm('/v1/completions', { model: 'm', prompt: 'once upon', suffix: 'the end' }).texts, [
    { path: ['prompt'], role: 'user', text: 'once upon' },
    { path: ['suffix'], role: 'user', text: 'the end' },
  ]);
  t.same(
    norm('/v1/completions', { model: 'm', prompt: ['a', 'b'] }).texts.map((s) => s.path),
    [
      ['prompt', 0],
      ['prompt', 1],
    ],
  );
  t.same(norm('/v1/completions', { model: 'm', prompt: [1, 2, 3] }).texts, []);
  const emb = norm('/v1/embeddings', { model: 'text-embedding-3-small', input: ['doc one', 'doc two'] });
  t.same(
    emb.texts.map((s) => [s.role, s.text]),
    [
      ['input', 'doc one'],
      ['input', 'doc two'],
    ],
  );
  t.equal(emb.prompt, 'doc one\ndoc two');
  t.same(norm('/v1/embeddings', { model: 'm', input: [[1, 2], [3]] }).texts, []);
  t.same(norm('/v1/embeddings', { model: 'm', input: 'solo' }).texts[0]!.path, ['input']);
});

t.test('responses: instructions, string input, item input with parts and tool output', async (t) => {
  const body = {
    model: 'gpt-4.1',
    instructions: 'you are helpful',
    max_output_tokens: 300,
    input: [
      {
        role: 'user',
        content: [
          { type: 'input_text', text: 'first' },
          { type: 'input_image', image_url: 'data:image/png;base64,QQ==' },
        ],
      },
      { type: 'function_call', call_id: 'c1', name: 'f', arguments: '{"q":"ssn 123-45-6789"}' },
      { type: 'function_call_output', call_id: 'c1', output: 'tool says hi' },
      { role: 'assistant', content: 'earlier answer' },
    ],
  };
  const req = norm('/v1/responses', body);
  t.equal(req.maxTokens, 300);
  t.same(
    req.texts.map((s) => [s.role, s.text]),
    [
      ['system', 'you are helpful'],
      ['user', 'first'],
      ['assistant', 'f'],
      ['assistant', '{"q":"ssn 123-45-6789"}'],
      ['tool', 'tool says hi'],
      ['assistant', 'earlier answer'],
    ],
  );
  checkPaths(t, body, req);
  t.same(norm('/v1/responses', { model: 'm', input: 'just text' }).texts, [
    { path: ['input'], role: 'user', text: 'just text' },
  ]);
});

t.test('explicit metadata wins over body metadata; non-string values are dropped', async (t) => {
  const req = norm(
    '/v1/chat/completions',
    { model: 'm', messages: [], metadata: { a: '1', b: '2', c: true } },
    { b: 'x' },
  );
  t.same(req.metadata, { a: '1', b: 'x' });
});

t.test('unknown route: every string outside model/metadata is text', async (t) => {
  const req = norm('/v1/whatever', { model: 'm', foo: { bar: ['hidden'] }, metadata: { k: 'v' } });
  t.same(req.texts, [{ path: ['foo', 'bar', 0], role: 'other', text: 'hidden' }]);
});

t.test('malformed bodies are invalid_request with a clear one-line message', async (t) => {
  rejects(t, () => norm('/v1/chat/completions', 'nope'), /expected a JSON object/);
  rejects(t, () => norm('/v1/chat/completions', null), /expected a JSON object/);
  rejects(t, () => norm('/v1/chat/completions', [1]), /expected a JSON object/);
  rejects(t, () => norm('/v1/chat/completions', { model: 5, messages: [] }), /model: expected a string/);
  rejects(
    t,
    () => norm('/v1/chat/completions', { model: 'm', messages: 'hi' }),
    /messages: expected an array/,
  );
  rejects(t, () => norm('/v1/chat/completions', { model: 'm' }), /messages/);
  rejects(
    t,
    () => norm('/v1/chat/completions', { model: 'm', messages: ['hi'] }),
    /messages\[0\]: expected a message object/,
  );
  rejects(
    t,
    () => norm('/v1/chat/completions', { model: 'm', messages: [{ role: 'user', content: 42 }] }),
    /messages\[0\]\.content: expected a string, an array of content part objects, or null/,
  );
  rejects(
    t,
    () => norm('/v1/chat/completions', { model: 'm', messages: [{ role: 'user', content: ['bare'] }] }),
    /messages\[0\]\.content/,
  );
  for (const bad of [-1, 1.5, '100', 10_000_001, true]) {
    rejects(
      t,
      () => norm('/v1/chat/completions', { model: 'm', messages: [], max_tokens: bad }),
      /max_tokens: expected a non-negative integer/,
    );
  }
  rejects(
    t,
    () => norm('/v1/chat/completions', { model: 'm', messages: [], stream: 'yes' }),
    /stream: expected a boolean/,
  );
  rejects(t, () => norm('/v1/completions', { model: 'm', prompt: { a: 1 } }), /prompt: expected a string/);
  rejects(t, () => norm('/v1/embeddings', { model: 'm', input: [true] }), /input/);
  rejects(t, () => norm('/v1/responses', { model: 'm', input: 7 }), /input: expected a string or an array/);
});

t.test('deeply nested unknown parts neither overflow nor escape the scan', async (t) => {
  let deep: unknown = 'bottom secret';
  for (let i = 0; i < 100_000; i++) deep = { x: deep };
  const req = norm('/v1/chat/completions', {
    model: 'm',
    messages: [{ role: 'user', content: [{ type: 'weird', deep }] }],
  });
  t.equal(req.prompt, 'bottom secret');
  t.equal(req.texts[0]!.path.length, 100_000 + 5);
});

t.test('property: any JSON value normalises or throws AigovError invalid_request', async (t) => {
  const routes = ['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/responses', '/v1/other'];
  const json = fc.jsonValue({ maxDepth: 6 });
  const shaped = fc.record(
    {
      model: fc.oneof(fc.string(), json),
      messages: fc.array(
        fc.record({ role: fc.oneof(fc.constant('user'), json), content: json }, { requiredKeys: [] }),
      ),
      prompt: json,
      input: json,
      max_tokens: json,
      stream: json,
      metadata: json,
    },
    { requiredKeys: [] },
  );
  fc.assert(
    fc.property(fc.constantFrom(...routes), fc.oneof(json, shaped), (route, body) => {
      try {
        const req = norm(route, body);
        return typeof req.prompt === 'string' && req.texts.every((s) => typeof s.text === 'string');
      } catch (err) {
        return err instanceof AigovError && err.code === 'invalid_request';
      }
    }),
    { numRuns: 2000 },
  );
  t.pass('2000 arbitrary bodies handled');
});

t.test('inferRoute picks the API from the body shape', async (t) => {
  t.equal(openai.inferRoute({ messages: [] }), '/v1/chat/completions');
  t.equal(openai.inferRoute({ prompt: 'x' }), '/v1/completions');
  t.equal(openai.inferRoute({ model: 'text-embedding-3-small', input: 'x' }), '/v1/embeddings');
  t.equal(openai.inferRoute({ model: 'gpt-4.1', input: 'x' }), '/v1/responses');
});
