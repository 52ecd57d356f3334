import t from 'tap';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startProxy } from '../../support/proxy.js';

/**
 * Malformed requests are refused with a provider-shaped 400 before anything is forwarded, and
 * leave an audit row whenever the key was valid (a bad key is a 401 whatever the body).
 */
t.test('malformed bodies', async (t) => {
  const h = await startProxy({ overrides: { server: { body_limit_bytes: 64 * 1024 } } });
  t.teardown(() => h.close());

  interface Case {
    name: string;
    path: string;
    body: string;
    code: string;
    message: RegExp;
    contentType?: string;
    status?: number;
  }
  const anth = (m: unknown, extra: Record<string, unknown> = {}): string =>
    JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 16, messages: m, ...extra });
  const cases: Case[] = [
    {
      name: 'invalid JSON',
      path: '/v1/chat/completions',
      body: '{"model": "gpt-4o", "messages": [',
      code: 'invalid_json',
      message: /not valid JSON/,
    },
    {
      name: 'invalid JSON (anthropic)',
      path: '/v1/messages',
      body: '{"model": ',
      code: 'invalid_json',
      message: /not valid JSON/,
    },
    {
      name: 'messages not an array',
      path: '/v1/chat/completions',
      body: JSON.stringify({ model: 'gpt-4o', messages: 'hello' }),
      code: 'invalid_request',
      message: /messages: expected an array of messages/,
    },
    {
      name: 'messages not an array (anthropic)',
      path: '/v1/messages',
      body: anth({ role: 'user', content: 'hi' }),
      code: 'invalid_request',
      message: /messages/,
    },
    {
      name: 'max_tokens negative',
      path: '/v1/chat/completions',
      body: JSON.stringify({ model: 'gpt-4o', max_tokens: -5, messages: [{ role: 'user', content: 'hi' }] }),
      code: 'invalid_request',
      message: /max_tokens: expected a non-negative integer/,
    },
    {
      name: 'max_tokens negative (anthropic)',
      path: '/v1/messages',
      body: anth([{ role: 'user', content: 'hi' }], { max_tokens: -1 }),
      code: 'invalid_request',
      message: /max_tokens/,
    },
    {
      name: 'a JSON array, not an object',
      path: '/v1/embeddings',
      body: '[1, 2, 3]',
      code: 'invalid_request',
      message: /expected a JSON object/,
    },
    {
      name: 'empty body',
      path: '/v1/chat/completions',
      body: '',
      code: 'invalid_json',
      message: /empty/,
    },
    {
      name: 'not JSON at all',
      path: '/v1/responses',
      body: 'model=gpt-4o',
      contentType: 'application/x-www-form-urlencoded',
      code: 'unsupported_media_type',
      message: /Content-Type/,
      status: 415,
    },
    {
      name: 'body too large',
      path: '/v1/chat/completions',
      body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x'.repeat(100_000) }] }),
      code: 'body_too_large',
      message: /too large/,
      status: 413,
    },
    {
      name: 'nested deeper than 64 levels',
      path: '/v1/chat/completions',
      body: JSON.stringify({
        model: 'gpt-4o',
        messages: [{ role: 'user', content: 'hi' }],
        metadata: JSON.parse('{"a":'.repeat(70) + '1' + '}'.repeat(70)) as unknown,
      }),
      code: 'invalid_json',
      message: /nested deeper than 64 levels/,
    },
    {
      name: 'nested deeper than 64 levels (anthropic, arrays)',
      path: '/v1/messages',
      body: anth([{ role: 'user', content: JSON.parse('['.repeat(80) + ']'.repeat(80)) as unknown }]),
      code: 'invalid_json',
      message: /nested deeper than 64 levels/,
    },
  ];

  const before = h.mock.requests.length;
  const ids: string[] = [];
  for (const c of cases) {
    const res = await h.send(c.path, {
      body: c.body,
      headers: { 'content-type': c.contentType ?? 'application/json' },
    });
    t.equal(res.status, c.status ?? 400, `${c.name}: status`);
    const json = (await res.json()) as Record<string, unknown>;
    if (c.path === '/v1/messages')
      t.match(
        json,
        { type: 'error', error: { type: 'invalid_request_error', message: c.message } },
        `${c.name}: anthropic shape`,
      );
    else
      t.match(
        json,
        {
          error: {
            type: c.status === 413 ? 'request_too_large' : 'invalid_request_error',
            code: c.code,
            message: c.message,
            param: null,
          },
        },
        `${c.name}: openai shape`,
      );
    const id = res.headers.get('x-request-id');
    t.ok(id, `${c.name}: request id`);
    ids.push(id ?? '');
  }
  t.equal(h.mock.requests.length, before, 'nothing was forwarded');

  t.test('each refusal left an audit row with the key', async (t) => {
    for (const [i, c] of cases.entries()) {
      const row = (await h.rows(`request_id = '${ids[i]}'`))[0];
      t.ok(row, `${c.name}: audit row`);
      t.match(
        row,
        { status_code: c.status ?? 400, decision: 'block', error: c.code, key_id: h.keyId, route: c.path },
        c.name,
      );
    }
  });

  t.test('validation issues are listed (OpenAI shape: error.details)', async (t) => {
    const res = await h.send('/v1/chat/completions', {
      body: { model: 'gpt-4o', max_tokens: -1, messages: [{ role: 7 }] },
    });
    const body = (await res.json()) as { error: { details?: { path: string; message: string }[] } };
    t.ok(Array.isArray(body.error.details));
    const paths = (body.error.details ?? []).map((d) => d.path);
    t.ok(paths.includes('max_tokens') && paths.includes('messages[0].role'), `paths ${paths.join(',')}`);
  });

  t.test('a bad key with a bad body is a 401: authentication comes first', async (t) => {
    const res = await h.send('/v1/chat/completions', { body: '{"nope', auth: 'aigov_wrong' });
    t.equal(res.status, 401);
    t.match(await res.json(), { error: { type: 'authentication_error' } });
    const row = (await h.rows(`request_id = '${res.headers.get('x-request-id')}'`))[0];
    t.match(row, { status_code: 401, key_id: null, decision: 'block' });
  });

  t.test('the SDKs raise BadRequestError', async (t) => {
    const openai = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.key, maxRetries: 0 });
    const err = await openai.chat.completions
      .create({ model: 'gpt-4o', max_tokens: -1, messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    t.ok(err instanceof OpenAI.BadRequestError, String(err));
    const anthropic = new Anthropic({ baseURL: h.url, apiKey: h.key, maxRetries: 0 });
    const aerr = await anthropic.messages
      .create({ model: 'claude-sonnet-4-5', max_tokens: -1, messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    t.ok(aerr instanceof Anthropic.BadRequestError, String(aerr));
    t.equal(h.mock.requests.length, before, 'still nothing forwarded');
  });
});
