import t from 'tap';
import { randomBytes } from 'node:crypto';
import { connectPostgres } from '../../../src/db/client.js';
import { PostgresAuditSink } from '../../../src/audit/postgres-sink.js';
import { allDbs, postgresDb, TEST_DATABASE_URL } from '../../support/db.js';
import { auditRow } from './fixtures/rows.js';

t.test('UPDATE, DELETE and TRUNCATE are refused by the triggers, even for the owner', async (t) => {
  for (const tdb of await allDbs()) {
    t.teardown(tdb.cleanup);
    const sink = new PostgresAuditSink(tdb.db, { replicaId: 'r' });
    await sink.write([auditRow(1), auditRow(2)]);
    await sink.tick(true);
    await tdb.db.query(
      "INSERT INTO audit_retention_log (replica_id, rows_removed, cutoff) VALUES ('r', 0, now())",
    );
    for (const sql of [
      "UPDATE usage_logs SET owner = 'x' WHERE seq = 1",
      'DELETE FROM usage_logs WHERE seq = 2',
      'TRUNCATE usage_logs',
      "UPDATE audit_checkpoints SET row_hash = 'x'",
      'DELETE FROM audit_retention_log',
      'TRUNCATE audit_checkpoints',
    ])
      await t.rejects(tdb.db.query(sql), /append-only/, `${tdb.kind}: ${sql}`);
    await t.rejects(
      tdb.db.query(
        "INSERT INTO usage_logs (request_id, method, route, decision, status_code) VALUES ('u', 'GET', '/', 'allow', 200)",
      ),
      /usage_logs_chained/,
      `${tdb.kind}: an unchained row is refused`,
    );
    const [n] = await tdb.db.query<{ n: string }>('SELECT count(*)::text AS n FROM usage_logs');
    t.equal(n!.n, '2', `${tdb.kind}: both rows still there`);
  }
});

t.test('the application role can insert and read, never change or remove rows', async (t) => {
  const pg = await postgresDb();
  if (!pg) {
    t.plan(0, 'no TEST_DATABASE_URL (outside CI)');
    return;
  }
  t.teardown(pg.cleanup);
  // Roles are cluster-wide and test files run in parallel: a unique name, dropped afterwards.
  const role = `aigov_app_${randomBytes(4).toString('hex')}`;
  await pg.db.exec(`CREATE ROLE ${role} NOLOGIN;
    GRANT USAGE ON SCHEMA ${pg.schema} TO ${role};
    GRANT SELECT, INSERT ON usage_logs, audit_checkpoints, audit_retention_log TO ${role};
    GRANT USAGE ON SEQUENCE usage_logs_id_seq, audit_checkpoints_id_seq TO ${role};
    GRANT EXECUTE ON FUNCTION aigov_audit_remove_prefix(text, bigint, text, timestamptz, text) TO ${role};`);
  t.teardown(async () => {
    const admin = connectPostgres(TEST_DATABASE_URL!, { max: 1 });
    await admin.exec(`DROP OWNED BY ${role}; DROP ROLE IF EXISTS ${role}`).catch(() => {});
    await admin.close();
  });
  const asApp = connectPostgres(pg.url!, { max: 1 });
  t.teardown(() => asApp.close());
  await asApp.exec(`SET ROLE ${role}`);
  const sink = new PostgresAuditSink(asApp, { replicaId: 'app' });
  await sink.write([auditRow(1, 'req', new Date()), auditRow(2, 'req', new Date())]);
  t.equal(sink.chainHead()?.seq, 2, 'the writer works as the app role');
  await t.rejects(asApp.query("UPDATE usage_logs SET owner = 'x'"), /permission denied/);
  await t.rejects(asApp.query('DELETE FROM usage_logs'), /permission denied/);
  await t.rejects(asApp.query('TRUNCATE usage_logs'), /permission denied/);
  await t.rejects(
    asApp.query("SELECT set_config('aigov.retention', 'on', false); DELETE FROM usage_logs"),
    'setting the retention flag does not grant DELETE',
  );
  await t.rejects(
    asApp.query("SELECT aigov_audit_remove_prefix('app', 2, $1, now() - interval '2 days', NULL)", [
      sink.chainHead()!.hash,
    ]),
    /not all older/,
    'retention through the function cannot remove recent rows',
  );
  await t.rejects(
    asApp.query("SELECT aigov_audit_remove_prefix('app', 2, $1, now(), NULL)", [sink.chainHead()!.hash]),
    /less than a day old/,
  );
  const [n] = await pg.db.query<{ n: string }>('SELECT count(*)::text AS n FROM usage_logs');
  t.equal(n!.n, '2');
});
