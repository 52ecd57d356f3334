import t, { type Test } from 'tap';
import { runCli } from '../../support/cli.js';
import { postgresDb, IN_CI } from '../../support/db.js';

/** The CLI against real Postgres (CI) or an embedded database folder (elsewhere). */
async function cliEnv(t: Test): Promise<Record<string, string>> {
  const pg = await postgresDb();
  if (pg) {
    t.teardown(pg.cleanup);
    return { DATABASE_URL: pg.url! };
  }
  if (IN_CI) throw new Error('unreachable: postgresDb throws in CI');
  const dir = t.testdir({});
  return { AIGOV_CONFIG: '', AIGOV_TEST_DIR: dir, DATABASE_URL: '', ...embedded(dir) };
}

function embedded(dir: string): Record<string, string> {
  // The embedded folder comes from config; a small override file points it at the test dir.
  return { AIGOV_CONFIG: writeConfig(dir) };
}

import { writeFileSync } from 'node:fs';
function writeConfig(dir: string): string {
  const path = `${dir}/aigov.yaml`;
  writeFileSync(path, `database:\n  embedded_dir: ${dir}/pglite\nauth:\n  bcrypt_cost: 4\n`);
  return path;
}

t.test('keys create / list / rotate / revoke, and exit codes', async (t) => {
  const env = await cliEnv(t);

  const created = await runCli(
    [
      'keys',
      'create',
      'alice@example.com',
      '--team',
      'finance',
      '--tags',
      'a,b',
      '--models',
      'gpt-4o*,claude-*',
      '--expires',
      '30d',
      '--json',
    ],
    env,
  );
  t.equal(created.code, 0, created.stderr);
  const key = JSON.parse(created.stdout) as Record<string, unknown>;
  t.match(key, {
    owner: 'alice@example.com',
    team: 'finance',
    tags: ['a', 'b'],
    models: ['gpt-4o*', 'claude-*'],
  });
  t.match(String(key.key), /^aigov_/);
  const expires = Date.parse(String(key.expires_at));
  t.ok(Math.abs(expires - (Date.now() + 30 * 86_400_000)) < 120_000, 'expires in 30 days');

  const listed = await runCli(['keys', 'list', '--json'], env);
  t.equal(listed.code, 0, listed.stderr);
  t.notOk(listed.stdout.includes(String(key.key)), 'list never shows a secret');
  const rows = JSON.parse(listed.stdout) as { id: string; status: string }[];
  t.same(
    rows.map((r) => [r.id, r.status]),
    [[key.id, 'active']],
  );

  const rotated = await runCli(['keys', 'rotate', String(key.id), '--grace', '1h', '--json'], env);
  t.equal(rotated.code, 0, rotated.stderr);
  const r = JSON.parse(rotated.stdout) as {
    id: string;
    key: string;
    team: string;
    old: { expires_at: string };
  };
  t.not(r.id, key.id);
  t.equal(r.team, 'finance', 'attributes carried over');
  t.ok(
    Math.abs(Date.parse(r.old.expires_at) - (Date.now() + 3_600_000)) < 120_000,
    'old key works for the grace',
  );

  const revoked = await runCli(['keys', 'revoke', String(key.id)], env);
  t.equal(revoked.code, 0, revoked.stderr);
  const again = await runCli(['keys', 'revoke', String(key.id)], env);
  t.equal(again.code, 1, 'revoking twice is a failure');
  t.match(again.stderr, /^aigov: no active key/);

  const table = await runCli(['keys', 'list'], env);
  t.match(table.stdout, /revoked/);
  t.match(table.stdout, /active/);
});

t.test('bad usage exits 2 with one clear line', async (t) => {
  const env = await cliEnv(t);
  for (const [args, pattern] of [
    [['keys', 'create', 'not-an-email'], /not an email address/],
    [['keys', 'create', 'a@example.com', '--expires', 'soon'], /--expires "soon" is not a duration/],
    [['keys', 'rotate', 'abc', '--grace', '1h'], /not a key id/],
    [['keys', 'create'], /missing required argument/],
    [['frobnicate'], /unknown command/],
  ] as const) {
    const res = await runCli([...args], env);
    t.equal(res.code, 2, args.join(' '));
    t.match(res.stderr, pattern);
    t.equal(res.stderr.trim().split('\n').length, 1, 'one line');
  }
});

t.test('migrate is idempotent from the CLI', async (t) => {
  const env = await cliEnv(t);
  const first = await runCli(['migrate'], env);
  t.equal(first.code, 0, first.stderr);
  const second = await runCli(['migrate'], env);
  t.equal(second.code, 0);
  t.match(second.stdout, /up to date/);
});

t.test('a bad config value stops with one line naming the field', async (t) => {
  const res = await runCli(['migrate'], { PORT: 'eighty' });
  t.equal(res.code, 1);
  t.match(res.stderr, /^aigov: invalid config: server\.port: .*from PORT\n$/);
});
