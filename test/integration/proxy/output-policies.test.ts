import t from 'tap';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { mockHeader, startProxy } from '../../support/proxy.js';

/** `on: response` rules: what the model says is checked before the caller sees it. */
const POLICIES = `version: 1
rules:
  - id: no-secret-out
    on: response
    when: { detect: [api_secret] }
    action: block
    message: "the model tried to reveal a secret"
  - id: mask-email-out
    on: response
    when: { detect: [email] }
    action: redact
`;

const SECRET = 'sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789';
const SECRET_REPLY = `Sure, the key is ${SECRET} and that is all.`;
const EMAIL_REPLY = 'Write to carol@example.org for access.';

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => null,
    (e: unknown) => e,
  );
}

t.test('output-side policies', async (t) => {
  const h = await startProxy({ policies: POLICIES });
  t.teardown(() => h.close());
  const openai = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.key, maxRetries: 0 });
  const anthropic = new Anthropic({ baseURL: h.url, apiKey: h.key, maxRetries: 0 });
  const chat = { model: 'gpt-4o', messages: [{ role: 'user' as const, content: 'tell me' }] };
  const msg = {
    model: 'claude-sonnet-4-5',
    max_tokens: 64,
    messages: [{ role: 'user' as const, content: 'tell me' }],
  };

  t.test('non-streamed block: a provider-shaped 403 instead of the answer', async (t) => {
    const res = await h.send('/v1/chat/completions', {
      body: chat,
      headers: mockHeader({ reply: SECRET_REPLY }),
    });
    t.equal(res.status, 403);
    const text = await res.text();
    t.notMatch(text, /sk-proj-/, 'the secret is not in the refusal');
    t.match(JSON.parse(text), {
      error: {
        type: 'permission_error',
        code: 'no-secret-out',
        message: 'the model tried to reveal a secret',
      },
    });
    t.equal(res.headers.get('x-aigov-decision'), 'block');
    t.equal(res.headers.get('x-aigov-policies'), 'no-secret-out');

    const aerr = await rejection(
      anthropic.messages.create(msg, { headers: mockHeader({ reply: SECRET_REPLY }) }),
    );
    t.ok(aerr instanceof Anthropic.PermissionDeniedError, `anthropic: ${String(aerr)}`);

    const rows = await h.rows(`status_code = 403`);
    t.equal(rows.length, 2);
    for (const r of rows) {
      t.equal(r['decision'], 'block');
      t.same(r['policy_ids'], ['no-secret-out']);
      t.match(r['reasons'], [{ policy: 'no-secret-out', action: 'block' }], 'the output block says why');
      t.ok(Number(r['total_tokens']) > 0, 'tokens the provider spent are still recorded');
    }
  });

  t.test('non-streamed redact: the answer is rewritten', async (t) => {
    const res = await openai.chat.completions.create(chat, { headers: mockHeader({ reply: EMAIL_REPLY }) });
    t.equal(res.choices[0]?.message.content, 'Write to [REDACTED:EMAIL] for access.');
    const r2 = await openai.responses.create(
      { model: 'gpt-4o', input: 'tell me' },
      { headers: mockHeader({ reply: EMAIL_REPLY }) },
    );
    t.equal(r2.output_text, 'Write to [REDACTED:EMAIL] for access.');
    const m = await anthropic.messages.create(msg, { headers: mockHeader({ reply: EMAIL_REPLY }) });
    const block = m.content[0];
    t.equal(block?.type === 'text' ? block.text : null, 'Write to [REDACTED:EMAIL] for access.');
    const raw = await h.send('/v1/chat/completions', {
      body: chat,
      headers: mockHeader({ reply: EMAIL_REPLY }),
    });
    t.equal(raw.headers.get('x-aigov-decision'), 'redact');
    t.equal(raw.headers.get('x-aigov-policies'), 'mask-email-out');
    t.ok(raw.headers.get('content-type')?.includes('application/json'));
    const body = (await raw.json()) as { choices: { message: { content: string } }[] };
    t.equal(body.choices[0]?.message.content, 'Write to [REDACTED:EMAIL] for access.');
  });

  t.test('streamed: the stream ends with an error event the SDK raises', async (t) => {
    for (const chunks of [1, 5]) {
      const headers = mockHeader({ reply: SECRET_REPLY, chunks });
      // openai chat completions
      let seen = '';
      const err = await rejection(
        (async () => {
          const stream = await openai.chat.completions.create({ ...chat, stream: true }, { headers });
          for await (const c of stream) seen += c.choices[0]?.delta.content ?? '';
        })(),
      );
      t.ok(err instanceof OpenAI.APIError, `chat, ${chunks} chunks: raised ${String(err)}`);
      t.match(String((err as Error).message), /the model tried to reveal a secret/);
      t.notOk(seen.includes(SECRET), `chat, ${chunks} chunks: the whole secret never reached the client`);

      // openai responses API
      let rseen = '';
      const rerr = await rejection(
        (async () => {
          const stream = await openai.responses.create(
            { model: 'gpt-4o', input: 'x', stream: true },
            { headers },
          );
          for await (const ev of stream) if (ev.type === 'response.output_text.delta') rseen += ev.delta;
        })(),
      );
      t.ok(rerr instanceof OpenAI.APIError, `responses, ${chunks} chunks: raised ${String(rerr)}`);
      t.notOk(rseen.includes(SECRET), 'responses: the whole secret never reached the client');

      // anthropic
      let aseen = '';
      const aerr = await rejection(
        (async () => {
          const stream = await anthropic.messages.create({ ...msg, stream: true }, { headers });
          for await (const ev of stream)
            if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') aseen += ev.delta.text;
        })(),
      );
      t.ok(aerr instanceof Anthropic.APIError, `anthropic, ${chunks} chunks: raised ${String(aerr)}`);
      t.match(String((aerr as Error).message), /the model tried to reveal a secret/);
      t.notOk(aseen.includes(SECRET), 'anthropic: the whole secret never reached the client');
    }
    // A redact rule cannot unsend streamed text: it ends the stream like a block.
    const rerr = await rejection(
      (async () => {
        const stream = await openai.chat.completions.create(
          { ...chat, stream: true },
          { headers: mockHeader({ reply: EMAIL_REPLY, chunks: 1 }) },
        );
        for await (const c of stream) t.notMatch(c.choices[0]?.delta.content ?? '', /carol@example\.org/);
      })(),
    );
    t.ok(rerr instanceof OpenAI.APIError, 'redact on a stream ends it');

    const rows = await h.rows(`stream AND status_code = 403`);
    t.equal(rows.length, 7, 'one row per ended stream');
    for (const r of rows) {
      t.equal(r['decision'], 'block');
      t.match(String(r['error']), /^policy_blocked:/);
      t.ok(Array.isArray(r['reasons']) && (r['reasons'] as unknown[]).length > 0, 'with its reasons');
    }
  });

  t.test('clean output streams untouched', async (t) => {
    const stream = await openai.chat.completions.create({ ...chat, stream: true });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    t.equal(text, 'Hello from the mock provider.');
  });
});
