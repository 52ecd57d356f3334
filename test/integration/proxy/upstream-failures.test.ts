import t from 'tap';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { closedPort, mockHeader, startProxy } from '../../support/proxy.js';

/**
 * When the provider fails: connect refused, 5xx, no first byte, a reset mid-stream, an idle
 * stream. Each is a provider-shaped 502/504 (or an error event once streaming), each leaves an
 * audit row with its status and error, and none leaves an unhandled rejection behind.
 */
t.test('upstream failures', async (t) => {
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown): void => {
    unhandled.push(e);
  };
  process.on('unhandledRejection', onUnhandled);
  t.teardown(() => {
    process.off('unhandledRejection', onUnhandled);
  });

  const dead = `http://127.0.0.1:${await closedPort()}`;
  const h = await startProxy({
    // The built-in providers point at the mock; short timeouts so hangs end quickly.
    timeouts: { first_byte: 1_500, idle: 1_500 },
    extraProviders: [
      { name: 'dead', family: 'openai', base_url: dead, api_key_env: 'OPENAI_API_KEY' },
      { name: 'dead-claude', family: 'anthropic', base_url: dead, api_key_env: 'ANTHROPIC_API_KEY' },
      {
        name: 'flaky',
        family: 'openai',
        base_url: dead,
        api_key_env: 'OPENAI_API_KEY',
        fallbacks: ['dead', 'anthropic', 'openai'],
      },
      {
        name: 'flaky-claude',
        family: 'anthropic',
        base_url: dead,
        api_key_env: 'ANTHROPIC_API_KEY',
        fallbacks: ['anthropic'],
      },
    ],
  });
  t.teardown(() => h.close());

  const openai = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.key, maxRetries: 0 });
  const anthropic = new Anthropic({ baseURL: h.url, apiKey: h.key, maxRetries: 0 });
  const chat = { model: 'gpt-4o', messages: [{ role: 'user' as const, content: 'hi' }] };
  const msg = {
    model: 'claude-sonnet-4-5',
    max_tokens: 16,
    messages: [{ role: 'user' as const, content: 'hi' }],
  };
  const rowOf = async (res: Response): Promise<Record<string, unknown> | undefined> =>
    (await h.rows(`request_id = '${res.headers.get('x-request-id')}'`))[0];

  t.test('connect refused: 502 in the provider shape', async (t) => {
    const res = await h.send('/dead/v1/chat/completions', { body: chat });
    t.equal(res.status, 502);
    t.match(await res.json(), {
      error: { type: 'api_error', code: 'upstream_error', message: /dead.*ECONNREFUSED/ },
    });
    t.match(await rowOf(res), {
      status_code: 502,
      decision: 'error',
      error: 'upstream_error',
      provider: 'dead',
    });

    const ares = await h.send('/dead-claude/v1/messages', { body: msg });
    t.equal(ares.status, 502);
    t.match(await ares.json(), { type: 'error', error: { type: 'api_error' } });

    const sdkErr = await new OpenAI({
      baseURL: `${h.url}/dead/v1`,
      apiKey: h.key,
      maxRetries: 0,
    }).chat.completions
      .create(chat)
      .catch((e: unknown) => e);
    t.ok(sdkErr instanceof OpenAI.InternalServerError, `the SDK raises ${String(sdkErr)}`);
  });

  t.test('fallbacks: a provider that refuses connections is skipped for the next one', async (t) => {
    const before = h.mock.requests.length;
    const res = await h.send('/flaky/v1/chat/completions', { body: chat });
    t.equal(res.status, 200);
    t.match(await res.json(), { choices: [{ message: { content: 'Hello from the mock provider.' } }] });
    t.equal(h.mock.requests.length, before + 1, 'exactly one request reached a live provider');
    t.equal(
      h.mock.requests.at(-1)?.path,
      '/v1/chat/completions',
      'the anthropic fallback (other family) was skipped',
    );
    t.match(await rowOf(res), { status_code: 200, provider: 'openai', route: '/flaky/v1/chat/completions' });

    const stream = await new OpenAI({
      baseURL: `${h.url}/flaky/v1`,
      apiKey: h.key,
      maxRetries: 0,
    }).chat.completions.create({
      ...chat,
      stream: true,
    });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    t.equal(text, 'Hello from the mock provider.', 'streams fall back too');

    const m = await new Anthropic({
      baseURL: `${h.url}/flaky-claude`,
      apiKey: h.key,
      maxRetries: 0,
    }).messages.create(msg);
    t.equal(m.content[0]?.type, 'text', 'anthropic fallback');
  });

  t.test('upstream 500 becomes 502; an upstream 4xx passes through', async (t) => {
    const res = await h.send('/v1/chat/completions', {
      body: chat,
      headers: mockHeader({ fail: { status: 500 } }),
    });
    t.equal(res.status, 502);
    t.match(await res.json(), { error: { type: 'api_error', message: /returned 500/ } });
    t.match(await rowOf(res), { status_code: 502, decision: 'error', error: 'upstream_error' });

    const aerr = await anthropic.messages
      .create(msg, { headers: mockHeader({ fail: { status: 503 } }) })
      .catch((e: unknown) => e);
    t.ok(aerr instanceof Anthropic.InternalServerError, `anthropic SDK: ${String(aerr)}`);
    t.equal((aerr as InstanceType<typeof Anthropic.InternalServerError>).status, 502);

    const limited = await openai.chat.completions
      .create(chat, { headers: mockHeader({ fail: { status: 429, headers: { 'retry-after': '7' } } }) })
      .catch((e: unknown) => e);
    t.ok(limited instanceof OpenAI.RateLimitError, 'the provider’s own 429 reaches the SDK as one');
    t.equal((limited as InstanceType<typeof OpenAI.RateLimitError>).headers.get('retry-after'), '7');
    const rows = await h.rows(`status_code = 429`);
    t.match(rows[0], { error: 'upstream_429' });
  });

  t.test('no first byte within first_byte: 504', async (t) => {
    const start = performance.now();
    const res = await h.send('/v1/chat/completions', { body: chat, headers: mockHeader({ hang: true }) });
    t.equal(res.status, 504);
    t.match(await res.json(), {
      error: { code: 'upstream_timeout', message: /timed out waiting for the first byte/ },
    });
    t.ok(performance.now() - start < 30_000, 'ended by the configured timeout, not a default');
    t.match(await rowOf(res), { status_code: 504, decision: 'error', error: 'upstream_timeout' });

    const streamRes = await h.send('/v1/messages', {
      body: { ...msg, stream: true },
      headers: mockHeader({ slowFirstByte: 8_000 }),
    });
    t.equal(streamRes.status, 504, 'a stream whose status line never comes');
    t.match(await streamRes.json(), { type: 'error', error: { type: 'api_error' } });
  });

  t.test('reset before the answer: 502', async (t) => {
    const res = await h.send('/v1/chat/completions', { body: chat, headers: mockHeader({ reset: true }) });
    t.equal(res.status, 502);
    t.match(await rowOf(res), { status_code: 502, decision: 'error' });
  });

  t.test('reset mid-stream: the SDK raises, the row says what happened', async (t) => {
    let seen = '';
    const err = await (async () => {
      const stream = await openai.chat.completions.create(
        { ...chat, stream: true },
        { headers: mockHeader({ resetAfterChunks: 2, chunks: 5 }) },
      );
      for await (const c of stream) seen += c.choices[0]?.delta.content ?? '';
    })().catch((e: unknown) => e);
    t.ok(err instanceof OpenAI.APIError, `openai SDK raised ${String(err)}`);
    t.ok(seen.length > 0, 'the chunks before the reset arrived');

    const aerr = await (async () => {
      const stream = await anthropic.messages.create(
        { ...msg, stream: true },
        { headers: mockHeader({ resetAfterChunks: 2, chunks: 5 }) },
      );
      for await (const _ of stream) void _;
    })().catch((e: unknown) => e);
    t.ok(aerr instanceof Anthropic.APIError, `anthropic SDK raised ${String(aerr)}`);

    const rows = await h.rows(`stream AND error LIKE '%UND_ERR_SOCKET%'`);
    t.equal(rows.length, 2);
    for (const r of rows) {
      t.equal(r['status_code'], 502, 'the status the error event carried');
      t.equal(r['decision'], 'error');
      t.match(String(r['error']), /failed/);
    }
  });

  t.test('a stream that goes quiet longer than idle: the SDK raises a timeout error', async (t) => {
    const err = await (async () => {
      const stream = await openai.chat.completions.create(
        { ...chat, stream: true },
        { headers: mockHeader({ chunkDelayMs: 8_000, chunks: 3 }) },
      );
      for await (const _ of stream) void _;
    })().catch((e: unknown) => e);
    t.ok(err instanceof OpenAI.APIError, `raised ${String(err)}`);
    t.match(String((err as Error).message), /timed out waiting for the next chunk/);
    const rows = await h.rows(`stream AND error LIKE '%next chunk%'`);
    t.equal(rows.length, 1);
    t.match(rows[0], { decision: 'error', status_code: 504 });
  });

  t.test('nothing was left unhandled', async (t) => {
    await new Promise((r) => setTimeout(r, 100));
    t.same(unhandled, []);
    const health = await h.send('/health', { auth: false });
    t.equal(health.status, 200, 'the proxy still serves');
  });
});
