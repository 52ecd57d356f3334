import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { buildApp, corsOrigin } from '../../../src/app.js';
import { startProxy } from '../../support/proxy.js';

/** A throw-away self-signed certificate for localhost and 127.0.0.1. */
function selfSigned(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'tls.crt');
  const key = join(dir, 'tls.key');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}

function get(url: string, ca: string | undefined, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(new URL(path, url), { ca, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('TLS_CERT/TLS_KEY: HTTPS served directly', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aigov-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const files = selfSigned(dir);
  const ca = readFileSync(files.cert, 'utf8');

  t.test('from files', async (t) => {
    const h = await startProxy({ overrides: { server: { tls_cert: files.cert, tls_key: files.key } } });
    t.teardown(() => h.close());
    t.match(h.url, /^https:\/\//);
    const res = await get(h.url, ca, '/health');
    t.equal(res.status, 200, 'verified against the self-signed CA');
    t.match(JSON.parse(res.body), { status: 'ok' });
    await t.rejects(get(h.url, undefined, '/health'), /self[- ]signed/i, 'untrusted without the CA');
    const plain = await fetch(h.url.replace('https:', 'http:') + '/health').catch((e: unknown) => e);
    t.ok(plain instanceof Error, 'plain HTTP is not served on the TLS port');
  });

  t.test('HTTP/2 by ALPN on the same TLS port (the AWS SDK default handler)', async (t) => {
    const h = await startProxy({ overrides: { server: { tls_cert: files.cert, tls_key: files.key } } });
    t.teardown(() => h.close());
    const session = http2.connect(h.url, { ca });
    t.teardown(() => session.destroy());
    const alpn = await new Promise<string | false | undefined>((resolve, reject) => {
      session.once('connect', () => resolve(session.alpnProtocol));
      session.once('error', reject);
    });
    t.equal(alpn, 'h2', 'h2 negotiated');
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const stream = session.request({ ':path': '/health' });
      let status = 0;
      let body = '';
      stream.setEncoding('utf8');
      stream.on('response', (headers) => (status = Number(headers[':status'])));
      stream.on('data', (c: string) => (body += c));
      stream.on('end', () => resolve({ status, body }));
      stream.on('error', reject);
    });
    t.equal(res.status, 200);
    t.match(JSON.parse(res.body), { status: 'ok' });
    t.equal((await get(h.url, ca, '/health')).status, 200, 'HTTP/1.1 over TLS still served');
  });

  t.test('server.h2c: false offers no h2 over TLS', async (t) => {
    const h = await startProxy({
      overrides: { server: { tls_cert: files.cert, tls_key: files.key, h2c: false } },
    });
    t.teardown(() => h.close());
    const session = http2.connect(h.url, { ca });
    const err = await new Promise<unknown>((resolve) => {
      session.once('connect', () => resolve(null));
      session.once('error', resolve);
    });
    session.destroy();
    t.ok(err instanceof Error, `no HTTP/2 session (${String(err)})`);
    t.equal((await get(h.url, ca, '/health')).status, 200);
  });

  t.test('inline PEM (e.g. from a secret in the environment)', async (t) => {
    const h = await startProxy({
      overrides: { server: { tls_cert: ca, tls_key: readFileSync(files.key, 'utf8') } },
    });
    t.teardown(() => h.close());
    t.equal((await get(h.url, ca, '/health')).status, 200);
  });

  t.test('one without the other is refused at start-up, naming the field', async (t) => {
    const h = await startProxy({ listen: false });
    t.teardown(() => h.close());
    const server = h.services.config.server;
    await t.rejects(
      buildApp({
        ...h.services,
        config: { ...h.services.config, server: { ...server, tls_cert: files.cert } },
      }),
      /server\.tls_key \(TLS_KEY\) is required/,
    );
    await t.rejects(
      buildApp({
        ...h.services,
        config: { ...h.services.config, server: { ...server, tls_key: files.key } },
      }),
      /server\.tls_cert \(TLS_CERT\) is required/,
    );
  });
});

const preflight = (origin: string, url = '/v1/chat/completions') => ({
  method: 'OPTIONS' as const,
  url,
  headers: {
    origin,
    'access-control-request-method': 'POST',
    'access-control-request-headers': 'authorization,content-type',
  },
});

t.test('CORS from server.cors_origins', async (t) => {
  const h = await startProxy({
    listen: false,
    overrides: { server: { cors_origins: ['https://app.example.com', 'https://*.corp.example'] } },
  });
  t.teardown(() => h.close());

  for (const origin of ['https://app.example.com', 'https://tools.corp.example']) {
    const res = await h.app.inject(preflight(origin));
    t.equal(res.statusCode, 204, `${origin}: preflight answered`);
    t.equal(res.headers['access-control-allow-origin'], origin, `${origin}: allowed`);
    t.match(String(res.headers['access-control-allow-headers']), /authorization/);
    t.match(String(res.headers['access-control-allow-methods']), /POST/);
    t.match(String(res.headers['vary']), /Origin/i);
  }
  for (const origin of [
    'https://evil.example.com',
    'http://app.example.com',
    'https://a.b.corp.example',
    'https://tools.corp.example.evil.com',
  ]) {
    const res = await h.app.inject(preflight(origin));
    t.notOk(res.headers['access-control-allow-origin'], `${origin}: denied`);
  }

  const actual = await h.app.inject({
    method: 'POST',
    url: '/v1/chat/completions',
    headers: { origin: 'https://app.example.com', authorization: `Bearer ${h.key}` },
    payload: { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] },
  });
  t.equal(actual.statusCode, 200);
  t.equal(actual.headers['access-control-allow-origin'], 'https://app.example.com');
  t.match(String(actual.headers['access-control-expose-headers']), /x-request-id.*x-aigov-decision/);
  const denied = await h.app.inject({
    method: 'GET',
    url: '/health',
    headers: { origin: 'https://evil.example.com' },
  });
  t.notOk(denied.headers['access-control-allow-origin'], 'no CORS headers for other origins');
});

t.test('CORS off by default: no CORS headers at all', async (t) => {
  const h = await startProxy({ listen: false });
  t.teardown(() => h.close());
  const res = await h.app.inject(preflight('https://app.example.com'));
  t.notOk(res.headers['access-control-allow-origin']);
  t.notOk(res.headers['access-control-allow-methods']);
  t.not(res.statusCode, 204, 'no preflight handler');
  const get = await h.app.inject({ method: 'GET', url: '/health', headers: { origin: 'https://x.example' } });
  t.notOk(get.headers['access-control-allow-origin']);
});

t.test('corsOrigin patterns', async (t) => {
  t.equal(corsOrigin(['https://a.example', '*']), '*');
  const [exact, wild] = corsOrigin(['https://a.example', 'https://*.b.example']) as [string, RegExp];
  t.equal(exact, 'https://a.example');
  t.ok(wild.test('https://x.b.example'));
  t.notOk(wild.test('https://x.y.b.example'));
  t.notOk(wild.test('https://xb.example'));
  t.notOk(wild.test('https://x.b.example:8443.evil'));
});
