import t from 'tap';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { DEFAULT_REPLY, startMockProvider } from '../../support/mock-provider.js';

async function errorOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  return new Error('expected a rejection');
}

t.test('mock provider speaks OpenAI to the real SDK', async (t) => {
  const mock = await startMockProvider();
  t.teardown(() => mock.close());
  const client = new OpenAI({ apiKey: 'sk-test', baseURL: `${mock.url}/v1`, maxRetries: 0 });

  const chat = await client.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'hi there' }],
  });
  t.equal(chat.choices[0]?.message.content, DEFAULT_REPLY);
  t.ok(chat.usage && chat.usage.prompt_tokens > 0 && chat.usage.completion_tokens > 0);
  const rec = mock.requests.at(-1)!;
  t.equal(rec.path, '/v1/chat/completions');
  t.equal(rec.headers['authorization'], 'Bearer sk-test');
  t.match(rec.body, { model: 'gpt-4o-mini' });

  const stream = await client.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'hi' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let usageChunks = 0;
  let chunks = 0;
  for await (const c of stream) {
    chunks++;
    text += c.choices[0]?.delta.content ?? '';
    if (c.usage) usageChunks++;
  }
  t.equal(text, DEFAULT_REPLY);
  t.equal(usageChunks, 1, 'one usage chunk when include_usage');
  t.equal(chunks, 5 + 1 + 1, 'default 5 content chunks + finish + usage');

  const noUsage = await client.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'hi' }],
    stream: true,
  });
  let sawUsage = false;
  for await (const c of noUsage) if (c.usage) sawUsage = true;
  t.notOk(sawUsage, 'no usage without include_usage');

  const completion = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'x' });
  t.equal(completion.choices[0]?.text, DEFAULT_REPLY);

  const emb = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['a', 'b'] });
  t.equal(emb.data.length, 2);
  t.ok(emb.usage.prompt_tokens > 0);

  const resp = await client.responses.create({ model: 'gpt-4o-mini', input: 'hello' });
  t.equal(resp.output_text, DEFAULT_REPLY);
  t.ok((resp.usage?.input_tokens ?? 0) > 0);

  const rstream = await client.responses.create({ model: 'gpt-4o-mini', input: 'hello', stream: true });
  let rtext = '';
  let completedUsage = 0;
  for await (const ev of rstream) {
    if (ev.type === 'response.output_text.delta') rtext += ev.delta;
    if (ev.type === 'response.completed') completedUsage = ev.response.usage?.output_tokens ?? 0;
  }
  t.equal(rtext, DEFAULT_REPLY);
  t.ok(completedUsage > 0);

  const models = await client.models.list();
  t.ok(models.data.some((m) => m.id === 'gpt-4o-mini'));
});

t.test('mock provider speaks Anthropic to the real SDK', async (t) => {
  const mock = await startMockProvider({ behavior: { reply: 'Contact bob@example.com' } });
  t.teardown(() => mock.close());
  const client = new Anthropic({ apiKey: 'ak-test', baseURL: mock.url, maxRetries: 0 });
  const msg = await client.messages.create({
    model: 'claude-sonnet-4-5',
    max_tokens: 100,
    messages: [{ role: 'user', content: 'hi' }],
  });
  t.same(msg.content, [{ type: 'text', text: 'Contact bob@example.com' }]);
  t.ok(msg.usage.input_tokens > 0);
  t.equal(mock.requests.at(-1)!.headers['x-api-key'], 'ak-test');

  const final = await client.messages
    .stream({ model: 'claude-sonnet-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] })
    .finalMessage();
  t.same(final.content, [{ type: 'text', text: 'Contact bob@example.com' }]);
  t.ok(final.usage.output_tokens > 1, 'message_delta output usage applied');

  const counted = await client.messages.countTokens({
    model: 'claude-sonnet-4-5',
    messages: [{ role: 'user', content: 'hello world hello' }],
  });
  t.ok(counted.input_tokens > 0);

  const models = await client.models.list();
  t.equal(models.data[0]?.id, 'claude-sonnet-4-5');
});

t.test('echo, per-request header behaviour, fixed usage, omitUsage', async (t) => {
  const mock = await startMockProvider();
  t.teardown(() => mock.close());
  const client = new OpenAI({ apiKey: 'k', baseURL: `${mock.url}/v1`, maxRetries: 0 });
  const echoed = await client.chat.completions.create(
    { model: 'm', messages: [{ role: 'user', content: 'mail me at a@b.co' }] },
    { headers: { 'x-mock-behavior': JSON.stringify({ echo: true, usage: { prompt: 7, completion: 3 } }) } },
  );
  t.equal(echoed.choices[0]?.message.content, 'mail me at a@b.co');
  t.same(echoed.usage, { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 });

  mock.setBehavior({ omitUsage: true });
  const bare = await client.chat.completions.create({
    model: 'm',
    messages: [{ role: 'user', content: 'x' }],
  });
  t.equal(bare.usage, undefined);
  mock.resetBehavior();
  const back = await client.chat.completions.create({
    model: 'm',
    messages: [{ role: 'user', content: 'x' }],
  });
  t.ok(back.usage);
});

t.test('failure modes surface as the SDK errors', async (t) => {
  const mock = await startMockProvider();
  t.teardown(() => mock.close());
  const client = new OpenAI({ apiKey: 'k', baseURL: `${mock.url}/v1`, maxRetries: 0, timeout: 300 });
  const anthropic = new Anthropic({ apiKey: 'k', baseURL: mock.url, maxRetries: 0 });
  const body = { model: 'm', messages: [{ role: 'user' as const, content: 'x' }] };

  mock.setBehavior({ fail: { status: 429, headers: { 'retry-after': '1' } } });
  t.type(await errorOf(client.chat.completions.create(body)), OpenAI.RateLimitError);
  t.type(await errorOf(anthropic.messages.create({ ...body, max_tokens: 5 })), Anthropic.RateLimitError);
  mock.setBehavior({ fail: { status: 500, body: { error: { message: 'boom', type: 'x' } } } });
  t.match(await errorOf(client.chat.completions.create(body)), { status: 500, message: /boom/ });

  mock.setBehavior({ fail: null, hang: true });
  t.type(await errorOf(client.chat.completions.create(body)), OpenAI.APIConnectionTimeoutError);

  mock.setBehavior({ hang: false, reset: true });
  t.type(await errorOf(client.chat.completions.create(body)), OpenAI.APIConnectionError);

  mock.setBehavior({ reset: false, resetAfterChunks: 2, chunks: 5 });
  const s = await client.chat.completions.create({ ...body, stream: true });
  let got = 0;
  await t.rejects(
    (async () => {
      for await (const _c of s) got++;
    })(),
  );
  t.equal(got, 2, 'two chunks arrived before the reset');
});

t.test('timing knobs: slow first byte and chunk delay (lower bounds only)', async (t) => {
  const mock = await startMockProvider({ record: false });
  t.teardown(() => mock.close());
  const client = new OpenAI({ apiKey: 'k', baseURL: `${mock.url}/v1`, maxRetries: 0 });
  const body = { model: 'm', messages: [{ role: 'user' as const, content: 'x' }] };
  mock.setBehavior({ slowFirstByte: 150 });
  let start = performance.now();
  await client.chat.completions.create(body);
  t.ok(performance.now() - start >= 140, 'first byte waited');

  mock.setBehavior({ slowFirstByte: 0, chunkDelayMs: 40, chunks: 6 });
  start = performance.now();
  const s = await client.chat.completions.create({ ...body, stream: true });
  for await (const _c of s) {
    // drain
  }
  t.ok(performance.now() - start >= 5 * 40 - 10, 'five gaps between six chunks');
  t.equal(mock.requests.length, 0, 'recording disabled');
});
