import t from 'tap';
import { writeFileSync } from 'node:fs';
import { loadConfig, ConfigError } from '../../../src/config/load.js';

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

t.test('defaults load and validate', async (t) => {
  const c = loadConfig({ env: {} });
  t.equal(c.server.port, 8080);
  t.equal(c.server.host, '127.0.0.1');
  t.equal(c.database.url, null);
  t.equal(c.auth.bcrypt_cost, 12);
  t.ok(c.auth.cache_ttl <= 5_000, 'revocation bound of at most 5 s by default');
  t.same(
    c.providers.map((p) => p.name),
    ['openai', 'anthropic'],
  );
});

t.test('environment variables override the file', async (t) => {
  const c = loadConfig({
    env: {
      PORT: '9001',
      HOST: '0.0.0.0',
      DATABASE_URL: 'postgres://x@y/z',
      REDIS_URL: 'redis://r:6379',
      POLICIES_PATH: '/p',
      OPENAI_BASE_URL: 'http://mock:9000',
      ANTHROPIC_BASE_URL: 'http://mock:9001',
      LOG_LEVEL: 'debug',
      ADMIN_TOKEN: 'a'.repeat(32),
    },
  });
  t.equal(c.server.port, 9001);
  t.equal(c.server.host, '0.0.0.0');
  t.equal(c.database.url, 'postgres://x@y/z');
  t.equal(c.redis.url, 'redis://r:6379');
  t.equal(c.policies.path, '/p');
  t.equal(c.providers[0]!.base_url, 'http://mock:9000');
  t.equal(c.providers[1]!.base_url, 'http://mock:9001');
  t.equal(c.log.level, 'debug');
});

t.test('a bad value stops start-up with one line naming the field and its source', async (t) => {
  const port = errorOf(() => loadConfig({ env: { PORT: 'eighty' } }));
  t.match(port, /^invalid config: server\.port: .*from PORT/);
  t.notMatch(port, /\n/);
  t.match(
    errorOf(() => loadConfig({ env: { PORT: '70000' } })),
    /server\.port.*70000.*from PORT/,
  );
  t.match(
    errorOf(() => loadConfig({ env: { LOG_LEVEL: 'loud' } })),
    /log\.level.*from LOG_LEVEL/,
  );
  t.match(
    errorOf(() => loadConfig({ env: { OPENAI_BASE_URL: 'not a url' } })),
    /providers\.0\.base_url/,
  );
  t.match(
    errorOf(() => loadConfig({ env: { AIGOV_EMBEDDED_DB: 'maybe' } })),
    /AIGOV_EMBEDDED_DB.*boolean/,
  );
});

t.test('secrets are never echoed in config errors', async (t) => {
  const msg = errorOf(() => loadConfig({ env: { ADMIN_TOKEN: 'short-secret' } }));
  t.match(msg, /admin\.token/);
  t.notMatch(msg, /short-secret/);
});

t.test('AIGOV_CONFIG is deep-merged, and unknown fields are refused', async (t) => {
  const dir = t.testdir({});
  const good = `${dir}/good.yaml`;
  writeFileSync(good, 'server:\n  port: 9100\naudit:\n  content: redacted\n');
  const c = loadConfig({ env: { AIGOV_CONFIG: good } });
  t.equal(c.server.port, 9100);
  t.equal(c.server.host, '127.0.0.1', 'untouched defaults stay');
  t.equal(c.audit.content, 'redacted');
  const bad = `${dir}/bad.yaml`;
  writeFileSync(bad, 'server:\n  prot: 1\n');
  t.match(
    errorOf(() => loadConfig({ env: { AIGOV_CONFIG: bad } })),
    /invalid config: server: .*prot.* in .*bad\.yaml/,
  );
  t.match(
    errorOf(() => loadConfig({ env: { AIGOV_CONFIG: `${dir}/missing.yaml` } })),
    /cannot read/,
  );
  const broken = `${dir}/broken.yaml`;
  writeFileSync(broken, 'server: [\n');
  t.match(
    errorOf(() => loadConfig({ env: { AIGOV_CONFIG: broken } })),
    /not valid YAML/,
  );
  const durations = `${dir}/dur.yaml`;
  writeFileSync(durations, 'auth:\n  cache_ttl: soon\n');
  t.match(
    errorOf(() => loadConfig({ env: { AIGOV_CONFIG: durations } })),
    /auth\.cache_ttl: "soon" is not a duration/,
  );
});

t.test('production refuses unsafe defaults', async (t) => {
  t.match(
    errorOf(() => loadConfig({ env: { NODE_ENV: 'production' } })),
    /database\.url: production needs DATABASE_URL/,
  );
  const ok = loadConfig({ env: { NODE_ENV: 'production', AIGOV_EMBEDDED_DB: 'true' } });
  t.equal(ok.env, 'production');
  t.equal(ok.auth.dev_key, false, 'no development key in production');
  const withDb = loadConfig({ env: { ENV: 'production', DATABASE_URL: 'postgres://a@b/c' } });
  t.equal(withDb.auth.dev_key, false);
});
