import t from 'tap';
import { createServer, type AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { request } from 'undici';
import { KeyStore } from '../../../src/auth/key-store.js';
import { postgresDb } from '../../support/db.js';
import { startMockProvider } from '../../support/mock-provider.js';
import { startProxyProcess } from '../../support/proxy-process.js';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Two processes in one folder with no AIGOV_REPLICA_ID (pm2, systemd templates): each gets its
 * own default replica id (host name + port), so both start, each with its own spool and chain.
 * Two processes that really share an id still refuse (the spool lock), as before.
 */
t.test('several replicas on one host without AIGOV_REPLICA_ID', async (t) => {
  const pg = await postgresDb();
  if (!pg) return t.plan(0, 'no TEST_DATABASE_URL: the replicas need a shared Postgres');
  t.teardown(pg.cleanup);
  const mock = await startMockProvider({});
  t.teardown(() => mock.close());
  const dir = t.testdir({ 'policies.yaml': 'version: 1\nrules: []\n' });
  const key = (await new KeyStore(pg.db, 4).create({ owner: 'multi@example.com' })).key;
  const env = {
    POLICIES_PATH: `${dir}/policies.yaml`,
    DATABASE_URL: pg.url!,
    OPENAI_BASE_URL: mock.url,
    OPENAI_API_KEY: 'sk-provider',
    AIGOV_MIGRATE_ON_START: 'false',
    AIGOV_AUDIT_SPOOL_DIR: `${dir}/spool`,
  };
  const ports = [await freePort(), await freePort()];
  const procs = await Promise.all(ports.map((p) => startProxyProcess({ ...env, PORT: String(p) })));
  t.teardown(() => Promise.all(procs.map((p) => p.stop())));
  for (const p of procs) {
    const res = await request(`${p.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
    });
    await res.body.text();
    t.equal(res.statusCode, 200, `${p.url} serves`);
  }
  await Promise.all(procs.map((p) => p.stop()));
  const rows = await pg.db.query<{ replica_id: string }>(
    'SELECT DISTINCT replica_id FROM usage_logs ORDER BY replica_id',
  );
  t.same(
    rows.map((r) => r.replica_id),
    ports.map((p) => `${hostname()}-${p}`).sort(),
    'one chain per process, named by host and port',
  );

  const same = { ...env, PORT: String(await freePort()), AIGOV_REPLICA_ID: 'shared-id' };
  const first = await startProxyProcess(same);
  t.teardown(() => first.stop());
  await t.rejects(
    startProxyProcess({ ...same, PORT: String(await freePort()) }),
    /in use by process/,
    'a real collision still refuses',
  );
});
