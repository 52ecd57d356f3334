import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { startProxy, type ProxyHarness } from '../../support/proxy.js';
import { startTcpProxy, type TcpProxy } from '../../support/tcp-proxy.js';
import { redisReachable, REDIS_URL } from '../../support/redis.js';
import { IN_CI } from '../../support/db.js';

/** Redis going away mid-run, seen from the proxy: fail closed refuses, fail open serves flagged. */
const REDIS = new URL(REDIS_URL);

const body = { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] };

async function call(h: ProxyHarness): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${h.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${h.key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function until(fn: () => Promise<boolean>, ms = 15_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

async function setup(t: Test, failMode: 'open' | 'closed'): Promise<{ h: ProxyHarness; tcp: TcpProxy }> {
  const tcp = await startTcpProxy(REDIS.hostname, Number(REDIS.port || 6379));
  const rule = `per-key-${randomBytes(4).toString('hex')}`;
  const h = await startProxy({
    policies: `version: 1\nrules:\n  - id: ${rule}\n    limit: { requests: 1000, per: 30d, by: key }\n`,
    overrides: { redis: { url: tcp.url('redis'), command_timeout: 100 }, limits: { fail_mode: failMode } },
  });
  t.teardown(async () => {
    await h.close();
    await tcp.close();
  });
  return { h, tcp };
}

t.test('Redis outage through the proxy', async (t) => {
  if (!(await redisReachable())) {
    if (IN_CI) throw new Error('Redis must be reachable in CI');
    return t.plan(0, 'Redis not reachable');
  }

  await t.test('fail closed: nothing reaches the provider while Redis is down, then recovery', async (t) => {
    const { h, tcp } = await setup(t, 'closed');
    t.equal((await call(h)).status, 200);
    const before = h.mock.requests.length;
    tcp.cut(true);
    const refused = await call(h);
    t.equal(refused.status, 503);
    t.match(refused.json, { error: { code: 'limits_unavailable' } });
    for (let i = 0; i < 5; i++) t.equal((await call(h)).status, 503);
    t.equal(h.mock.requests.length, before, 'the provider received nothing during the outage');
    const ready = await fetch(`${h.url}/ready`);
    t.equal(ready.status, 503, 'not ready while fail-closed and degraded');
    tcp.cut(false);
    t.ok(
      await until(async () => (await call(h)).status === 200),
      'serves again once Redis answers, no restart',
    );
    const rows = await h.rows('status_code = 503');
    t.ok(rows.length >= 6, 'refusals are audited');
    t.ok(rows.every((r) => r.decision === 'block' && r.error === 'limits_unavailable'));
  });

  await t.test('fail open: requests pass and are flagged, then recovery', async (t) => {
    const { h, tcp } = await setup(t, 'open');
    t.equal((await call(h)).status, 200);
    tcp.cut(true);
    for (let i = 0; i < 5; i++) t.equal((await call(h)).status, 200, 'served during the outage');
    const ready = await fetch(`${h.url}/ready`);
    t.equal(ready.status, 200, 'fail-open stays ready');
    tcp.cut(false);
    t.ok(
      await until(async () => {
        await call(h);
        return h.services.limiter.state() === 'ok';
      }),
      'limiter recovers',
    );
    const rows = await h.rows();
    const degraded = rows.filter((r) => r.degraded === true);
    t.ok(degraded.length >= 5, `${degraded.length} rows flagged degraded`);
    t.equal(rows[0]!.degraded, false, 'rows before the outage are not flagged');
    t.equal(rows.at(-1)!.degraded, false, 'rows after recovery are not flagged');
  });
});
