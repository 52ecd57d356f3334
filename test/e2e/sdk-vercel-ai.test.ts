import t from 'tap';
import { APICallError, embed, generateText, streamText } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { DEFAULT_REPLY } from '../support/mock-provider.js';
import { OPENAI_PROVIDER_KEY, mockHeader, startProxy } from '../support/proxy.js';
import { sdkPolicies } from '../support/sdk-policies.js';

/**
 * The Vercel AI SDK (`ai` + `@ai-sdk/openai`) pointed at the proxy with createOpenAI({ baseURL }).
 * `openai(model)` speaks the responses API, `openai.chat(model)` chat completions: both are covered.
 */
const POLICIES = sdkPolicies(1);

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => null,
    (e: unknown) => e,
  );
}

t.test('the Vercel AI SDK through the proxy', async (t) => {
  const h = await startProxy({ policies: POLICIES });
  t.teardown(() => h.close());
  const openai = createOpenAI({ baseURL: `${h.url}/v1`, apiKey: h.key });

  t.test('generateText on chat completions and on the responses API', async (t) => {
    const chat = await generateText({ model: openai.chat('gpt-4o'), prompt: 'Say hello', maxRetries: 0 });
    t.equal(chat.text, DEFAULT_REPLY);
    t.ok((chat.usage.totalTokens ?? 0) > 0, 'usage reported to the SDK');
    t.equal(h.mock.requests.at(-1)?.path, '/v1/chat/completions');
    t.equal(h.mock.requests.at(-1)?.headers['authorization'], `Bearer ${OPENAI_PROVIDER_KEY}`);

    const responses = await generateText({ model: openai('gpt-4o'), prompt: 'Say hello', maxRetries: 0 });
    t.equal(responses.text, DEFAULT_REPLY);
    t.equal(h.mock.requests.at(-1)?.path, '/v1/responses');
  });

  t.test('streamText on chat completions and on the responses API', async (t) => {
    for (const model of [openai.chat('gpt-4o'), openai('gpt-4o')]) {
      const errors: unknown[] = [];
      const result = streamText({
        model,
        prompt: 'Say hello',
        maxRetries: 0,
        onError: ({ error }) => {
          errors.push(error);
        },
      });
      let text = '';
      let parts = 0;
      for await (const delta of result.textStream) {
        text += delta;
        parts++;
      }
      t.equal(text, DEFAULT_REPLY, `${model.modelId} via ${h.mock.requests.at(-1)?.path}`);
      t.ok(parts > 1, 'arrived in more than one part');
      t.same(errors, []);
      const usage = await result.usage;
      t.ok((usage.totalTokens ?? 0) > 0, 'the SDK still gets usage from the stream');
    }
    const chatReq = h.mock.requests.find(
      (r) => r.path === '/v1/chat/completions' && JSON.stringify(r.body).includes('"stream":true'),
    );
    t.ok(chatReq, 'a streamed chat request reached the provider');
  });

  t.test('embed', async (t) => {
    const res = await embed({
      model: openai.textEmbeddingModel('text-embedding-3-small'),
      value: 'embed me',
      maxRetries: 0,
    });
    t.same(res.embedding, [0.1, 0.2, 0.3, 0.4]);
  });

  t.test('a blocked call raises APICallError 403 and reaches nobody', async (t) => {
    const before = h.mock.requests.length;
    const err = await rejection(
      generateText({ model: openai.chat('gpt-4o'), prompt: 'My SSN is 123-45-6789', maxRetries: 0 }),
    );
    t.ok(APICallError.isInstance(err), `raised ${String(err)}`);
    const e = err as APICallError;
    t.equal(e.statusCode, 403);
    t.match(e.message, /SSNs may not be sent/);
    t.equal(e.isRetryable, false);

    const errors: unknown[] = [];
    const result = streamText({
      model: openai('gpt-4o'),
      prompt: 'SSN 123-45-6789',
      maxRetries: 0,
      onError: ({ error }) => {
        errors.push(error);
      },
    });
    let text = '';
    for await (const delta of result.textStream) text += delta;
    t.equal(text, '');
    t.equal(errors.length, 1, 'streamText reports the refusal through onError');
    t.equal((errors[0] as APICallError).statusCode, 403);
    t.equal(h.mock.requests.length, before, 'the mock received nothing');
  });

  t.test('a redacted call: the provider receives the redacted text', async (t) => {
    const res = await generateText({
      model: openai.chat('gpt-4o'),
      prompt: 'Write to bob@example.com today',
      headers: mockHeader({ echo: true }),
      maxRetries: 0,
    });
    t.equal(res.text, 'Write to [REDACTED:EMAIL] today');
    const sent = JSON.stringify(h.mock.requests.at(-1)?.body);
    t.notMatch(sent, /bob@example\.com/);
  });

  t.test('a bad key raises APICallError 401', async (t) => {
    const bad = createOpenAI({ baseURL: `${h.url}/v1`, apiKey: 'aigov_nope' });
    const err = await rejection(generateText({ model: bad.chat('gpt-4o'), prompt: 'hi', maxRetries: 0 }));
    t.ok(APICallError.isInstance(err));
    t.equal((err as APICallError).statusCode, 401);
  });

  t.test('a limit refusal raises APICallError 429, retryable', async (t) => {
    const limited = createOpenAI({ baseURL: `${h.url}/v1`, apiKey: await h.newKey({ tags: ['limited'] }) });
    await generateText({ model: limited.chat('gpt-4o'), prompt: 'hi', maxRetries: 0 });
    const err = await rejection(generateText({ model: limited.chat('gpt-4o'), prompt: 'hi', maxRetries: 0 }));
    t.ok(APICallError.isInstance(err));
    const e = err as APICallError;
    t.equal(e.statusCode, 429);
    t.equal(e.isRetryable, true);
    t.ok(Number(e.responseHeaders?.['retry-after']) >= 1);
  });
});
