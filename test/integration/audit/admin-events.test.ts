import t from 'tap';
import { AdminEventLog, verifyAdminEvents, type AdminEventInput } from '../../../src/audit/admin-events.js';
import { allDbs, pgliteDb, postgresDb } from '../../support/db.js';
import { runLogs } from './fixtures/run-logs.js';
import { tamper } from './fixtures/tamper.js';

t.setTimeout(400_000);

const event = (i: number): AdminEventInput => ({
  actor: i % 2 ? 'alice@example.com' : 'admin-token',
  role: i % 2 ? 'operator' : 'admin',
  method: i % 2 ? 'oidc' : 'token',
  action: i === 0 ? 'signin' : 'key.update',
  target: i === 0 ? null : `key${i}`,
  outcome: 'ok',
  requestId: `req-${i}`,
  clientIp: '127.0.0.1',
  before: i === 0 ? null : { team: 'eng', tags: ['a', 'ü'], n: 1.5 },
  after: i === 0 ? { roles: ['admin'] } : { team: `team-${i}`, tags: [], nested: { z: 1, a: null } },
});

t.test('a clean chain verifies on both backends; concurrent appends stay dense', async (t) => {
  for (const tdb of await allDbs()) {
    t.teardown(tdb.cleanup);
    const log = new AdminEventLog(tdb.db);
    const written = await Promise.all(Array.from({ length: 12 }, (_, i) => log.append(event(i))));
    t.same(
      written.map((e) => e.seq).sort((a, b) => a - b),
      Array.from({ length: 12 }, (_, i) => i + 1),
      `${tdb.kind}: seq 1..12, no gaps, no forks`,
    );
    const report = await verifyAdminEvents(tdb.db);
    t.same(
      [report.rows, report.firstSeq, report.lastSeq, report.break],
      [12, 1, 12, null],
      `${tdb.kind}: clean`,
    );
    const page = await log.list({ limit: 5 });
    t.same(
      page.data.map((e) => e.seq),
      [12, 11, 10, 9, 8],
      'newest first',
    );
    const next = await log.list({ limit: 5, before: Number(page.next_cursor) });
    t.equal(next.data[0]!.seq, 7);
    await t.rejects(
      tdb.db.query("UPDATE admin_events SET actor = 'mallory' WHERE seq = 2"),
      /append-only/,
      `${tdb.kind}: the table refuses updates`,
    );
    await t.rejects(tdb.db.query('DELETE FROM admin_events WHERE seq = 2'), /append-only/);
  }
});

t.test('edits, deletions and swaps are found at the right row', async (t) => {
  const cases = [
    { sql: "UPDATE admin_events SET actor = 'mallory@example.com' WHERE seq = 3", kind: 'edited', seq: 3 },
    { sql: `UPDATE admin_events SET after = '{"team":"x"}' WHERE seq = 5`, kind: 'edited', seq: 5 },
    { sql: 'DELETE FROM admin_events WHERE seq = 4', kind: 'missing', seq: 4 },
    {
      sql: `UPDATE admin_events SET seq = -1 WHERE seq = 2; UPDATE admin_events SET seq = 2 WHERE seq = 6;
            UPDATE admin_events SET seq = 6 WHERE seq = -1`,
      kind: 'reordered',
      seq: 2,
    },
  ];
  const tdb = await pgliteDb();
  t.teardown(tdb.cleanup);
  for (const c of cases) {
    await tamper(tdb, 'DELETE FROM admin_events'); // a fresh chain for each case
    const log = new AdminEventLog(tdb.db);
    for (let i = 0; i < 8; i++) await log.append(event(i));
    t.equal((await verifyAdminEvents(tdb.db)).break, null, 'clean before');
    await tamper(tdb, c.sql);
    const r = await verifyAdminEvents(tdb.db);
    t.same([r.break?.kind, r.break?.seq], [c.kind, c.seq], c.sql);
  }
});

t.test('aigov logs verify checks admin_events: passes clean, fails at the edited row', async (t) => {
  const pg = await postgresDb();
  if (!pg) {
    t.plan(0, 'no TEST_DATABASE_URL (outside CI)');
    return;
  }
  t.teardown(pg.cleanup);
  const log = new AdminEventLog(pg.db);
  for (let i = 0; i < 6; i++) await log.append(event(i));
  const env = { DATABASE_URL: pg.url! };
  const ok = await runLogs(['verify'], env);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, /admin events: ok, seq 1\.\.6 \(6 events\)/);
  await tamper(pg, "UPDATE admin_events SET actor_role = 'viewer' WHERE seq = 5");
  const bad = await runLogs(['verify'], env);
  t.equal(bad.code, 1);
  t.match(bad.stdout, /admin events: BROKEN at seq 5: edited/);
  const json = await runLogs(['verify', '--json'], env);
  const report = JSON.parse(json.stdout) as { admin_events: { break: { seq: number } } };
  t.equal(report.admin_events.break.seq, 5);
});
