/**
 * prepareRequest and forwardStage: the bytes that go upstream, and how sending fails. The only
 * stage that really sends: its upstreams are local servers on 127.0.0.1 (the mock provider, a
 * server that never answers, a closed port).
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import t from 'tap';
import { AigovError } from '../../../src/errors.js';
import { CallAbort } from '../../../src/proxy/call-abort.js';
import { forwardStage, isEventStream, prepareRequest } from '../../../src/proxy/forward-stage.js';
import { startMockProvider } from '../../support/mock-provider.js';
import { closedPort } from '../../support/proxy.js';
import { chatBody, decidedCall, policy, registry, upstreamOf } from './fakes.js';

async function refusal(p: Promise<unknown>): Promise<AigovError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof AigovError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

const NONE = policy([]);
const REDACT = policy([{ id: 'mask-email', when: { detect: ['email'] }, action: 'redact' }]);

t.test('prepareRequest', async (t) => {
  t.test('nothing changes: the caller’s own bytes, not a re-serialisation', async (t) => {
    const rawBody = Buffer.from('{"model":"gpt-4o",  "messages":[{"role":"user","content":"hi"}]}');
    const { call } = decidedCall({ set: NONE, body: chatBody('hi'), rawBody });
    const prepared = prepareRequest(call);
    t.equal(prepared.body, rawBody, 'the very same buffer');
    t.equal(prepared.clientWantsUsage, true);
    const anthropic = decidedCall({
      set: NONE,
      route: '/v1/messages',
      body: {
        model: 'claude-sonnet-4-5',
        max_tokens: 5,
        stream: true,
        messages: [{ role: 'user', content: 'x' }],
      },
      rawBody,
    });
    t.equal(prepareRequest(anthropic.call).body, rawBody, 'anthropic streams need no change');
  });

  t.test('redactions: the redacted body, re-serialised', async (t) => {
    const { call } = decidedCall({ set: REDACT, body: chatBody('mail a@example.com', { temperature: 0.5 }) });
    const prepared = prepareRequest(call);
    t.type(prepared.body, 'string');
    t.same(JSON.parse(String(prepared.body)), {
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'mail [REDACTED:EMAIL]' }],
      temperature: 0.5,
    });
    t.equal(prepared.clientWantsUsage, true);
    t.same(call.request.body, chatBody('mail a@example.com', { temperature: 0.5 }), 'request body untouched');
  });

  t.test('openai streams ask for usage unless the caller did', async (t) => {
    const { call } = decidedCall({ set: REDACT, body: chatBody('to a@example.com', { stream: true }) });
    const prepared = prepareRequest(call);
    t.same(JSON.parse(String(prepared.body)), {
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'to [REDACTED:EMAIL]' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    t.equal(prepared.clientWantsUsage, false, 'the injected usage chunk will be dropped');

    const rawBody = Buffer.from(
      JSON.stringify(chatBody('hi', { stream: true, stream_options: { include_usage: true } })),
    );
    const own = decidedCall({
      set: NONE,
      body: chatBody('hi', { stream: true, stream_options: { include_usage: true } }),
      rawBody,
    });
    const same = prepareRequest(own.call);
    t.equal(same.body, rawBody);
    t.equal(same.clientWantsUsage, true);
  });

  t.test('a body that is not an object goes as it came', async (t) => {
    const { call } = decidedCall({ set: NONE, body: chatBody('hi') });
    const raw = Buffer.from('[]');
    (call.request as unknown as { body: unknown }).body = 'not-an-object';
    (call.request as unknown as { rawBody: Buffer }).rawBody = raw;
    t.same(prepareRequest(call), { body: raw, clientWantsUsage: true });
  });
});

t.test('forwardStage against local upstreams', async (t) => {
  const mock = await startMockProvider();
  const failing = await startMockProvider({ behavior: { fail: { status: 503 } } });
  const dead = await closedPort();
  // Answers nothing; tells the test when a request arrived.
  const arrivals: ((req: IncomingMessage) => void)[] = [];
  const sockets = new Set<Socket>();
  const silent = createServer((req) => arrivals.shift()?.(req));
  silent.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const silentUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
  const providers = registry([
    { name: 'openai', family: 'openai', base_url: mock.url, api_key_env: 'OPENAI_API_KEY', default: true },
    { name: 'anthropic', family: 'anthropic', base_url: mock.url, models: ['claude-*'] },
    { name: 'dead', family: 'openai', base_url: `http://127.0.0.1:${dead}`, fallbacks: ['openai'] },
    { name: 'dead-cross', family: 'openai', base_url: `http://127.0.0.1:${dead}`, fallbacks: ['anthropic'] },
    { name: 'dead-alone', family: 'openai', base_url: `http://127.0.0.1:${dead}` },
    { name: 'flaky', family: 'openai', base_url: failing.url, fallbacks: ['openai'] },
    { name: 'down', family: 'openai', base_url: failing.url },
    { name: 'silent', family: 'openai', base_url: silentUrl, timeouts: { first_byte: 200 } },
    { name: 'silent-long', family: 'openai', base_url: silentUrl },
  ]);
  t.teardown(async () => {
    await providers.close();
    await mock.close();
    await failing.close();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
  });
  const deps = { providers };
  const forward = (name: string, body = chatBody('hello')) => {
    const made = decidedCall({
      set: NONE,
      body,
      providers,
      provider: name,
      headers: { authorization: 'Bearer aigov_callerkey_123', 'x-trace': 'abc' },
    });
    const provider = providers.get(name)!;
    const bytes = JSON.stringify(body);
    return { ...made, provider, bytes, abort: new CallAbort() };
  };

  t.test('sends the prepared bytes with the provider’s credential, never the caller’s', async (t) => {
    const f = forward('openai');
    const before = mock.requests.length;
    const upstream = await forwardStage(f.call, deps, f.provider, f.bytes, f.abort);
    t.equal(upstream.response.statusCode, 200);
    t.equal(upstream.provider.name, 'openai');
    t.equal(f.call.row.provider, 'openai');
    t.ok(upstream.headersAt >= upstream.sentAt);
    const json = JSON.parse(await upstream.response.body.text()) as { object: string };
    t.equal(json.object, 'chat.completion');
    const got = mock.requests[before]!;
    t.equal(got.path, '/v1/chat/completions');
    t.same(got.body, chatBody('hello'));
    t.equal(got.headers['authorization'], 'Bearer sk-provider-key');
    t.equal(got.headers['x-trace'], 'abc', 'ordinary headers pass');
    t.equal(got.headers['x-request-id'], 'req-test-0001');
    t.equal(isEventStream(f.call, upstream), false, 'not a stream');
  });

  t.test('a 5xx answer is upstream_error; its body is not passed back', async (t) => {
    const f = forward('down');
    const err = await refusal(forwardStage(f.call, deps, f.provider, f.bytes, f.abort));
    t.equal(err.code, 'upstream_error');
    t.equal(err.status, 502);
    t.equal(err.message, 'Provider down returned 503');
    t.ok(f.call.upstreamMs > 0, 'time spent upstream is kept');
    t.equal(f.call.row.provider, 'down');
  });

  t.test('ungoverned routes pass a 5xx back as it is', async (t) => {
    const f = forward('down');
    const upstream = await forwardStage(f.call, deps, f.provider, f.bytes, f.abort, false);
    t.equal(upstream.response.statusCode, 503);
    t.match(JSON.parse(await upstream.response.body.text()), { error: { message: 'mock failure 503' } });
  });

  t.test('fallbacks: connect failure or a 5xx moves to the next provider of the family', async (t) => {
    const refused = forward('dead');
    const before = mock.requests.length;
    const a = await forwardStage(refused.call, deps, refused.provider, refused.bytes, refused.abort);
    t.equal(a.provider.name, 'openai');
    t.equal(refused.call.row.provider, 'openai', 'the row names who answered');
    t.equal(mock.requests.length, before + 1);
    await a.response.body.dump();

    const flaky = forward('flaky');
    const b = await forwardStage(flaky.call, deps, flaky.provider, flaky.bytes, flaky.abort);
    t.equal(b.provider.name, 'openai');
    t.equal(b.response.statusCode, 200);
    await b.response.body.dump();

    const cross = forward('dead-cross');
    const err = await refusal(forwardStage(cross.call, deps, cross.provider, cross.bytes, cross.abort));
    t.equal(err.code, 'upstream_error', 'a fallback of another family is never used');
    t.match(err.message, /^Provider dead-cross failed: ECONNREFUSED/);
  });

  t.test('connection refused without fallback: upstream_error 502', async (t) => {
    const f = forward('dead-alone');
    const err = await refusal(forwardStage(f.call, deps, f.provider, f.bytes, f.abort));
    t.equal(err.code, 'upstream_error');
    t.equal(err.status, 502);
    t.equal(err.message, 'Provider dead-alone failed: ECONNREFUSED');
    t.equal(f.call.row.aborted, false);
  });

  t.test('no first byte in time: upstream_timeout 504', async (t) => {
    const f = forward('silent');
    const arrived = new Promise<IncomingMessage>((r) => arrivals.push(r));
    const err = await refusal(forwardStage(f.call, deps, f.provider, f.bytes, f.abort));
    await arrived;
    t.equal(err.code, 'upstream_timeout');
    t.equal(err.status, 504);
    t.equal(err.message, 'Provider silent timed out waiting for the first byte');
  });

  t.test('the client leaving cancels the upstream call: client_aborted', async (t) => {
    const f = forward('silent-long');
    let upstreamClosed!: () => void;
    const closed = new Promise<void>((r) => (upstreamClosed = r));
    const arrived = new Promise<IncomingMessage>((r) => arrivals.push(r));
    const sending = refusal(forwardStage(f.call, deps, f.provider, f.bytes, f.abort));
    const req = await arrived;
    req.socket.once('close', () => upstreamClosed());
    f.abort.abort();
    const err = await sending;
    t.equal(err.code, 'upstream_error');
    t.equal(err.message, 'Client closed the request');
    t.equal(f.call.row.aborted, true);
    t.equal(f.call.row.error, 'client_aborted');
    await closed;
    t.pass('the upstream connection was closed');
  });

  t.test('isEventStream: a 200 event stream the caller asked for', async (t) => {
    const s = decidedCall({ set: NONE, body: chatBody('hi', { stream: true }), providers });
    const p = providers.get('openai')!;
    t.equal(isEventStream(s.call, upstreamOf(p, 200, { 'content-type': 'text/event-stream' }, [])), true);
    t.equal(isEventStream(s.call, upstreamOf(p, 200, { 'content-type': 'application/json' }, [])), false);
    t.equal(isEventStream(s.call, upstreamOf(p, 400, { 'content-type': 'text/event-stream' }, [])), false);
    const plain = decidedCall({ set: NONE, body: chatBody('hi'), providers });
    t.equal(
      isEventStream(plain.call, upstreamOf(p, 200, { 'content-type': 'text/event-stream' }, [])),
      false,
    );
  });
});
