import t from 'tap';
import { ApiError, GoogleGenAI } from '@google/genai';
import {
  BedrockRuntimeClient,
  ConverseStreamCommand,
  InvokeModelWithResponseStreamCommand,
  ValidationException,
} from '@aws-sdk/client-bedrock-runtime';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { EventStreamCodec, type Message } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import { mockHeader, startProxy, rejectionOf } from '../../support/proxy.js';

/**
 * `on: response` rules ending a stream of the newer families: Gemini streamGenerateContent (SSE)
 * and Bedrock converse-stream / invoke-with-response-stream (AWS event-stream). The event that
 * completes a match is never sent; the stream ends with the provider's own error event (Gemini
 * `data: {"error":{code,message,status}}`, Bedrock an exception message), which the official SDK
 * raises; the audit row records the block, the rule and the 403 the error event carried.
 */
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
const GEMINI = 'gemini-2.5-flash';
const CLAUDE = 'anthropic.claude-3-5-sonnet-20240620-v1:0';
const NOVA = 'us.amazon.nova-lite-v1:0';

const codec = new EventStreamCodec(toUtf8, fromUtf8);

/** Splits an AWS event-stream body into its messages (prelude length, then the codec). */
function eventMessages(bytes: Uint8Array): Message[] {
  const out: Message[] = [];
  let buf = Buffer.from(bytes);
  while (buf.length >= 4) {
    const total = buf.readUInt32BE(0);
    out.push(codec.decode(buf.subarray(0, total)));
    buf = buf.subarray(total);
  }
  return out;
}

const header = (m: Message, name: string): unknown => m.headers[name]?.value;

t.test('output rules end Gemini and Bedrock streams with the provider error event', async (t) => {
  const h = await startProxy({
    policies: POLICIES,
    env: { GEMINI_API_KEY: 'gemini-key-000', AWS_BEARER_TOKEN_BEDROCK: 'bedrock-key-000' },
    extraProviders: (mockUrl) => [
      { name: 'gemini', family: 'gemini', base_url: mockUrl, api_key_env: 'GEMINI_API_KEY' },
      { name: 'bedrock', family: 'bedrock', base_url: mockUrl, api_key_env: 'AWS_BEARER_TOKEN_BEDROCK' },
    ],
  });
  t.teardown(() => h.close());
  const ai = new GoogleGenAI({ apiKey: h.key, httpOptions: { baseUrl: h.url } });
  const br = new BedrockRuntimeClient({
    region: 'us-east-1',
    endpoint: h.url,
    token: { token: h.key },
    authSchemePreference: ['httpBearerAuth'],
    requestHandler: new NodeHttpHandler(),
    maxAttempts: 1,
  });
  t.teardown(() => br.destroy());

  /** The newest rows of a route; each ended stream must be one row saying why. */
  const assertBlockedRows = async (route: string, n: number): Promise<void> => {
    const rows = await h.rows(`route = '${route}' AND stream AND status_code = 403`);
    t.equal(rows.length, n, `${route}: one row per ended stream`);
    for (const r of rows) {
      t.equal(r['decision'], 'block');
      t.same(r['policy_ids'], ['no-secret-out']);
      t.match(String(r['error']), /^policy_blocked:no-secret-out$/);
      t.match(r['reasons'], [{ policy: 'no-secret-out', action: 'block' }]);
    }
  };

  t.test('Gemini streamGenerateContent: ApiError 403 from the error chunk', async (t) => {
    for (const chunks of [1, 5]) {
      let seen = '';
      const err = await rejectionOf(
        (async () => {
          const stream = await ai.models.generateContentStream({
            model: GEMINI,
            contents: 'tell me',
            config: { httpOptions: { headers: mockHeader({ reply: SECRET_REPLY, chunks }) } },
          });
          for await (const c of stream) seen += c.text ?? '';
        })(),
      );
      t.ok(err instanceof ApiError, `${chunks} chunks: raised ${String(err)}`);
      t.equal((err as ApiError).status, 403);
      t.match((err as ApiError).message, /PERMISSION_DENIED/);
      t.match((err as ApiError).message, /the model tried to reveal a secret \(no-secret-out\)/);
      t.notOk(seen.includes(SECRET), `${chunks} chunks: the whole secret never reached the client`);
    }

    // The wire: events before the match, then exactly one Google error event, then the end.
    const res = await h.send(`/v1beta/models/${GEMINI}:streamGenerateContent?alt=sse`, {
      headers: mockHeader({ reply: SECRET_REPLY, chunks: 5 }),
      body: { contents: [{ role: 'user', parts: [{ text: 'tell me' }] }] },
    });
    t.equal(res.status, 200, 'the status line was sent before the output was judged');
    t.equal(res.headers.get('content-type')?.includes('text/event-stream'), true);
    const events = (await res.text())
      .split(/\r?\n\r?\n/)
      .filter((e) => e.trim() !== '')
      .map((e) => JSON.parse(e.replace(/^data: /, '')) as Record<string, unknown>);
    t.ok(events.length >= 2, `${events.length} events`);
    t.match(events.at(-1), {
      error: {
        code: 403,
        status: 'PERMISSION_DENIED',
        message: /no-secret-out/,
        details: [{ reason: 'no-secret-out' }],
      },
    });
    t.notOk(
      events.slice(0, -1).some((e) => 'error' in e),
      'only the last event is an error',
    );
    await assertBlockedRows('/v1beta/models/{model}:streamGenerateContent', 3);
  });

  t.test('Gemini: a redact rule on a stream ends it like a block', async (t) => {
    let seen = '';
    const err = await rejectionOf(
      (async () => {
        const stream = await ai.models.generateContentStream({
          model: GEMINI,
          contents: 'tell me',
          config: { httpOptions: { headers: mockHeader({ reply: EMAIL_REPLY, chunks: 1 }) } },
        });
        for await (const c of stream) seen += c.text ?? '';
      })(),
    );
    t.ok(err instanceof ApiError && err.status === 403, `raised ${String(err)}`);
    t.notMatch(seen, /carol@example\.org/);
  });

  t.test('Bedrock converse-stream: the SDK raises the exception event', async (t) => {
    for (const chunks of [1, 5]) {
      h.mock.setBehavior({ reply: SECRET_REPLY, chunks });
      let seen = '';
      const err = await rejectionOf(
        (async () => {
          const res = await br.send(
            new ConverseStreamCommand({
              modelId: CLAUDE,
              messages: [{ role: 'user', content: [{ text: 'tell me' }] }],
            }),
          );
          for await (const ev of res.stream!) seen += ev.contentBlockDelta?.delta?.text ?? '';
        })(),
      );
      h.mock.resetBehavior();
      t.ok(err instanceof ValidationException, `${chunks} chunks: raised ${String(err)}`);
      t.match((err as Error).message, /the model tried to reveal a secret \(no-secret-out\)/);
      t.notOk(seen.includes(SECRET), `${chunks} chunks: the whole secret never reached the client`);
    }

    h.mock.setBehavior({ reply: SECRET_REPLY, chunks: 5 });
    t.teardown(() => h.mock.resetBehavior());
    const res = await h.send(`/model/${encodeURIComponent(CLAUDE)}/converse-stream`, {
      body: { messages: [{ role: 'user', content: [{ text: 'tell me' }] }] },
    });
    t.equal(res.status, 200);
    t.match(res.headers.get('content-type'), /application\/vnd\.amazon\.eventstream/);
    const messages = eventMessages(new Uint8Array(await res.arrayBuffer()));
    const last = messages.at(-1)!;
    t.equal(header(last, ':message-type'), 'exception', 'the stream ends with an exception message');
    t.equal(header(last, ':exception-type'), 'validationException');
    t.match(JSON.parse(toUtf8(last.body)), { message: /no-secret-out/ });
    t.notOk(
      messages.slice(0, -1).some((m) => header(m, ':message-type') !== 'event'),
      'everything before it is a plain event',
    );
    t.notOk(
      messages.some((m) => header(m, ':event-type') === 'messageStop'),
      'no messageStop after the block',
    );
    await assertBlockedRows('/model/{modelId}/converse-stream', 3);
  });

  t.test('Bedrock invoke-with-response-stream (Nova chunks): the SDK raises it too', async (t) => {
    h.mock.setBehavior({ reply: SECRET_REPLY, chunks: 3 });
    t.teardown(() => h.mock.resetBehavior());
    let seen = '';
    const err = await rejectionOf(
      (async () => {
        const res = await br.send(
          new InvokeModelWithResponseStreamCommand({
            modelId: NOVA,
            contentType: 'application/json',
            body: JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'tell me' }] }] }),
          }),
        );
        for await (const ev of res.body!) {
          if (!ev.chunk?.bytes) continue;
          const c = JSON.parse(Buffer.from(ev.chunk.bytes).toString('utf8')) as {
            contentBlockDelta?: { delta?: { text?: string } };
          };
          seen += c.contentBlockDelta?.delta?.text ?? '';
        }
      })(),
    );
    t.ok(err instanceof ValidationException, `raised ${String(err)}`);
    t.match((err as Error).message, /no-secret-out/);
    t.notOk(seen.includes(SECRET));
    await assertBlockedRows('/model/{modelId}/invoke-with-response-stream', 1);
  });

  t.test('clean streams are untouched', async (t) => {
    let text = '';
    for await (const c of await ai.models.generateContentStream({ model: GEMINI, contents: 'hi' }))
      text += c.text ?? '';
    t.equal(text, 'Hello from the mock provider.');
    const res = await br.send(
      new ConverseStreamCommand({ modelId: CLAUDE, messages: [{ role: 'user', content: [{ text: 'hi' }] }] }),
    );
    let btext = '';
    for await (const ev of res.stream!) btext += ev.contentBlockDelta?.delta?.text ?? '';
    t.equal(btext, 'Hello from the mock provider.');
  });
});
