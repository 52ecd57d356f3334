import t from 'tap';
import { getAdapter } from '../../../src/providers/families.js';
import { serializeSseEvent, SseParser, type SseEvent } from '../../../src/providers/sse.js';
import { startMockProvider } from '../../support/mock-provider.js';

const openai = getAdapter('openai');
const anthropic = getAdapter('anthropic');
const UNKNOWN = { promptTokens: null, completionTokens: null, totalTokens: null };

const ev = (data: unknown, event: string | null = null): SseEvent => ({
  event,
  data: typeof data === 'string' ? data : JSON.stringify(data),
});

t.test('openai usage from bodies', async (t) => {
  t.same(
    openai.usageFromBody('/v1/chat/completions', {
      usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
    }),
    {
      promptTokens: 10,
      completionTokens: 5,
      totalTokens: 15,
    },
  );
  t.same(openai.usageFromBody('/v1/responses', { usage: { input_tokens: 3, output_tokens: 4 } }), {
    promptTokens: 3,
    completionTokens: 4,
    totalTokens: 7,
  });
  t.same(openai.usageFromBody('/v1/embeddings', { usage: { prompt_tokens: 8, total_tokens: 8 } }), {
    promptTokens: 8,
    completionTokens: 0,
    totalTokens: 8,
  });
  t.same(
    openai.usageFromBody('/v1/chat/completions', { usage: { prompt_tokens: 8 } }),
    {
      promptTokens: 8,
      completionTokens: null,
      totalTokens: null,
    },
    'a missing count stays unknown, never 0',
  );
  for (const body of [
    null,
    'x',
    {},
    { usage: null },
    { usage: { prompt_tokens: -1, completion_tokens: 1.5 } },
  ]) {
    t.same(
      openai.usageFromBody('/v1/chat/completions', body),
      UNKNOWN,
      `unknown for ${JSON.stringify(body)}`,
    );
  }
});

t.test('anthropic usage from bodies: cache tokens count as prompt', async (t) => {
  t.same(
    anthropic.usageFromBody('/v1/messages', {
      usage: {
        input_tokens: 10,
        cache_creation_input_tokens: 100,
        cache_read_input_tokens: 1000,
        output_tokens: 7,
      },
    }),
    { promptTokens: 1110, completionTokens: 7, totalTokens: 1117, cachedTokens: 1000, cacheWriteTokens: 100 },
  );
  t.same(anthropic.usageFromBody('/v1/messages', { usage: { output_tokens: 7 } }), {
    promptTokens: null,
    completionTokens: 7,
    totalTokens: null,
  });
  t.same(anthropic.usageFromBody('/v1/messages', { content: [] }), UNKNOWN);
  t.same(
    anthropic.usageFromBody('/v1/messages/count_tokens', { input_tokens: 50 }),
    {
      promptTokens: 0,
      completionTokens: 0,
      totalTokens: 0,
    },
    'counting tokens is free',
  );
});

t.test('prepareBody injects include_usage for openai streams and hides the extra chunk', async (t) => {
  const body = {
    model: 'm',
    messages: [{ role: 'user', content: 'hi' }],
    stream: true,
    stream_options: { foo: 1 },
  };
  const req = openai.normalize({ route: '/v1/chat/completions', provider: 'openai', body });
  const prepared = openai.prepareBody(req, body);
  t.equal(prepared.changed, true);
  t.equal(prepared.clientWantsUsage, false);
  t.same(prepared.body['stream_options'], { foo: 1, include_usage: true });
  t.same(body.stream_options, { foo: 1 }, 'the input body is not mutated');

  const asked = { ...body, stream_options: { include_usage: true } };
  const p2 = openai.prepareBody(
    openai.normalize({ route: '/v1/chat/completions', provider: 'openai', body: asked }),
    asked,
  );
  t.same([p2.changed, p2.clientWantsUsage], [false, true]);

  const plain = { model: 'm', messages: [] };
  const p3 = openai.prepareBody(
    openai.normalize({ route: '/v1/chat/completions', provider: 'openai', body: plain }),
    plain,
  );
  t.same([p3.changed, p3.clientWantsUsage], [false, true], 'non-stream untouched');

  const resp = { model: 'm', input: 'x', stream: true };
  const p4 = openai.prepareBody(
    openai.normalize({ route: '/v1/responses', provider: 'openai', body: resp }),
    resp,
  );
  t.equal(p4.changed, false, 'responses streams always report usage');

  const off = getAdapter('openai', { injectStreamUsage: false });
  t.equal(off.prepareBody(req, body).changed, false);

  const a = { model: 'c', max_tokens: 5, messages: [], stream: true };
  t.same(
    anthropic.prepareBody(anthropic.normalize({ route: '/v1/messages', provider: 'anthropic', body: a }), a),
    {
      body: a,
      changed: false,
      clientWantsUsage: true,
    },
  );
});

t.test('openai chat stream tracker: text per choice, usage, [DONE], usage chunk hidden', async (t) => {
  const tracker = openai.createStreamTracker({ clientWantsUsage: false, route: '/v1/chat/completions' });
  const forwarded: boolean[] = [];
  for (const e of [
    ev({ choices: [{ index: 0, delta: { role: 'assistant', content: 'Hel' } }], usage: null }),
    ev({ choices: [{ index: 1, delta: { content: 'Other' } }], usage: null }),
    ev({ choices: [{ index: 0, delta: { content: 'lo' } }], usage: null }),
    ev({
      choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '{"a":' } }] } }],
      usage: null,
    }),
    ev({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage: null }),
    ev({ choices: [], usage: { prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 } }),
    ev('not json'),
  ]) {
    forwarded.push(tracker.onEvent(e).forward);
  }
  t.equal(tracker.finished(), false);
  forwarded.push(tracker.onEvent(ev('[DONE]')).forward);
  t.same(
    forwarded,
    [true, true, true, true, true, false, true, true],
    'only the usage-only chunk is held back',
  );
  t.same(tracker.usage(), { promptTokens: 9, completionTokens: 4, totalTokens: 13 });
  t.equal(tracker.text(), 'Hello{"a":\nOther');
  t.equal(tracker.finished(), true);

  const wants = openai.createStreamTracker({ clientWantsUsage: true });
  t.equal(
    wants.onEvent(ev({ choices: [], usage: { prompt_tokens: 1, completion_tokens: 1 } })).forward,
    true,
  );
  const compat = openai.createStreamTracker({ clientWantsUsage: false });
  t.equal(
    compat.onEvent(ev({ choices: [{ index: 0, delta: { content: 'x' } }], usage: { prompt_tokens: 1 } }))
      .forward,
    true,
    'usage riding on a content chunk is forwarded',
  );
  t.same(openai.createStreamTracker().usage(), UNKNOWN, 'no usage seen: unknown');
});

t.test('openai responses and legacy completions streams', async (t) => {
  const r = openai.createStreamTracker({ route: '/v1/responses' });
  r.onEvent(ev({ type: 'response.created', response: { usage: null } }, 'response.created'));
  r.onEvent(
    ev({ type: 'response.output_text.delta', output_index: 0, delta: 'Hi ' }, 'response.output_text.delta'),
  );
  r.onEvent(
    ev({ type: 'response.output_text.delta', output_index: 0, delta: 'there' }, 'response.output_text.delta'),
  );
  t.equal(r.finished(), false);
  r.onEvent(
    ev({
      type: 'response.completed',
      response: { usage: { input_tokens: 5, output_tokens: 2, total_tokens: 7 } },
    }),
  );
  t.equal(r.text(), 'Hi there');
  t.same(r.usage(), { promptTokens: 5, completionTokens: 2, totalTokens: 7 });
  t.equal(r.finished(), true);

  const c = openai.createStreamTracker({ route: '/v1/completions' });
  c.onEvent(ev({ choices: [{ index: 0, text: 'ab' }] }));
  c.onEvent(ev({ choices: [{ index: 0, text: 'c' }] }));
  t.equal(c.text(), 'abc');
});

t.test('anthropic stream tracker', async (t) => {
  const a = anthropic.createStreamTracker();
  const events: SseEvent[] = [
    ev(
      {
        type: 'message_start',
        message: { usage: { input_tokens: 20, cache_read_input_tokens: 5, output_tokens: 1 } },
      },
      'message_start',
    ),
    ev(
      { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
      'content_block_start',
    ),
    ev({ type: 'ping' }, 'ping'),
    ev(
      { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hello ' } },
      'content_block_delta',
    ),
    ev(
      { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'world' } },
      'content_block_delta',
    ),
    ev(
      { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"q":1}' } },
      'content_block_delta',
    ),
    ev(
      { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 12 } },
      'message_delta',
    ),
  ];
  for (const e of events) t.equal(a.onEvent(e).forward, true);
  t.equal(a.finished(), false);
  a.onEvent(ev({ type: 'message_stop' }, 'message_stop'));
  t.equal(a.finished(), true);
  t.same(a.usage(), { promptTokens: 25, completionTokens: 12, totalTokens: 37, cachedTokens: 5 });
  t.equal(a.text(), 'Hello world\n{"q":1}');
  const cut = anthropic.createStreamTracker();
  cut.onEvent(events[0]!);
  t.same(
    cut.usage(),
    { promptTokens: 25, completionTokens: 1, totalTokens: 26, cachedTokens: 5 },
    'partial stream: last known',
  );
  t.same(anthropic.createStreamTracker().usage(), UNKNOWN);
});

async function runStream(
  url: string,
  path: string,
  body: unknown,
  family: 'openai' | 'anthropic',
  clientWantsUsage: boolean,
): Promise<{ tracker: ReturnType<typeof openai.createStreamTracker>; forwarded: string }> {
  const res = await fetch(url + path, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });
  const tracker = getAdapter(family).createStreamTracker({ clientWantsUsage, route: path });
  const parser = new SseParser();
  let forwarded = '';
  const reader = res.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    const evs = done ? parser.end() : parser.push(Buffer.from(value));
    for (const e of evs) if (tracker.onEvent(e).forward) forwarded += serializeSseEvent(e);
    if (done) break;
  }
  return { tracker, forwarded };
}

t.test('end to end against the mock: parser + tracker over real streams', async (t) => {
  const mock = await startMockProvider({
    behavior: { reply: 'The quick brown fox', chunks: 7, usage: { prompt: 11, completion: 6 } },
  });
  t.teardown(() => mock.close());
  const chatBody = { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true };
  const req = openai.normalize({ route: '/v1/chat/completions', provider: 'openai', body: chatBody });
  const prepared = openai.prepareBody(req, chatBody);
  const chat = await runStream(
    mock.url,
    '/v1/chat/completions',
    prepared.body,
    'openai',
    prepared.clientWantsUsage,
  );
  t.equal(chat.tracker.text(), 'The quick brown fox');
  t.same(chat.tracker.usage(), { promptTokens: 11, completionTokens: 6, totalTokens: 17 });
  t.ok(chat.tracker.finished());
  t.notMatch(chat.forwarded, /"usage":\{/, 'client never sees the usage it did not ask for');
  t.match(chat.forwarded, /data: \[DONE\]/);

  const resp = await runStream(
    mock.url,
    '/v1/responses',
    { model: 'gpt-4o', input: 'x', stream: true },
    'openai',
    true,
  );
  t.equal(resp.tracker.text(), 'The quick brown fox');
  t.same(resp.tracker.usage(), {
    promptTokens: 11,
    completionTokens: 6,
    totalTokens: 17,
    cachedTokens: 0,
    reasoningTokens: 0,
  });
  t.ok(resp.tracker.finished());

  const msg = await runStream(
    mock.url,
    '/v1/messages',
    { model: 'claude-haiku-4-5', max_tokens: 50, messages: [], stream: true },
    'anthropic',
    true,
  );
  t.equal(msg.tracker.text(), 'The quick brown fox');
  t.same(msg.tracker.usage(), { promptTokens: 11, completionTokens: 6, totalTokens: 17 });
  t.ok(msg.tracker.finished());
});

t.test('response texts with paths', async (t) => {
  const chat = {
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: 'answer a',
          tool_calls: [{ function: { name: 'f', arguments: '{"x":1}' } }],
        },
      },
      { index: 1, message: { role: 'assistant', content: null, refusal: 'no' } },
    ],
  };
  t.same(openai.responseTexts('/v1/chat/completions', chat), [
    { path: ['choices', 0, 'message', 'content'], role: 'assistant', text: 'answer a' },
    {
      path: ['choices', 0, 'message', 'tool_calls', 0, 'function', 'arguments'],
      role: 'assistant',
      text: '{"x":1}',
    },
    { path: ['choices', 1, 'message', 'refusal'], role: 'assistant', text: 'no' },
  ]);
  t.same(openai.responseTexts('/v1/completions', { choices: [{ text: 'legacy' }] }), [
    { path: ['choices', 0, 'text'], role: 'assistant', text: 'legacy' },
  ]);
  t.same(
    openai.responseTexts('/v1/responses', {
      output: [
        { type: 'reasoning', summary: [] },
        { type: 'message', content: [{ type: 'output_text', text: 'resp text' }] },
        { type: 'function_call', arguments: '{}' },
      ],
    }),
    [
      { path: ['output', 1, 'content', 0, 'text'], role: 'assistant', text: 'resp text' },
      { path: ['output', 2, 'arguments'], role: 'assistant', text: '{}' },
    ],
  );
  t.same(
    anthropic.responseTexts('/v1/messages', {
      content: [
        { type: 'text', text: 'claude says' },
        { type: 'tool_use', id: 't', name: 'n', input: { email: 'e@x.io' } },
      ],
    }),
    [
      { path: ['content', 0, 'text'], role: 'assistant', text: 'claude says' },
      { path: ['content', 1, 'input', 'email'], role: 'assistant', text: 'e@x.io' },
    ],
  );
  t.same(openai.responseTexts('/v1/chat/completions', 'garbage'), []);
  t.same(anthropic.responseTexts('/v1/messages', { content: 'x' }), []);
});
