import t from 'tap';
import { request } from 'undici';
import { startProxy } from '../../support/proxy.js';

/** Attempts to reach an ungoverned path, or to slip content past the detectors. */
const POLICIES = [
  'version: 1',
  'rules:',
  '  - id: no-pii',
  '    when: { detect: [ssn, credit_card] }',
  '    action: block',
  '  - id: no-secrets',
  '    when: { detect: [api_secret] }',
  '    action: block',
  '',
].join('\n');

t.test('bypass attempts', async (t) => {
  const h = await startProxy({
    policies: POLICIES,
    overrides: { admin: { token: 'admin-token-0123456789abcdef' } },
  });
  t.teardown(h.close);
  const auth = { authorization: `Bearer ${h.key}`, 'content-type': 'application/json' };
  const send = async (
    path: string,
    body: unknown,
    method = 'POST',
    headers: Record<string, string> = auth,
  ) => {
    const res = await request(`${h.url}${path}`, {
      method: method as 'POST',
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.statusCode, text: await res.body.text() };
  };

  await t.test('path tricks never reach the admin API or an ungoverned upstream path', async (t) => {
    const plain = { model: 'gpt-4o', messages: [{ role: 'user', content: 'ssn 123-45-6789' }] };
    for (const path of [
      '/v1/../admin/keys',
      '/v1/%2e%2e/admin/keys',
      '/v1/%252e%252e/admin/keys',
      '/%2e%2e/admin/keys',
      '//v1/chat/completions',
      '/v1//chat/completions',
      '/v1/chat/completions/',
      '/V1/CHAT/COMPLETIONS',
      '/v1/chat%2Fcompletions',
      '/v1/chat/completions%00',
      '/v1/chat/completions;x=1',
      '/openai/../v1/chat/completions',
      '/openai/v1/../../admin/keys',
      '/v1/chat/completions#/admin/keys',
    ]) {
      const before = h.mock.requests.length;
      const res = await send(path, plain);
      t.not(res.status, 200, `${path} -> ${res.status}`);
      t.notMatch(res.text, /"keys"|aigov_[A-Za-z0-9]{12}_/, `${path}: no admin data`);
      t.equal(h.mock.requests.length, before, `${path}: nothing forwarded`);
    }
    // The admin API itself never accepts a caller key.
    const adminWithKey = await send('/admin/keys', undefined, 'GET', { authorization: `Bearer ${h.key}` });
    t.equal(adminWithKey.status, 401);
    // A query string cannot change the route or smuggle a second one.
    const before = h.mock.requests.length;
    const q = await send('/v1/chat/completions?path=/v1/models&x=%0d%0aHost:evil', plain);
    t.equal(q.status, 403, 'still governed: blocked by no-pii');
    t.equal(h.mock.requests.length, before);
  });

  await t.test('streaming requests are governed exactly like plain ones', async (t) => {
    const before = h.mock.requests.length;
    const res = await send('/v1/chat/completions', {
      model: 'gpt-4o',
      stream: true,
      messages: [{ role: 'user', content: 'card 4111 1111 1111 1111' }],
    });
    t.equal(res.status, 403);
    const anthropic = await send('/v1/messages', {
      model: 'claude-sonnet-4-5',
      max_tokens: 10,
      stream: true,
      messages: [{ role: 'user', content: 'ssn 123-45-6789' }],
    });
    t.equal(anthropic.status, 403);
    t.equal(h.mock.requests.length, before);
  });

  await t.test('content hidden in alternative fields is seen by detectors', async (t) => {
    const secret = 'sk-proj-' + 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0';
    const bodies: [string, unknown][] = [
      [
        '/v1/chat/completions',
        { model: 'gpt-4o', messages: [{ role: 'tool', tool_call_id: 'x', content: 'ssn 123-45-6789' }] },
      ],
      [
        '/v1/chat/completions',
        {
          model: 'gpt-4o',
          messages: [
            {
              role: 'user',
              content: [
                { type: 'text', text: 'hi' },
                { type: 'text', text: secret },
              ],
            },
          ],
        },
      ],
      [
        '/v1/chat/completions',
        {
          model: 'gpt-4o',
          messages: [
            {
              role: 'assistant',
              tool_calls: [
                { id: 'c', type: 'function', function: { name: 'f', arguments: `{"ssn":"123-45-6789"}` } },
              ],
            },
          ],
        },
      ],
      ['/v1/embeddings', { model: 'text-embedding-3-small', input: ['fine', 'ssn 123-45-6789'] }],
      [
        '/v1/responses',
        { model: 'gpt-4o', input: [{ role: 'user', content: [{ type: 'input_text', text: secret }] }] },
      ],
      ['/v1/responses', { model: 'gpt-4o', instructions: 'card 4111-1111-1111-1111', input: 'hi' }],
      [
        '/v1/messages',
        {
          model: 'claude-sonnet-4-5',
          max_tokens: 10,
          messages: [
            {
              role: 'user',
              content: [
                {
                  type: 'tool_result',
                  tool_use_id: 't',
                  content: [{ type: 'text', text: 'ssn 123-45-6789' }],
                },
              ],
            },
          ],
        },
      ],
      [
        '/v1/messages',
        {
          model: 'claude-sonnet-4-5',
          max_tokens: 10,
          system: [{ type: 'text', text: secret }],
          messages: [{ role: 'user', content: 'hi' }],
        },
      ],
      [
        '/v1/messages',
        {
          model: 'claude-sonnet-4-5',
          max_tokens: 10,
          messages: [
            {
              role: 'user',
              content: [
                { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
                { type: 'text', text: 'caption: card 4111 1111 1111 1111' },
              ],
            },
          ],
        },
      ],
      [
        '/v1/chat/completions',
        {
          model: 'gpt-4o',
          messages: [
            {
              role: 'user',
              content: [
                { type: 'image_url', image_url: { url: 'https://example.com/x.png' } },
                { type: 'future_part', caption: 'ssn 123-45-6789' },
              ],
            },
          ],
        },
      ],
    ];
    for (const [path, body] of bodies) {
      const before = h.mock.requests.length;
      const res = await send(path, body);
      t.equal(res.status, 403, `${path} ${JSON.stringify(body).slice(0, 100)}`);
      t.equal(h.mock.requests.length, before);
    }
  });

  await t.test('obfuscated PII is still detected', async (t) => {
    for (const text of [
      'ssn 123\u200b-45\u200c-6789',
      'card ４１１１ １１１１ １１１１ １１１１',
      'card 4111 1111 1111 1111',
      'card 4111-1111-1111-1111',
      'card 4\u200d111111111111111',
      'ssn １２３-４５-６７８９',
    ]) {
      const before = h.mock.requests.length;
      const res = await send('/v1/chat/completions', {
        model: 'gpt-4o',
        messages: [{ role: 'user', content: text }],
      });
      t.equal(res.status, 403, JSON.stringify(text));
      t.equal(h.mock.requests.length, before);
    }
  });

  await t.test('a request that cannot be normalised is refused, not forwarded ungoverned', async (t) => {
    const before = h.mock.requests.length;
    for (const body of [
      { model: 'gpt-4o', messages: 'ssn 123-45-6789' },
      { model: ['gpt-4o'], messages: [{ role: 'user', content: 'hi' }] },
      { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 'lots' },
    ]) {
      const res = await send('/v1/chat/completions', body);
      t.equal(res.status, 400, JSON.stringify(body));
      t.match(JSON.parse(res.text), { error: { type: 'invalid_request_error' } });
    }
    const wrongType = await request(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.key}`, 'content-type': 'text/plain' },
      body: '{"model":"gpt-4o","messages":[]}',
    });
    t.equal(wrongType.statusCode, 415);
    await wrongType.body.dump();
    const gzip = await request(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...auth, 'content-encoding': 'gzip' },
      body: 'not really gzip',
    });
    t.ok(gzip.statusCode >= 400 && gzip.statusCode < 500, `unsupported encoding -> ${gzip.statusCode}`);
    await gzip.body.dump();
    t.equal(h.mock.requests.length, before);
  });

  await t.test('unknown routes and methods are 404/405 in the provider shape', async (t) => {
    t.equal((await send('/v1/fine_tuning/jobs', { x: 1 })).status, 404);
    const bare = { authorization: `Bearer ${h.key}` };
    t.equal((await send('/v1/vector_stores', undefined, 'GET', bare)).status, 404);
    t.equal((await send('/v1/chat/completions', undefined, 'GET', bare)).status, 405);
    t.equal((await send('/v1/chat/completions', undefined, 'DELETE', bare)).status, 405);
  });
});
