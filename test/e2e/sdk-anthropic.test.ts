import t, { type Test } from 'tap';
import Anthropic from '@anthropic-ai/sdk';
import { DEFAULT_REPLY } from '../support/mock-provider.js';
import { sdkPolicies } from '../support/sdk-policies.js';
import {
  ANTHROPIC_PROVIDER_KEY,
  CALLER_CREDENTIAL_HEADERS,
  mockHeader,
  startProxy,
} from '../support/proxy.js';

/** The real @anthropic-ai/sdk pointed at the proxy: the base URL is the only change. */
const POLICIES = sdkPolicies(2);

const MODEL = 'claude-sonnet-4-5';

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => null,
    (e: unknown) => e,
  );
}

t.test('the Anthropic SDK through the proxy', async (t) => {
  const h = await startProxy({ policies: POLICIES });
  t.teardown(() => h.close());
  const client = new Anthropic({ baseURL: h.url, apiKey: h.key, maxRetries: 0 });

  const assertCredentials = (t: Test): void => {
    for (const req of h.mock.requests) {
      t.equal(req.headers['x-api-key'], ANTHROPIC_PROVIDER_KEY, `${req.path}: provider key`);
      for (const name of CALLER_CREDENTIAL_HEADERS)
        t.notOk(String(req.headers[name] ?? '').includes(h.key), `${req.path}: no aigov key in ${name}`);
      t.ok(req.headers['anthropic-version'], 'anthropic-version passed through');
    }
  };

  t.test('messages.create, plain', async (t) => {
    const msg = await client.messages.create({
      model: MODEL,
      max_tokens: 64,
      messages: [{ role: 'user', content: 'Say hello' }],
    });
    const block = msg.content[0];
    t.equal(block?.type === 'text' ? block.text : null, DEFAULT_REPLY);
    t.ok(msg.usage.input_tokens > 0 && msg.usage.output_tokens > 0);
    t.equal(h.mock.requests.at(-1)?.path, '/v1/messages');
    assertCredentials(t);
  });

  t.test('messages.create stream: true, and the messages.stream helper', async (t) => {
    const stream = await client.messages.create({
      model: MODEL,
      max_tokens: 64,
      messages: [{ role: 'user', content: 'Say hello' }],
      stream: true,
    });
    let text = '';
    const types: string[] = [];
    for await (const ev of stream) {
      types.push(ev.type);
      if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') text += ev.delta.text;
    }
    t.equal(text, DEFAULT_REPLY);
    t.equal(types[0], 'message_start');
    t.equal(types.at(-1), 'message_stop');

    const helper = client.messages.stream({
      model: MODEL,
      max_tokens: 64,
      messages: [{ role: 'user', content: 'Say hello' }],
    });
    const final = await helper.finalMessage();
    const block = final.content[0];
    t.equal(block?.type === 'text' ? block.text : null, DEFAULT_REPLY);
    t.ok(final.usage.output_tokens > 0, 'usage assembled from the stream');
  });

  t.test('models.list and count_tokens', async (t) => {
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    t.same(ids, ['claude-sonnet-4-5'], 'the Anthropic model list (dispatched by anthropic-version)');
    const counted = await client.messages.countTokens({
      model: MODEL,
      messages: [{ role: 'user', content: 'Count me' }],
    });
    t.ok(counted.input_tokens > 0);
    assertCredentials(t);
  });

  t.test('a blocked call raises PermissionDeniedError and reaches nobody', async (t) => {
    const before = h.mock.requests.length;
    const err = await rejection(
      client.messages.create({
        model: MODEL,
        max_tokens: 64,
        messages: [{ role: 'user', content: 'My SSN is 123-45-6789' }],
      }),
    );
    t.ok(err instanceof Anthropic.PermissionDeniedError, `raised ${String(err)}`);
    const e = err as InstanceType<typeof Anthropic.PermissionDeniedError>;
    t.equal(e.status, 403);
    t.match(e.error, { type: 'error', error: { type: 'permission_error' } });
    t.match(e.message, /SSNs may not be sent/);
    t.equal(e.headers?.get('x-aigov-decision'), 'block');
    t.equal(e.headers?.get('x-aigov-policies'), 'no-ssn');

    const streamErr = await rejection(
      client.messages
        .stream({
          model: MODEL,
          max_tokens: 64,
          messages: [{ role: 'user', content: 'SSN 123-45-6789' }],
        })
        .finalMessage(),
    );
    t.ok(streamErr instanceof Anthropic.PermissionDeniedError, 'the stream helper raises it too');
    t.equal(h.mock.requests.length, before, 'the mock received nothing');
  });

  t.test('a redacted call: the provider receives the redacted text', async (t) => {
    const msg = await client.messages.create(
      {
        model: MODEL,
        max_tokens: 64,
        system: 'Contact admin@corp.example if needed',
        messages: [{ role: 'user', content: [{ type: 'text', text: 'Write to bob@example.com today' }] }],
      },
      { headers: mockHeader({ echo: true }) },
    );
    const sent = JSON.stringify(h.mock.requests.at(-1)?.body);
    t.notMatch(sent, /bob@example\.com|admin@corp\.example/);
    t.match(sent, /Write to \[REDACTED:EMAIL\] today/);
    t.match(sent, /Contact \[REDACTED:EMAIL\] if needed/, 'the system prompt is redacted too');
    const block = msg.content[0];
    t.equal(block?.type === 'text' ? block.text : null, 'Write to [REDACTED:EMAIL] today');
  });

  t.test('a bad key raises AuthenticationError', async (t) => {
    const before = h.mock.requests.length;
    const bad = new Anthropic({ baseURL: h.url, apiKey: 'aigov_nope', maxRetries: 0 });
    const err = await rejection(
      bad.messages.create({ model: MODEL, max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }),
    );
    t.ok(err instanceof Anthropic.AuthenticationError, `raised ${String(err)}`);
    t.match((err as InstanceType<typeof Anthropic.AuthenticationError>).error, {
      type: 'error',
      error: { type: 'authentication_error' },
    });
    const listErr = await rejection(bad.models.list());
    t.ok(listErr instanceof Anthropic.AuthenticationError, 'models.list too');
    t.equal(h.mock.requests.length, before, 'nothing forwarded');
  });

  t.test('a limit refusal raises RateLimitError with Retry-After', async (t) => {
    const limited = new Anthropic({
      baseURL: h.url,
      apiKey: await h.newKey({ tags: ['limited'] }),
      maxRetries: 0,
    });
    const body = { model: MODEL, max_tokens: 8, messages: [{ role: 'user' as const, content: 'hi' }] };
    await limited.messages.create(body);
    await limited.messages.create(body);
    const before = h.mock.requests.length;
    const err = await rejection(limited.messages.create(body));
    t.ok(err instanceof Anthropic.RateLimitError, `raised ${String(err)}`);
    const e = err as InstanceType<typeof Anthropic.RateLimitError>;
    t.equal(e.status, 429);
    t.match(e.error, { type: 'error', error: { type: 'rate_limit_error' } });
    t.ok(Number(e.headers?.get('retry-after')) >= 1, 'Retry-After in seconds');
    t.equal(h.mock.requests.length, before);
  });

  t.test('audit rows name the anthropic provider and the decision', async (t) => {
    const rows = await h.rows(`route = '/v1/messages'`);
    t.ok(rows.length >= 8);
    for (const r of rows) if (r['key_id'] !== null) t.equal(r['provider'], 'anthropic');
    t.ok(rows.some((r) => r['decision'] === 'redact' && r['status_code'] === 200));
    t.ok(rows.some((r) => r['decision'] === 'block' && r['status_code'] === 403));
    t.ok(rows.some((r) => r['stream'] === true && r['status_code'] === 200 && Number(r['total_tokens']) > 0));
  });
});
