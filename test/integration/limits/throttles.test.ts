import t from 'tap';
import { buildTestApp } from '../../support/app.js';

t.test('failed authentications are throttled per client IP, before any lookup', async (t) => {
  const h = await buildTestApp({ overrides: { limits: { auth_failures_per_ip_per_minute: 5 } } });
  t.teardown(h.close);
  const { key } = await h.services.keys.create({ owner: 'a@example.com' });
  const bad = { authorization: 'Bearer aigov_wrong' };
  for (let i = 0; i < 5; i++) {
    const r = await h.app.inject({
      method: 'POST',
      url: '/api/evaluate',
      headers: bad,
      remoteAddress: '10.9.9.9',
    });
    t.equal(r.statusCode, 401);
  }
  const throttled = await h.app.inject({
    method: 'POST',
    url: '/api/evaluate',
    headers: { authorization: `Bearer ${key}` },
    remoteAddress: '10.9.9.9',
  });
  t.equal(throttled.statusCode, 429, 'even a valid key is refused from that IP for the window');
  t.match(throttled.json(), { error: { code: 'auth_throttled' } });
  t.ok(Number(throttled.headers['retry-after']) >= 1);
  const other = await h.app.inject({
    method: 'POST',
    url: '/api/evaluate',
    headers: { authorization: `Bearer ${key}` },
    remoteAddress: '10.1.1.1',
  });
  t.equal(other.statusCode, 200, 'other clients are unaffected');
});

t.test('/v1/check and /api/evaluate are rate limited per key and per IP', async (t) => {
  const h = await buildTestApp({
    overrides: { limits: { check_per_key_per_minute: 3, check_per_ip_per_minute: 5 } },
  });
  t.teardown(h.close);
  const { key } = await h.services.keys.create({ owner: 'a@example.com' });
  const { key: key2 } = await h.services.keys.create({ owner: 'b@example.com' });
  const body = { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] };
  const call = (k: string, ip: string) =>
    h.app.inject({
      method: 'POST',
      url: '/v1/check',
      headers: { authorization: `Bearer ${k}` },
      payload: body,
      remoteAddress: ip,
    });
  const codes: number[] = [];
  for (let i = 0; i < 4; i++) codes.push((await call(key, '10.0.0.1')).statusCode);
  t.same(codes, [200, 200, 200, 429], 'per key');
  const limited = await call(key, '10.0.0.2');
  t.equal(limited.statusCode, 429, 'the key limit follows the key across IPs');
  t.match(limited.json(), { error: { type: 'rate_limit_error', code: 'check_rate_limit_key' } });
  // IP 10.0.0.1 has made 4 calls; the 5th is allowed by IP, the 6th is not.
  t.equal((await call(key2, '10.0.0.1')).statusCode, 200);
  const byIp = await call(key2, '10.0.0.1');
  t.equal(byIp.statusCode, 429);
  t.match(byIp.json(), { error: { code: 'check_rate_limit_ip' } });
});
