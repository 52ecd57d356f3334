import { createHash, createHmac } from 'node:crypto';
import type { Socket } from 'node:net';
import t, { type Test } from 'tap';
import {
  BedrockRuntimeClient,
  BedrockRuntimeServiceException,
  ConverseCommand,
  ConverseStreamCommand,
  InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
  AccessDeniedException,
  ValidationException,
} from '@aws-sdk/client-bedrock-runtime';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { DEFAULT_REPLY, type RecordedRequest } from '../support/mock-provider.js';
import { mockHeader, startProxy, familyUpstream, rejectionOf } from '../support/proxy.js';
import { sdkPolicies } from '../support/sdk-policies.js';

/**
 * @aws-sdk/client-bedrock-runtime with a Bedrock API key (the aigov key as its bearer token) and
 * only its endpoint changed. Most cases pin the HTTP/1.1 handler (NodeHttpHandler); "the SDK's
 * default request handler" runs with nothing but the endpoint changed, which is HTTP/2 cleartext
 * with prior knowledge (h2c) to an http:// endpoint.
 */
const BEARER = 'bedrock-api-key-000000000000000000000000';
const ACCESS_KEY = 'AKIDEXAMPLE0000000000';
const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const MODEL = 'anthropic.claude-3-5-sonnet-20240620-v1:0';
const NOVA = 'us.amazon.nova-pro-v1:0';

function client(endpoint: string, token: string, http1 = true): BedrockRuntimeClient {
  return new BedrockRuntimeClient({
    region: 'us-east-1',
    endpoint,
    token: { token },
    authSchemePreference: ['httpBearerAuth'],
    ...(http1 ? { requestHandler: new NodeHttpHandler() } : {}),
    maxAttempts: 1,
  });
}

const converse = (text: string, modelId = MODEL): ConverseCommand =>
  new ConverseCommand({ modelId, messages: [{ role: 'user', content: [{ text }] }] });

t.test('the Bedrock Runtime SDK through the proxy (Bedrock API key upstream)', async (t) => {
  const h = await startProxy({
    policies: sdkPolicies(2),
    ...familyUpstream('bedrock', BEARER),
  });
  t.teardown(() => h.close());
  const br = client(h.url, h.key);
  t.teardown(() => br.destroy());

  const assertCredentials = (t: Test, since: number): void => {
    const seen = h.mock.requests.slice(since);
    t.ok(seen.length > 0, 'the mock was called');
    for (const req of seen) {
      t.equal(req.headers['authorization'], `Bearer ${BEARER}`, 'Bedrock API key injected');
      t.notOk(JSON.stringify(req.headers).includes(h.key), 'aigov key in no header');
      t.notOk(req.url.includes(h.key), 'aigov key not in the query');
      t.notOk(req.raw.includes(h.key), 'aigov key not in the body');
    }
  };

  t.test('converse, plain', async (t) => {
    const before = h.mock.requests.length;
    const res = await br.send(converse('Say hello'));
    t.equal(res.output?.message?.content?.[0]?.text, DEFAULT_REPLY);
    t.equal(h.mock.requests.at(-1)?.path, `/model/${encodeURIComponent(MODEL)}/converse`);
    assertCredentials(t, before);
  });

  t.test('converse-stream: event-stream relayed event by event', async (t) => {
    const before = h.mock.requests.length;
    const res = await br.send(
      new ConverseStreamCommand({
        modelId: MODEL,
        messages: [{ role: 'user', content: [{ text: 'Say hello' }] }],
      }),
    );
    let text = '';
    let deltas = 0;
    let usage: number | undefined;
    for await (const ev of res.stream!) {
      if (ev.contentBlockDelta?.delta?.text) {
        deltas++;
        text += ev.contentBlockDelta.delta.text;
      }
      if (ev.metadata) usage = ev.metadata.usage?.inputTokens;
    }
    t.equal(text, DEFAULT_REPLY);
    t.ok(deltas >= 5, `${deltas} deltas`);
    t.ok(usage && usage > 0, 'metadata event passed on');
    assertCredentials(t, before);
    const rows = await h.rows(`route = '/model/{modelId}/converse-stream'`);
    t.ok(rows.at(-1)?.['prompt_tokens'], 'usage read from the event stream');
  });

  t.test('invoke and invoke-with-response-stream (Anthropic messages format)', async (t) => {
    const body = JSON.stringify({
      anthropic_version: 'bedrock-2023-05-31',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'Say hello' }],
    });
    const res = await br.send(
      new InvokeModelCommand({ modelId: MODEL, body, contentType: 'application/json' }),
    );
    const json = JSON.parse(Buffer.from(res.body).toString('utf8')) as { content: { text: string }[] };
    t.equal(json.content[0]?.text, DEFAULT_REPLY);
    const stream = await br.send(
      new InvokeModelWithResponseStreamCommand({ modelId: MODEL, body, contentType: 'application/json' }),
    );
    let text = '';
    for await (const ev of stream.body!) {
      if (!ev.chunk?.bytes) continue;
      const c = JSON.parse(Buffer.from(ev.chunk.bytes).toString('utf8')) as { delta?: { text?: string } };
      text += c.delta?.text ?? '';
    }
    t.equal(text, DEFAULT_REPLY);
    const rows = await h.rows(`route = '/model/{modelId}/invoke-with-response-stream'`);
    t.ok(rows.at(-1)?.['completion_tokens'], 'usage from the invocation metrics');
  });

  t.test('a policy block raises AccessDeniedException naming the rule; nothing forwarded', async (t) => {
    const before = h.mock.requests.length;
    const err = await rejectionOf(br.send(converse('My SSN is 123-45-6789')));
    t.ok(err instanceof AccessDeniedException, `raised ${String(err)}`);
    t.equal((err as AccessDeniedException).$metadata.httpStatusCode, 403);
    t.match((err as AccessDeniedException).message, /no-ssn/);
    t.equal(h.mock.requests.length, before);
  });

  t.test('redaction reaches the provider (messages, system, tool results)', async (t) => {
    const res = await br.send(
      new ConverseCommand({
        modelId: MODEL,
        system: [{ text: 'Reply to dee@example.com' }],
        messages: [
          { role: 'user', content: [{ text: 'Write to bob@example.com today' }] },
          {
            role: 'assistant',
            content: [{ toolUse: { toolUseId: 't1', name: 'lookup', input: { who: 'amy@example.com' } } }],
          },
          {
            role: 'user',
            content: [{ toolResult: { toolUseId: 't1', content: [{ text: 'cy@example.com' }] } }],
          },
          { role: 'user', content: [{ text: 'Write to bob@example.com today' }] },
        ],
      }),
    );
    const sent = h.mock.requests.at(-1)!.raw;
    t.notMatch(sent, /@example\.com/);
    t.equal((sent.match(/\[REDACTED:EMAIL\]/g) ?? []).length, 5);
    t.ok(res.output);
  });

  t.test('a bad key raises the SDK error for 401 (UnrecognizedClientException)', async (t) => {
    const before = h.mock.requests.length;
    const bad = client(h.url, 'aigov_nope');
    const err = await rejectionOf(bad.send(converse('hi')));
    bad.destroy();
    t.ok(err instanceof BedrockRuntimeServiceException, `raised ${String(err)}`);
    t.equal((err as BedrockRuntimeServiceException).name, 'UnrecognizedClientException');
    t.equal((err as BedrockRuntimeServiceException).$metadata.httpStatusCode, 401);
    t.equal(h.mock.requests.length, before);
  });

  t.test('bad input raises ValidationException (400); nothing forwarded', async (t) => {
    const before = h.mock.requests.length;
    const res = await h.send(`/model/${encodeURIComponent(MODEL)}/converse`, { body: { messages: 'nope' } });
    t.equal(res.status, 400);
    t.match(res.headers.get('x-amzn-errortype'), /^ValidationException/);
    t.match(await res.json(), { message: /messages/ });
    const err = await rejectionOf(
      br.send(
        new ConverseCommand({
          modelId: MODEL,
          messages: [{ role: 'user', content: [{ text: 'hi' }] }],
          inferenceConfig: { maxTokens: -5 },
        }),
      ),
    );
    t.ok(err instanceof ValidationException, `raised ${String(err)}`);
    t.equal(h.mock.requests.length, before);
  });

  t.test('the audit row: model from the path, tokens with cache reads and writes, cost', async (t) => {
    await h.send(`/model/${encodeURIComponent(NOVA)}/converse`, {
      headers: mockHeader({ usage: { prompt: 1000, completion: 100, cached: 3000, cacheWrite: 0 } }),
      body: { messages: [{ role: 'user', content: [{ text: 'Count' }] }] },
    });
    const rows = await h.rows(`model = '${NOVA}'`);
    t.equal(rows.length, 1);
    const row = rows[0]!;
    t.equal(row['prompt_tokens'], 4000, 'uncached + cache reads + cache writes');
    t.equal(row['cached_tokens'], 3000);
    // Nova Pro: 1000 uncached x $0.80 + 3000 cached x $0.20 + 100 output x $3.20, per 1M.
    t.equal(Number(row['cost_usd']), (1000 * 0.8 + 3000 * 0.2 + 100 * 3.2) / 1e6);
  });

  t.test('/v1/check for bedrock takes a top-level model', async (t) => {
    const res = await h.send('/v1/check', {
      body: {
        provider: 'bedrock',
        model: MODEL,
        messages: [{ role: 'user', content: [{ text: 'SSN 123-45-6789' }] }],
      },
    });
    t.match(await res.json(), { allowed: false, reasons: [{ policy: 'no-ssn' }] });
  });
});

t.test("the SDK's default request handler (HTTP/2 cleartext, prior knowledge)", async (t) => {
  const h = await startProxy({
    policies: sdkPolicies(2),
    ...familyUpstream('bedrock', BEARER),
  });
  t.teardown(() => h.close());
  // What each connection to the proxy opened with: the HTTP/2 preface starts with "PRI *".
  const openings: string[] = [];
  h.app.server.prependListener('connection', (socket: Socket) =>
    socket.once('data', (b: Buffer) => openings.push(b.subarray(0, 5).toString('latin1'))),
  );
  const br = client(h.url, h.key, false);
  t.teardown(() => br.destroy());

  t.test('converse: answered, governed (key injected, audited)', async (t) => {
    const before = h.mock.requests.length;
    const res = await br.send(converse('Say hello'));
    t.equal(res.output?.message?.content?.[0]?.text, DEFAULT_REPLY);
    t.same(openings, ['PRI *'], 'one connection, and it spoke HTTP/2');
    const seen = h.mock.requests.slice(before);
    t.equal(seen.length, 1);
    t.equal(seen[0]?.path, `/model/${encodeURIComponent(MODEL)}/converse`);
    t.equal(seen[0]?.headers['authorization'], `Bearer ${BEARER}`, 'Bedrock API key injected');
    t.notOk(JSON.stringify(seen[0]?.headers).includes(h.key), 'aigov key in no header');
    const rows = await h.rows(`route = '/model/{modelId}/converse'`);
    t.equal(rows.length, 1);
    t.match(rows[0], { decision: 'allow', status_code: 200, key_id: h.keyId, model: MODEL });
  });

  t.test('converse-stream: the event stream read to the end over HTTP/2', async (t) => {
    const res = await br.send(
      new ConverseStreamCommand({
        modelId: MODEL,
        messages: [{ role: 'user', content: [{ text: 'Say hello' }] }],
      }),
    );
    let text = '';
    let deltas = 0;
    let stop: string | undefined;
    let usage: number | undefined;
    for await (const ev of res.stream!) {
      if (ev.contentBlockDelta?.delta?.text) {
        deltas++;
        text += ev.contentBlockDelta.delta.text;
      }
      if (ev.messageStop) stop = ev.messageStop.stopReason;
      if (ev.metadata) usage = ev.metadata.usage?.outputTokens;
    }
    t.equal(text, DEFAULT_REPLY);
    t.ok(deltas >= 5, `${deltas} deltas`);
    t.equal(stop, 'end_turn', 'messageStop arrived');
    t.ok(usage && usage > 0, 'metadata event arrived');
    t.ok(
      openings.every((o) => o === 'PRI *'),
      'every connection spoke HTTP/2',
    );
    const rows = await h.rows(`route = '/model/{modelId}/converse-stream'`);
    t.equal(rows.length, 1);
    t.match(rows[0], { decision: 'allow', status_code: 200, aborted: false });
    t.ok(rows[0]?.['completion_tokens'], 'usage read from the relayed event stream');
  });

  t.test('a policy block is AccessDeniedException (403) over HTTP/2; nothing forwarded', async (t) => {
    const before = h.mock.requests.length;
    const err = await rejectionOf(br.send(converse('My SSN is 123-45-6789')));
    t.ok(err instanceof AccessDeniedException, `raised ${String(err)}`);
    t.equal((err as AccessDeniedException).$metadata.httpStatusCode, 403);
    t.match((err as AccessDeniedException).message, /no-ssn/);
    t.equal(h.mock.requests.length, before, 'the provider was not called');
    const rows = await h.rows(`decision = 'block'`);
    t.equal(rows.length, 1);
    t.match(rows[0], { status_code: 403, model: MODEL });
    t.match(String(rows[0]?.['policy_ids']), /no-ssn/);
  });
});

t.test('SigV4 upstream: the mock verifies the signature with the same secret, independently', async (t) => {
  const h = await startProxy({
    env: { AWS_ACCESS_KEY_ID: ACCESS_KEY, AWS_SECRET_ACCESS_KEY: SECRET, AWS_SESSION_TOKEN: 'session-tok' },
    extraProviders: (mockUrl) => [
      { name: 'bedrock', family: 'bedrock', base_url: mockUrl, region: 'eu-west-1' },
    ],
  });
  t.teardown(() => h.close());
  const br = client(h.url, h.key);
  t.teardown(() => br.destroy());
  const res = await br.send(converse('Say hello'));
  t.equal(res.output?.message?.content?.[0]?.text, DEFAULT_REPLY);
  const req = h.mock.requests.at(-1)!;
  t.match(
    req.headers['authorization'],
    /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE0000000000\/\d{8}\/eu-west-1\/bedrock\/aws4_request/,
  );
  t.equal(req.headers['x-amz-security-token'], 'session-tok');
  t.notOk(JSON.stringify(req.headers).includes(h.key), 'aigov key in no header');
  t.equal(
    await recomputeSignature(req, SECRET),
    signatureOf(req),
    'signature recomputed by the mock matches',
  );
  const tampered = { ...req, raw: req.raw.replace('hello', 'HELLO') };
  t.not(await recomputeSignature(tampered, SECRET), signatureOf(req), 'a changed body would not verify');
  t.not(await recomputeSignature(req, 'another-secret'), signatureOf(req), 'another secret would not verify');
});

function signatureOf(req: RecordedRequest): string {
  return /Signature=([0-9a-f]{64})/.exec(String(req.headers['authorization']))?.[1] ?? '';
}

/** RFC 3986 unreserved characters stay; everything else is %XX (what SigV4 calls URI-encoding). */
function uriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

/**
 * What the provider does, written from the SigV4 specification with node:crypto only (no AWS
 * library, so a fault in the signer aigov uses cannot hide here): rebuild the canonical request
 * from the request as received (the signed headers, the path encoded once more, the sorted query,
 * the hash of the bytes that arrived), derive the signing key from the secret and sign.
 */
async function recomputeSignature(req: RecordedRequest, secret: string): Promise<string> {
  const auth = String(req.headers['authorization']);
  const signedHeaders = (/SignedHeaders=([^,]+)/.exec(auth)?.[1] ?? '').split(';');
  const [, day, region, service] = (/Credential=([^,]+)/.exec(auth)?.[1] ?? '').split('/');
  const url = new URL(req.url, 'http://mock');
  const canonicalUri = url.pathname.split('/').map(uriEncode).join('/');
  const canonicalQuery = [...url.searchParams]
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : 1) : a[0] < b[0] ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonicalHeaders = signedHeaders
    .map(
      (name) =>
        `${name}:${String(req.headers[name] ?? '')
          .trim()
          .replace(/\s+/g, ' ')}\n`,
    )
    .join('');
  // The payload hash is the provider's own, of the bytes it received, not the one the sender claims.
  const canonicalRequest = [
    req.method,
    canonicalUri,
    canonicalQuery,
    canonicalHeaders,
    signedHeaders.join(';'),
    sha256Hex(req.raw),
  ].join('\n');
  const scope = `${day}/${region}/${service}/aws4_request`;
  const amzDate = String(req.headers['x-amz-date']);
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${secret}`, day!), region!), service!), 'aws4_request');
  return createHmac('sha256', signingKey).update(stringToSign).digest('hex');
}
