import t, { type Test } from 'tap';
import OpenAI, { AzureOpenAI } from 'openai';
import { DEFAULT_REPLY } from '../support/mock-provider.js';
import { closedPort, mockHeader, startProxy } from '../support/proxy.js';
import { sdkPolicies } from '../support/sdk-policies.js';

/**
 * `AzureOpenAI` from the openai package, pointed at the proxy with only its endpoint changed and
 * the aigov key as its api key: deployment routes with api-version, streams, refusals as the
 * SDK's own error classes, redaction, the deployment's model in the audit row with cached and
 * reasoning tokens priced, bad input, /v1/check, and a fallback from openai to azure.
 */
const AZURE_KEY = 'azure-provider-key-0000000000000000000';
const API_VERSION = '2024-10-21';

t.test('the AzureOpenAI client through the proxy', async (t) => {
  const down = await closedPort();
  const h = await startProxy({
    policies: sdkPolicies(2),
    env: { AZURE_OPENAI_API_KEY: AZURE_KEY },
    extraProviders: (mockUrl) => [
      {
        name: 'azure',
        family: 'azure',
        base_url: mockUrl,
        api_key_env: 'AZURE_OPENAI_API_KEY',
        deployments: { 'prod-4o': 'gpt-4o' },
      },
      {
        name: 'openai-down',
        family: 'openai',
        base_url: `http://127.0.0.1:${down}`,
        api_key_env: 'OPENAI_API_KEY',
        fallbacks: ['azure'],
      },
    ],
  });
  t.teardown(() => h.close());
  const client = new AzureOpenAI({
    endpoint: h.url,
    apiKey: h.key,
    apiVersion: API_VERSION,
    deployment: 'prod-4o',
    maxRetries: 0,
  });

  /** Every request the mock received: the Azure key in api-key, the aigov key nowhere at all. */
  const assertCredentials = (t: Test, since: number): void => {
    const seen = h.mock.requests.slice(since);
    t.ok(seen.length > 0, 'the mock was called');
    for (const req of seen) {
      t.equal(req.headers['api-key'], AZURE_KEY, `${req.path}: Azure key injected`);
      t.notOk(req.headers['authorization'], 'no Authorization header upstream');
      t.notOk(JSON.stringify(req.headers).includes(h.key), 'aigov key in no header');
      t.notOk(req.url.includes(h.key), 'aigov key not in the query');
      t.notOk(req.raw.includes(h.key), 'aigov key not in the body');
    }
  };

  t.test('chat.completions at the deployment route, plain', async (t) => {
    const before = h.mock.requests.length;
    const res = await client.chat.completions.create({
      model: 'prod-4o',
      messages: [{ role: 'user', content: 'Say hello' }],
    });
    t.equal(res.choices[0]?.message.content, DEFAULT_REPLY);
    const req = h.mock.requests.at(-1)!;
    t.equal(req.path, '/openai/deployments/prod-4o/chat/completions');
    t.match(req.url, `api-version=${API_VERSION}`, 'api-version passed on');
    assertCredentials(t, before);
  });

  t.test('chat.completions, streamed', async (t) => {
    const before = h.mock.requests.length;
    const stream = await client.chat.completions.create({
      model: 'prod-4o',
      messages: [{ role: 'user', content: 'Say hello' }],
      stream: true,
    });
    let text = '';
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta?.content ?? '';
      t.notOk(chunk.usage, 'no usage chunk the client did not ask for');
    }
    t.equal(text, DEFAULT_REPLY);
    t.ok(chunks >= 5, 'the stream arrived in chunks');
    assertCredentials(t, before);
  });

  t.test('embeddings at the deployment route', async (t) => {
    const emb = new AzureOpenAI({
      endpoint: h.url,
      apiKey: h.key,
      apiVersion: API_VERSION,
      deployment: 'embed-small',
      maxRetries: 0,
    });
    const res = await emb.embeddings.create({
      model: 'embed-small',
      input: ['one'],
      encoding_format: 'float',
    });
    t.equal(res.data.length, 1);
    t.equal(h.mock.requests.at(-1)?.path, '/openai/deployments/embed-small/embeddings');
  });

  t.test('a policy block raises PermissionDeniedError naming the rule; nothing forwarded', async (t) => {
    const before = h.mock.requests.length;
    const err = await client.chat.completions
      .create({ model: 'prod-4o', messages: [{ role: 'user', content: 'My SSN is 123-45-6789' }] })
      .then(
        () => null,
        (e: unknown) => e,
      );
    t.ok(err instanceof OpenAI.PermissionDeniedError, `raised ${String(err)}`);
    const e = err as InstanceType<typeof OpenAI.PermissionDeniedError>;
    t.equal(e.status, 403);
    t.equal(e.code, 'no-ssn');
    t.match(e.message, /SSNs may not be sent/);
    t.equal(h.mock.requests.length, before, 'the mock received nothing');
  });

  t.test('redaction reaches the provider', async (t) => {
    const res = await client.chat.completions.create(
      { model: 'prod-4o', messages: [{ role: 'user', content: 'Write to bob@example.com today' }] },
      { headers: mockHeader({ echo: true }) },
    );
    const sent = h.mock.requests.at(-1)!.raw;
    t.match(sent, /\[REDACTED:EMAIL\]/);
    t.notMatch(sent, /bob@example\.com/);
    t.equal(res.choices[0]?.message.content, 'Write to [REDACTED:EMAIL] today');
  });

  t.test('a bad key raises AuthenticationError (401); nothing forwarded', async (t) => {
    const before = h.mock.requests.length;
    const bad = new AzureOpenAI({
      endpoint: h.url,
      apiKey: 'aigov_nope',
      apiVersion: API_VERSION,
      deployment: 'prod-4o',
      maxRetries: 0,
    });
    const err = await bad.chat.completions
      .create({ model: 'prod-4o', messages: [{ role: 'user', content: 'hi' }] })
      .then(
        () => null,
        (e: unknown) => e,
      );
    t.ok(err instanceof OpenAI.AuthenticationError, `raised ${String(err)}`);
    t.equal((err as InstanceType<typeof OpenAI.AuthenticationError>).status, 401);
    t.equal(h.mock.requests.length, before);
  });

  t.test('bad input is a 400 BadRequestError in the OpenAI shape; nothing forwarded', async (t) => {
    const before = h.mock.requests.length;
    const res = await fetch(
      `${h.url}/openai/deployments/prod-4o/chat/completions?api-version=${API_VERSION}`,
      {
        method: 'POST',
        headers: { 'api-key': h.key, 'content-type': 'application/json' },
        body: JSON.stringify({ messages: 'not a list' }),
      },
    );
    t.equal(res.status, 400);
    const body = (await res.json()) as { error: { message: string; type: string } };
    t.equal(body.error.type, 'invalid_request_error');
    t.match(body.error.message, /messages/);
    const err = await client.chat.completions
      .create({ model: 'prod-4o', messages: [{ role: 'user', content: 'x' }], max_tokens: -1 })
      .then(
        () => null,
        (e: unknown) => e,
      );
    t.ok(err instanceof OpenAI.BadRequestError, `raised ${String(err)}`);
    t.equal(h.mock.requests.length, before);
  });

  t.test('the audit row: deployment model, tokens, cached and reasoning tokens, cost', async (t) => {
    const res = await client.chat.completions.create(
      { model: 'prod-4o', messages: [{ role: 'user', content: 'Count' }] },
      { headers: mockHeader({ usage: { prompt: 1000, completion: 200, cached: 400, reasoning: 50 } }) },
    );
    t.equal(res.usage?.prompt_tokens_details?.cached_tokens, 400);
    const rows = await h.rows(`provider = 'azure' AND prompt_tokens = 1000`);
    t.equal(rows.length, 1, 'one row for the call');
    const row = rows[0];
    t.equal(row!['provider'], 'azure');
    t.equal(row!['model'], 'gpt-4o', 'the deployment model from config');
    t.equal(row!['route'], '/openai/deployments/{deployment}/chat/completions');
    t.equal(row!['prompt_tokens'], 1000);
    t.equal(row!['completion_tokens'], 200);
    t.equal(row!['cached_tokens'], 400);
    t.equal(row!['reasoning_tokens'], 50);
    // gpt-4o: 600 uncached x $2.50 + 400 cached x $1.25 + 200 output x $10, per 1M tokens.
    t.equal(Number(row!['cost_usd']), (600 * 2.5 + 400 * 1.25 + 200 * 10) / 1e6);
  });

  t.test('/v1/check for azure takes a top-level model (the deployment)', async (t) => {
    const check = async (content: string): Promise<Record<string, unknown>> => {
      const res = await h.send('/v1/check', {
        body: { provider: 'azure', model: 'prod-4o', messages: [{ role: 'user', content }] },
      });
      t.equal(res.status, 200);
      return (await res.json()) as Record<string, unknown>;
    };
    t.match(await check('hello'), { allowed: true, decision: 'allow' });
    t.match(await check('SSN 123-45-6789'), {
      allowed: false,
      decision: 'block',
      reasons: [{ policy: 'no-ssn' }],
    });
    const limited = await h.newKey({ models: ['gpt-4o-mini'] });
    const res = await h.send('/v1/check', {
      auth: limited,
      body: { provider: 'azure', model: 'prod-4o', messages: [{ role: 'user', content: 'hi' }] },
    });
    t.match(await res.json(), {
      allowed: false,
      reasons: [{ policy: 'model_not_allowed', message: /gpt-4o/ }],
    });
  });

  t.test('a fallback from openai to azure: same body, Azure route and credential', async (t) => {
    const before = h.mock.requests.length;
    const oa = new OpenAI({ baseURL: `${h.url}/openai-down/v1`, apiKey: h.key, maxRetries: 0 });
    const res = await oa.chat.completions.create({
      model: 'prod-4o',
      messages: [{ role: 'user', content: 'Say hello' }],
    });
    t.equal(res.choices[0]?.message.content, DEFAULT_REPLY);
    const req = h.mock.requests.at(-1)!;
    t.equal(req.path, '/openai/v1/chat/completions');
    t.equal((req.body as { model: string }).model, 'prod-4o');
    assertCredentials(t, before);
    const rows = await h.rows(`route = '/openai-down/v1/chat/completions'`);
    t.equal(rows.at(-1)?.['provider'], 'azure', 'the row names the provider that answered');
  });
});
