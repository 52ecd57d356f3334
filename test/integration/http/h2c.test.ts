import t from 'tap';
import http2, {
  type ClientHttp2Session,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import { DEFAULT_REPLY } from '../../support/mock-provider.js';
import { OPENAI_PROVIDER_KEY, mockHeader, startProxy, type ProxyHarness } from '../../support/proxy.js';

/**
 * HTTP/2 cleartext with prior knowledge (h2c) on the proxy's port, beside HTTP/1.1: what the AWS
 * SDK's default handler speaks to an http:// endpoint. Driven with node:http2 directly.
 */

interface H2Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** Each piece of the body as it arrived (performance.now()). */
  arrivals: { at: number; text: string }[];
}

function h2(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: unknown): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const stream = session.request(
      {
        ':method': payload === undefined ? 'GET' : 'POST',
        ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      { endStream: payload === undefined },
    );
    let status = 0;
    let responseHeaders: IncomingHttpHeaders = {};
    const arrivals: H2Answer['arrivals'] = [];
    stream.setEncoding('utf8');
    stream.on('response', (h) => {
      status = Number(h[':status']);
      responseHeaders = h;
    });
    stream.on('data', (text: string) => arrivals.push({ at: performance.now(), text }));
    stream.on('end', () =>
      resolve({ status, headers: responseHeaders, body: arrivals.map((a) => a.text).join(''), arrivals }),
    );
    stream.on('error', reject);
    if (payload !== undefined) stream.end(payload);
  });
}

function connect(url: string): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url);
    session.once('connect', () => resolve(session));
    session.once('error', reject);
  });
}

/** Writes raw bytes; resolves with what came back once the server closes the connection. */
function rawExchange(port: number, payload: Buffer | string): Promise<{ data: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ data: Buffer.concat(chunks), closed: false });
    }, 10_000);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks), closed: true });
    });
    socket.write(payload);
  });
}

/** Types of the HTTP/2 frames in a server's bytes (9-byte header: 24-bit length, then type). */
function frameTypes(data: Buffer): number[] {
  const types: number[] = [];
  for (let at = 0; at + 9 <= data.length; at += 9 + data.readUIntBE(at, 3)) types.push(data[at + 3]!);
  return types;
}

const chat = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  model: 'gpt-4o',
  messages: [{ role: 'user', content: 'Say hello' }],
  ...extra,
});

const PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';

t.test('h2c beside HTTP/1.1 on one port', async (t) => {
  const h = await startProxy({
    overrides: {
      server: { max_header_bytes: 8_192, headers_timeout: 1_000 },
      passthrough: [{ provider: 'openai', routes: ['/v1/fine_tuning/**'], methods: ['GET', 'POST'] }],
    },
  });
  t.teardown(() => h.close());
  const port = (h.app.server.address() as AddressInfo).port;
  t.ok(port > 0, 'app.server.address() gives the port');
  const session = await connect(h.url);
  t.teardown(() => session.destroy());
  const auth = { authorization: `Bearer ${h.key}` };

  t.test('a chat completion over h2c is governed and audited', async (t) => {
    const before = h.mock.requests.length;
    const res = await h2(session, { ':path': '/v1/chat/completions', ...auth }, chat());
    t.equal(res.status, 200);
    const json = JSON.parse(res.body) as { choices: { message: { content: string } }[] };
    t.equal(json.choices[0]?.message.content, DEFAULT_REPLY);
    t.equal(res.headers['x-aigov-decision'], 'allow');
    t.ok(res.headers['x-request-id'], 'request id header');
    const seen = h.mock.requests.slice(before);
    t.equal(seen.length, 1, 'one call reached the provider');
    t.equal(seen[0]?.path, '/v1/chat/completions');
    t.equal(seen[0]?.headers['authorization'], `Bearer ${OPENAI_PROVIDER_KEY}`, 'provider key injected');
    t.notOk(
      Object.keys(seen[0]?.headers ?? {}).some((n) => n.startsWith(':')),
      'no pseudo-header forwarded',
    );
    const rows = await h.rows(`route = '/v1/chat/completions' AND stream = false`);
    t.equal(rows.length, 1);
    t.match(rows[0], { decision: 'allow', status_code: 200, key_id: h.keyId, model: 'gpt-4o' });
  });

  t.test('a policy refusal over h2c is the provider-shaped error', async (t) => {
    const res = await h2(
      session,
      { ':path': '/v1/chat/completions', authorization: 'Bearer aigov_nope' },
      chat(),
    );
    t.equal(res.status, 401);
    t.match(JSON.parse(res.body), { error: { type: String, message: String } });
  });

  t.test('a streamed SSE answer arrives event by event', async (t) => {
    const res = await h2(
      session,
      { ':path': '/v1/chat/completions', ...auth, ...mockHeader({ chunks: 6, chunkDelayMs: 60 }) },
      chat({ stream: true }),
    );
    t.equal(res.status, 200);
    t.match(res.headers['content-type'], /^text\/event-stream/);
    for (const name of ['connection', 'transfer-encoding', 'keep-alive'])
      t.notOk(res.headers[name], `no ${name} header on an h2 response`);
    const events = res.arrivals.filter((a) => a.text.includes('data: '));
    t.ok(events.length >= 6, `${events.length} separate arrivals`);
    const spread = events.at(-1)!.at - events[0]!.at;
    t.ok(spread >= 200, `arrivals spread over ${Math.round(spread)} ms, not one buffered blob`);
    const text = res.body
      .split('\n')
      .filter((l) => l.startsWith('data: {'))
      .map(
        (l) =>
          (JSON.parse(l.slice(6)) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta
            .content ?? '',
      )
      .join('');
    t.equal(text, DEFAULT_REPLY);
    t.match(res.body, /data: \[DONE\]\n\n$/);
    const rows = await h.rows(`route = '/v1/chat/completions' AND stream = true`);
    t.equal(rows.length, 1);
    t.match(rows[0], { decision: 'allow', status_code: 200, aborted: false });
  });

  t.test('passthrough (http-proxy) works over h2c', async (t) => {
    const res = await h2(session, { ':path': '/v1/fine_tuning/jobs/ftjob-1/events?limit=2', ...auth });
    t.equal(res.status, 200);
    t.equal(res.headers['x-aigov-decision'], 'passthrough');
    const req = h.mock.requests.at(-1)!;
    t.equal(req.method, 'GET');
    t.equal(req.path, '/v1/fine_tuning/jobs/ftjob-1/events');
    t.equal(req.headers['authorization'], `Bearer ${OPENAI_PROVIDER_KEY}`);
    t.notOk(JSON.stringify(req.headers).includes(h.key), 'caller key stripped');
    const post = await h2(
      session,
      { ':path': '/v1/fine_tuning/alpha/graders/run', ...auth },
      { grader: 'g' },
    );
    t.equal(post.status, 200);
    t.equal(h.mock.requests.at(-1)?.method, 'POST', 'method kept');
    // Upstream HTTP/1 connection headers are dropped on the h2 response (Node throws on them).
    const hop = await h2(session, {
      ':path': '/v1/fine_tuning/jobs/ftjob-1',
      ...auth,
      ...mockHeader({
        fail: {
          status: 409,
          headers: { 'keep-alive': 'timeout=5', 'proxy-connection': 'keep-alive', 'x-up': '1' },
        },
      }),
    });
    t.equal(hop.status, 409, "the provider's status relayed");
    t.equal(hop.headers['x-up'], '1', 'other provider headers relayed');
    t.notOk(hop.headers['keep-alive'], 'keep-alive dropped');
    t.notOk(hop.headers['proxy-connection'], 'proxy-connection dropped');
    t.match(JSON.parse(hop.body), { error: { message: /mock failure 409/ } });
  });

  t.test('HTTP/1.1 on the same port still works', async (t) => {
    const res = await h.send('/v1/chat/completions', { body: chat() });
    t.equal(res.status, 200);
    t.match(await res.json(), { choices: [{ message: { content: DEFAULT_REPLY } }] });
    const big = await rawExchange(
      port,
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(10_000)}\r\n\r\n`,
    );
    t.match(big.data.toString('latin1'), /^HTTP\/1\.1 431 /, 'HTTP/1.1 oversized headers still 431');
    const smuggle = await rawExchange(
      port,
      'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    );
    t.match(smuggle.data.toString('latin1'), /^HTTP\/1\.1 400 /, 'CL + TE still 400');
  });

  t.test(
    'oversized or too many headers, or a lying Content-Length, over h2 are refused; the session goes on',
    async (t) => {
      const before = h.mock.requests.length;
      const refused = async (headers: OutgoingHttpHeaders): Promise<number> => {
        const stream = session.request({
          ':method': 'POST',
          ':path': '/v1/chat/completions',
          ...auth,
          ...headers,
        });
        stream.on('error', () => {});
        stream.resume();
        stream.end(JSON.stringify(chat()));
        return new Promise((resolve) => stream.on('close', () => resolve(stream.rstCode ?? -1)));
      };
      t.equal(
        await refused({ 'x-big': 'a'.repeat(10_000) }),
        http2.constants.NGHTTP2_ENHANCE_YOUR_CALM,
        'a header block over max_header_bytes resets the stream',
      );
      const many: OutgoingHttpHeaders = {};
      for (let i = 0; i < 120; i++) many[`x-h${i}`] = 'v';
      t.equal(
        await refused(many),
        http2.constants.NGHTTP2_ENHANCE_YOUR_CALM,
        'more headers than max_headers resets the stream',
      );
      const mismatch = session.request({
        ':method': 'POST',
        ':path': '/v1/chat/completions',
        'content-type': 'application/json',
        'content-length': '10',
        ...auth,
      });
      mismatch.on('error', () => {});
      mismatch.resume();
      mismatch.end(JSON.stringify(chat()));
      await new Promise((r) => mismatch.on('close', r));
      t.equal(
        mismatch.rstCode,
        http2.constants.NGHTTP2_PROTOCOL_ERROR,
        'a Content-Length the data contradicts resets',
      );
      t.equal(h.mock.requests.length, before, 'nothing reached the provider');
      const ok = await h2(session, { ':path': '/v1/chat/completions', ...auth }, chat());
      t.equal(ok.status, 200, 'the same session serves the next request');
    },
  );

  t.test('garbage and broken prefaces are closed; the process goes on', async (t) => {
    const bad = await rawExchange(port, 'PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n');
    t.ok(bad.closed, 'a broken preface is closed');
    t.match(bad.data.toString('latin1'), /^(HTTP\/1\.1 400 |$)/, 'by the HTTP/1 parser');
    // A valid preface followed by something that is not a SETTINGS frame: a connection error.
    const frames = Buffer.concat([Buffer.from(PREFACE, 'latin1'), Buffer.from('garbage garbage garbage!')]);
    const h2bad = await rawExchange(port, frames);
    t.ok(h2bad.closed, 'a bad first frame is closed');
    t.ok(frameTypes(h2bad.data).includes(0x07), 'with a GOAWAY frame');
    const noise = await rawExchange(port, Buffer.from([0, 1, 2, 3, 255, 254, 13, 10, 13, 10]));
    t.ok(noise.closed, 'binary noise is closed');
    // Silent connections: never a byte. The sniffer hangs up after headers_timeout.
    const silent = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => {});
      s.on('close', () => resolve(true));
      setTimeout(() => {
        s.destroy();
        resolve(false);
      }, 8_000).unref();
    });
    t.ok(silent, 'a connection that sends nothing is closed (headers_timeout)');
    const res = await h2(session, { ':path': '/v1/chat/completions', ...auth }, chat());
    t.equal(res.status, 200, 'h2c still answers');
    t.equal((await h.send('/health')).status, 200, 'HTTP/1.1 still answers');
  });
});

t.test('shutdown: idle h2 sessions get GOAWAY, in-flight streams finish, close resolves', async (t) => {
  let h: ProxyHarness | null = await startProxy();
  t.teardown(async () => {
    if (h) await h.close();
  });
  const idle = await connect(h.url);
  const busy = await connect(h.url);
  t.teardown(() => {
    idle.destroy();
    busy.destroy();
  });
  const auth = { authorization: `Bearer ${h.key}` };
  t.equal((await h2(idle, { ':path': '/health' })).status, 200, 'the idle session served one request');
  const idleClosed = new Promise<void>((r) => idle.once('close', r));
  const goaway = new Promise<void>((r) => idle.once('goaway', () => r()));

  const stream = busy.request({
    ':method': 'POST',
    ':path': '/v1/chat/completions',
    'content-type': 'application/json',
    ...auth,
    ...mockHeader({ chunks: 6, chunkDelayMs: 80 }),
  });
  stream.setEncoding('utf8');
  let body = '';
  const started = new Promise<void>((r) => stream.once('data', () => r()));
  stream.on('data', (d: string) => (body += d));
  const ended = new Promise<void>((r, reject) => {
    stream.on('end', r);
    stream.on('error', reject);
  });
  stream.end(JSON.stringify(chat({ stream: true })));
  await started;
  const closing = h.app.close();
  await goaway;
  await idleClosed;
  t.pass('the idle session got GOAWAY and closed');
  await ended;
  t.match(body, /data: \[DONE\]\n\n$/, 'the in-flight stream finished');
  await closing;
  t.pass('app.close() resolved');
  const harness = h;
  h = null;
  await harness.close();
});

t.test('server.h2c: false serves HTTP/1.1 only', async (t) => {
  const h = await startProxy({ overrides: { server: { h2c: false } } });
  t.teardown(() => h.close());
  const port = (h.app.server.address() as AddressInfo).port;
  const res = await rawExchange(port, `${PREFACE}\0\0\0\x04\0\0\0\0\0`);
  t.notMatch(res.data.toString('latin1', 0, 9), /^\0\0/, 'no HTTP/2 SETTINGS frame back');
  t.ok(res.closed);
  t.equal((await h.send('/health')).status, 200);
});

t.test('server.request_timeout bounds an h2 request whose body never ends', async (t) => {
  const h = await startProxy({ overrides: { server: { request_timeout: 1_000, headers_timeout: 1_000 } } });
  t.teardown(() => h.close());
  const session = await connect(h.url);
  t.teardown(() => session.destroy());
  const started = performance.now();
  const stream = session.request({
    ':method': 'POST',
    ':path': '/v1/chat/completions',
    'content-type': 'application/json',
    authorization: `Bearer ${h.key}`,
  });
  stream.on('error', () => {});
  stream.resume();
  stream.write('{"model":"gpt-4o","messages":');
  await new Promise((r) => stream.on('close', r));
  const ms = performance.now() - started;
  t.equal(stream.rstCode, http2.constants.NGHTTP2_CANCEL, 'the stream is reset');
  t.ok(ms >= 900 && ms < 5_000, `after ${Math.round(ms)} ms (request_timeout 1 s)`);
  t.equal(h.mock.requests.length, 0, 'nothing reached the provider');
  t.equal((await h2(session, { ':path': '/health' })).status, 200, 'the session goes on');
});
