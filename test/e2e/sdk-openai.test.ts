import t, { type Test } from 'tap';
import OpenAI from 'openai';
import { DEFAULT_REPLY } from '../support/mock-provider.js';
import { CALLER_CREDENTIAL_HEADERS, OPENAI_PROVIDER_KEY, mockHeader, startProxy } from '../support/proxy.js';
import { sdkPolicies } from '../support/sdk-policies.js';

/**
 * The real `openai` package pointed at a running proxy with only a base URL change: plain and
 * streamed chat, the responses API, embeddings, models, and each refusal raising the SDK's own
 * error class.
 */
const POLICIES = sdkPolicies(2);

t.test('the openai SDK through the proxy', async (t) => {
  const h = await startProxy({ policies: POLICIES });
  t.teardown(() => h.close());
  const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.key, maxRetries: 0 });

  /** Every request the mock received carries the provider key and never the aigov key. */
  const assertCredentials = (t: Test): void => {
    for (const req of h.mock.requests) {
      t.equal(req.headers['authorization'], `Bearer ${OPENAI_PROVIDER_KEY}`, `${req.path}: provider key`);
      for (const name of CALLER_CREDENTIAL_HEADERS)
        t.notOk(String(req.headers[name] ?? '').includes(h.key), `${req.path}: no aigov key in ${name}`);
    }
  };

  t.test('chat.completions, plain', async (t) => {
    const before = h.mock.requests.length;
    const res = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'Say hello' }],
    });
    t.equal(res.choices[0]?.message.content, DEFAULT_REPLY);
    t.ok(res.usage && res.usage.total_tokens > 0, 'usage passed back');
    t.equal(h.mock.requests.length, before + 1, 'one upstream call');
    t.equal(h.mock.requests.at(-1)?.path, '/v1/chat/completions');
    assertCredentials(t);
  });

  t.test('chat.completions, streamed (with and without include_usage)', async (t) => {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'Say hello' }],
      stream: true,
    });
    let text = '';
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta.content ?? '';
      t.notOk(chunk.usage, 'no usage chunk the client did not ask for');
    }
    t.equal(text, DEFAULT_REPLY);
    t.ok(chunks >= 5, 'the stream arrived in chunks');

    const withUsage = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'Say hello' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage: OpenAI.CompletionUsage | null | undefined = null;
    for await (const chunk of withUsage) if (chunk.usage) usage = chunk.usage;
    t.ok(usage && usage.total_tokens > 0, 'usage chunk kept when the client asked for it');
  });

  t.test('chat.completions stream helper (runner) through the proxy', async (t) => {
    const runner = client.chat.completions.stream({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'Say hello' }],
    });
    const final = await runner.finalChatCompletion();
    t.equal(final.choices[0]?.message.content, DEFAULT_REPLY);
  });

  t.test('responses API, plain and streamed', async (t) => {
    const res = await client.responses.create({ model: 'gpt-4o', input: 'Say hello' });
    t.equal(res.output_text, DEFAULT_REPLY);
    t.equal(h.mock.requests.at(-1)?.path, '/v1/responses');

    const stream = await client.responses.create({ model: 'gpt-4o', input: 'Say hello', stream: true });
    let text = '';
    let completed = false;
    for await (const ev of stream) {
      if (ev.type === 'response.output_text.delta') text += ev.delta;
      if (ev.type === 'response.completed') completed = true;
    }
    t.equal(text, DEFAULT_REPLY);
    t.ok(completed, 'response.completed reached the client');
  });

  t.test('embeddings', async (t) => {
    const res = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: ['one', 'two'],
      encoding_format: 'float',
    });
    t.equal(res.data.length, 2);
    t.same(res.data[0]?.embedding, [0.1, 0.2, 0.3, 0.4]);
    t.equal(h.mock.requests.at(-1)?.path, '/v1/embeddings');
  });

  t.test('models.list', async (t) => {
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    t.ok(ids.includes('gpt-4o-mini'), `listed ${ids.join(',')}`);
    assertCredentials(t);
  });

  t.test('a blocked call raises PermissionDeniedError and reaches nobody', async (t) => {
    const before = h.mock.requests.length;
    const err = await client.chat.completions
      .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'My SSN is 123-45-6789' }] })
      .then(
        () => null,
        (e: unknown) => e,
      );
    t.ok(err instanceof OpenAI.PermissionDeniedError, `raised ${String(err)}`);
    const e = err as InstanceType<typeof OpenAI.PermissionDeniedError>;
    t.equal(e.status, 403);
    t.equal(e.code, 'no-ssn', 'code is the rule id');
    t.match(e.message, /SSNs may not be sent/);
    t.equal(e.headers.get('x-aigov-decision'), 'block');
    t.ok(e.requestID || e.headers.get('x-request-id'), 'request id on the refusal');

    const streamErr = await client.chat.completions
      .create({
        model: 'gpt-4o',
        messages: [{ role: 'user', content: 'SSN 123-45-6789' }],
        stream: true,
      })
      .then(
        () => null,
        (e: unknown) => e,
      );
    t.ok(streamErr instanceof OpenAI.PermissionDeniedError, 'a blocked stream refuses before streaming');
    t.equal(h.mock.requests.length, before, 'the mock received nothing');
  });

  t.test('a redacted call: the provider receives the redacted text', async (t) => {
    const res = await client.chat.completions.create(
      { model: 'gpt-4o', messages: [{ role: 'user', content: 'Write to bob@example.com today' }] },
      { headers: mockHeader({ echo: true }) },
    );
    const sent = JSON.stringify(h.mock.requests.at(-1)?.body);
    t.match(sent, /\[REDACTED:EMAIL\]/);
    t.notMatch(sent, /bob@example\.com/);
    t.equal(res.choices[0]?.message.content, 'Write to [REDACTED:EMAIL] today', 'the echo shows it');

    const { response } = await client.chat.completions
      .create(
        {
          model: 'gpt-4o',
          messages: [{ role: 'user', content: 'Mail bob@example.com' }],
          stream: true,
        },
        { headers: mockHeader({ echo: true }) },
      )
      .withResponse();
    t.equal(response.headers.get('x-aigov-decision'), 'redact');
    t.match(JSON.stringify(h.mock.requests.at(-1)?.body), /Mail \[REDACTED:EMAIL\]/);
    await response.body?.cancel();
  });

  t.test('a bad key raises AuthenticationError', async (t) => {
    const before = h.mock.requests.length;
    const bad = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'aigov_nope', maxRetries: 0 });
    const err = await bad.chat.completions
      .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] })
      .then(
        () => null,
        (e: unknown) => e,
      );
    t.ok(err instanceof OpenAI.AuthenticationError, `raised ${String(err)}`);
    const modelsErr = await bad.models.list().then(
      () => null,
      (e: unknown) => e,
    );
    t.ok(modelsErr instanceof OpenAI.AuthenticationError, 'models.list too');
    t.equal(h.mock.requests.length, before, 'nothing forwarded');
  });

  t.test('a limit refusal raises RateLimitError with Retry-After', async (t) => {
    const limited = new OpenAI({
      baseURL: `${h.url}/v1`,
      apiKey: await h.newKey({ tags: ['limited'] }),
      maxRetries: 0,
    });
    const body = { model: 'gpt-4o', messages: [{ role: 'user' as const, content: 'hi' }] };
    await limited.chat.completions.create(body);
    await limited.chat.completions.create(body);
    const before = h.mock.requests.length;
    const err = await limited.chat.completions.create(body).then(
      () => null,
      (e: unknown) => e,
    );
    t.ok(err instanceof OpenAI.RateLimitError, `raised ${String(err)}`);
    const e = err as InstanceType<typeof OpenAI.RateLimitError>;
    t.equal(e.status, 429);
    t.equal(e.code, 'tight-limit');
    t.ok(Number(e.headers.get('retry-after')) >= 1, 'Retry-After in seconds');
    t.equal(h.mock.requests.length, before, 'the refused call was not forwarded');
    // The unlimited key is unaffected.
    await client.chat.completions.create(body);
  });

  t.test('the audit log has one row per call with its decision', async (t) => {
    const rows = await h.rows();
    const decisions = rows.map((r) => r['decision']);
    t.ok(decisions.includes('allow'));
    t.ok(decisions.includes('block'));
    t.ok(decisions.includes('redact'));
    const blocked = rows.filter((r) => r['status_code'] === 403);
    t.ok(blocked.length >= 2);
    for (const r of blocked) t.same(r['policy_ids'], ['no-ssn']);
    const limited = rows.filter((r) => r['status_code'] === 429);
    t.equal(limited.length, 1);
    t.same(limited[0]?.['policy_ids'], ['tight-limit']);
    t.ok(
      rows.some((r) => r['status_code'] === 401 && r['key_id'] === null),
      'bad key recorded without a key id',
    );
  });
});
