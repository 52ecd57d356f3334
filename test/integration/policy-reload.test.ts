import t from 'tap';
import { writeFileSync } from 'node:fs';
import { PolicyHolder } from '../../src/policy/holder.js';
import { buildTestApp } from '../support/app.js';

const V1 =
  'version: 1\nrules:\n  - id: no-foo\n    when: { prompt: { contains: [foo] } }\n    action: block\n';
const V2 =
  'version: 1\nrules:\n  - id: no-bar\n    when: { prompt: { contains: [bar] } }\n    action: block\n';
const BROKEN = 'version: 1\nrules:\n  - id: no-bar\n    action: explode\n';

async function until(fn: () => boolean, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (fn()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

t.test('file changes swap the set atomically; a bad change keeps the last good set', async (t) => {
  const dir = t.testdir({ 'p.yaml': V1 });
  const errors: unknown[] = [];
  const holder = await PolicyHolder.load(dir, (e) => errors.push(e));
  t.teardown(() => holder.close());
  holder.watch(50);
  const v1 = holder.current().version;
  t.same(
    holder.current().rules.map((r) => r.id),
    ['no-foo'],
  );

  writeFileSync(`${dir}/p.yaml`, V2);
  t.ok(await until(() => holder.current().version !== v1), 'the watcher picked up the change');
  t.same(
    holder.current().rules.map((r) => r.id),
    ['no-bar'],
  );
  const v2 = holder.current().version;

  writeFileSync(`${dir}/p.yaml`, BROKEN);
  t.ok(await until(() => errors.length > 0), 'the broken change was seen and refused');
  t.equal(holder.current().version, v2, 'last good set still active');
  const status = holder.getStatus();
  t.match(status.lastError, /explode|action/);
  t.ok(status.failedReloads >= 1);

  writeFileSync(`${dir}/p.yaml`, V1);
  t.ok(await until(() => holder.current().version === v1), 'a fixed file is taken again');
  t.equal(holder.getStatus().lastError, null);
});

t.test('a start-up with invalid policies fails with every problem', async (t) => {
  const dir = t.testdir({ 'p.yaml': BROKEN });
  await t.rejects(PolicyHolder.load(dir), /explode|action/);
  await t.rejects(PolicyHolder.load(`${dir}/missing`), /no such file/);
});

t.test('SIGHUP-style reload through the running app and what /ready and /v1/check report', async (t) => {
  const dir = t.testdir({ 'p.yaml': V1 });
  const h = await buildTestApp({ overrides: { policies: { path: dir } } });
  t.teardown(h.close);
  const { key } = await h.services.keys.create({ owner: 'a@example.com' });
  const check = async (text: string) =>
    (
      await h.app.inject({
        method: 'POST',
        url: '/v1/check',
        headers: { authorization: `Bearer ${key}` },
        payload: { model: 'gpt-4o', messages: [{ role: 'user', content: text }] },
      })
    ).json() as { decision: string; policy_version: string };
  t.equal((await check('foo')).decision, 'block');
  writeFileSync(`${dir}/p.yaml`, V2);
  t.equal(await h.services.policies.reload(), true);
  const after = await check('foo');
  t.equal(after.decision, 'allow', 'the new set is active');
  t.equal((await check('bar')).decision, 'block');
  const ready = (await h.app.inject({ method: 'GET', url: '/ready' })).json() as {
    checks: { policies: { detail: string } };
  };
  t.match(ready.checks.policies.detail, `version=${after.policy_version}`);
  writeFileSync(`${dir}/p.yaml`, BROKEN);
  t.equal(await h.services.policies.reload(), false);
  t.equal((await check('bar')).decision, 'block', 'the last good set keeps deciding');
  const metrics = await h.app.inject({ method: 'GET', url: '/metrics' });
  t.match(metrics.body, new RegExp(`aigov_policy_version_info\\{version="${after.policy_version}"\\} 1`));
});
