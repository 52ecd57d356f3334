import t from 'tap';
import net from 'node:net';
import { request } from 'undici';
import { buildTestApp } from '../../support/app.js';
import { startProxy } from '../../support/proxy.js';
import { KeyStore } from '../../../src/auth/key-store.js';
import { formatKey, generateKey } from '../../../src/auth/key-format.js';

/** Sends raw bytes and returns the status line (or '' when the server just closed). */
function raw(port: number, payload: string, waitMs = 5_000): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    const done = (): void => {
      socket.destroy();
      resolve(data.split('\r\n', 1)[0] ?? '');
    };
    socket.on('data', (d: Buffer) => {
      data += d.toString('latin1');
      if (data.includes('\r\n')) done();
    });
    socket.on('close', done);
    socket.on('error', done);
    socket.setTimeout(waitMs, done);
    socket.write(payload);
  });
}

t.test('the HTTP layer refuses smuggling shapes, bad headers and slow clients', async (t) => {
  const h = await buildTestApp({
    overrides: { server: { headers_timeout: 1_000, max_header_bytes: 8_192 } },
  });
  t.teardown(h.close);
  await h.app.listen({ port: 0, host: '127.0.0.1' });
  const port = (h.app.server.address() as net.AddressInfo).port;
  const post = 'POST /api/evaluate HTTP/1.1\r\nHost: x\r\n';

  t.match(
    await raw(port, `${post}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`),
    / 400 /,
    'CL + TE',
  );
  t.match(
    await raw(port, `${post}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`),
    / 400 /,
    'duplicate CL',
  );
  t.match(await raw(port, `${post}X-A: a\rb\r\nContent-Length: 0\r\n\r\n`), / 400 /, 'bare CR in a value');
  t.match(await raw(port, `${post}X-A: a\r\n folded\r\nContent-Length: 0\r\n\r\n`), / 400 /, 'obs-fold');
  t.match(await raw(port, `${post}Bad Header: x\r\nContent-Length: 0\r\n\r\n`), / 400 /, 'space in a name');
  t.match(await raw(port, `POST /api/evaluate HTTP/1.1\r\nContent-Length: 0\r\n\r\n`), / 400 /, 'no Host');
  t.match(await raw(port, `${post}X-Big: ${'a'.repeat(10_000)}\r\n\r\n`), / 431 /, 'oversized headers');
  t.match(
    await raw(port, `GET /health HTTP/1.1\r\nHost: x\r\n\r\n`),
    / 200 /,
    'a normal request still works',
  );

  // Slowloris: headers started, never finished. The server must hang up on its own.
  const started = Date.now();
  const socket = net.connect(port, '127.0.0.1');
  socket.write('POST /api/evaluate HTTP/1.1\r\nHost: x\r\nX-Slow: ');
  const closedIn = await new Promise<number>((resolve) => {
    // Node answers 408 and hangs up; either is the server giving up on the client.
    socket.on('data', (d: Buffer) => {
      if (d.toString('latin1').startsWith('HTTP/1.1 408')) resolve(Date.now() - started);
    });
    socket.on('close', () => resolve(Date.now() - started));
    socket.on('error', () => {});
    setTimeout(() => resolve(Infinity), 15_000);
  });
  socket.destroy();
  t.ok(closedIn < 15_000, `slow client disconnected after ${closedIn} ms (headers_timeout 1 s)`);
});

t.test(
  'credentials never travel upstream, whatever the header spelling; forwarded-for is dropped',
  async (t) => {
    const h = await startProxy();
    t.teardown(h.close);
    const res = await request(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${h.key}`,
        'content-type': 'application/json',
        x_api_key: h.key,
        'x-custom-auth': `token ${h.key}`,
        'x-forwarded-for': '6.6.6.6',
        forwarded: 'for=6.6.6.6',
        cookie: 'session=abc',
        'openai-organization': 'org-1',
      },
      body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
    });
    const text = await res.body.text();
    t.equal(res.statusCode, 200);
    t.notOk(text.includes(h.key), 'the response never echoes the key');
    const seen = h.mock.requests.at(-1)!;
    const flat = JSON.stringify(seen.headers);
    t.notOk(flat.includes('aigov_'), 'no aigov key in any upstream header');
    t.equal(seen.headers['x_api_key'], undefined);
    t.equal(seen.headers['x-forwarded-for'], undefined);
    t.equal(seen.headers.forwarded, undefined);
    t.equal(seen.headers.cookie, undefined);
    t.equal(seen.headers['openai-organization'], 'org-1', 'provider headers pass');
    t.match(String(seen.headers.authorization), /^Bearer sk-test-provider/);
  },
);

t.test('key abuse: random keys cost no bcrypt, guessing a secret is throttled per IP', async (t) => {
  const h = await buildTestApp({ overrides: { limits: { auth_failures_per_ip_per_minute: 20 } } });
  t.teardown(h.close);
  const store = new KeyStore(h.testDb.db, 12);
  const { key, stored } = await store.create({ owner: 'victim@example.com' });
  let lookups = 0;
  const original = h.services.keys.findById.bind(h.services.keys);
  h.services.keys.findById = async (id: string) => {
    lookups++;
    return original(id);
  };
  // The verifier was built with a lookup that calls keys.findById at call time.
  const verify = (k: string, ip: string) =>
    h.app.inject({
      method: 'POST',
      url: '/api/evaluate',
      headers: { authorization: `Bearer ${k}` },
      remoteAddress: ip,
    });

  const randomKeys = Array.from({ length: 300 }, () => generateKey().key);
  const started = performance.now();
  let i = 0;
  for (const k of randomKeys)
    t.equal((await verify(k, `10.0.${Math.floor(i / 20)}.${i++ % 20}`)).statusCode, 401);
  const floodMs = performance.now() - started;
  const again = performance.now();
  t.equal((await verify(key, '10.200.0.1')).statusCode, 200);
  const bcryptMs = performance.now() - again;
  t.ok(
    floodMs < bcryptMs * 30,
    `300 random keys took ${floodMs.toFixed(0)} ms, one bcrypt ${bcryptMs.toFixed(0)} ms`,
  );
  t.ok(lookups <= 301, `${lookups} lookups: one per unknown id, none repeated`);
  for (const k of randomKeys.slice(0, 50)) await verify(k, '10.201.0.1');
  t.ok(lookups <= 301, 'repeating unknown keys costs no lookup');

  // Guessing the secret of a known id: each guess would be one bcrypt, so the IP is cut off.
  // Well-formed keys (valid checksum) for the victim's id: each one reaches bcrypt unless throttled.
  const forged = Array.from({ length: 60 }, () => formatKey(stored.id, generateKey().secret));
  const statuses: number[] = [];
  const from = Date.now();
  for (const k of forged) statuses.push((await verify(k, '10.99.0.1')).statusCode);
  // The throttle counts per calendar minute: on a slow machine 20 bcrypts can straddle a minute
  // boundary, and the new minute brings a fresh allowance of 20.
  const windows = Math.floor(Date.now() / 60_000) - Math.floor(from / 60_000) + 1;
  const reachedBcrypt = statuses.filter((s) => s !== 429).length;
  t.ok(
    reachedBcrypt <= 20 * windows + 1,
    `${reachedBcrypt} of 60 guesses reached bcrypt over ${windows} throttle window(s) of 20`,
  );
  t.ok(statuses.filter((s) => s === 429).length >= 60 - 20 * windows - 1, 'the rest were throttled');
  t.equal(statuses.filter((s) => s === 200).length, 0);
});
