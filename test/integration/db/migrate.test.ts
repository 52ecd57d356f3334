import t from 'tap';
import { migrate, listMigrations } from '../../../src/db/migrate.js';
import { connectPostgres } from '../../../src/db/client.js';
import { pgliteDb, postgresDb } from '../../support/db.js';

const expected = listMigrations().map((m) => m.name);

t.test('PGlite: migrations apply once and are a no-op the second time', async (t) => {
  const { db, cleanup } = await pgliteDb({ migrate: false });
  t.teardown(cleanup);
  t.same(await migrate(db), expected);
  t.same(await migrate(db), []);
  const rows = await db.query<{ name: string }>('SELECT name FROM schema_migrations ORDER BY version');
  t.same(
    rows.map((r) => r.name),
    expected,
  );
});

t.test('Postgres: twice, and from several connections at once', async (t) => {
  const pg = await postgresDb({ migrate: false });
  if (!pg) return t.plan(0, 'no TEST_DATABASE_URL (outside CI)');
  t.teardown(pg.cleanup);
  // Four independent pools racing, like four replicas starting together.
  const pools = Array.from({ length: 4 }, () => connectPostgres(pg.url!, { max: 2 }));
  const results = await Promise.all(pools.map((p) => migrate(p)));
  await Promise.all(pools.map((p) => p.close()));
  const applied = results.flat();
  t.same(applied.sort(), [...expected].sort(), 'each migration applied exactly once overall');
  t.same(await migrate(pg.db), [], 'second run applies nothing');
  const rows = await pg.db.query<{ n: number }>('SELECT count(*)::int AS n FROM schema_migrations');
  t.equal(Number(rows[0]!.n), expected.length);
});

t.test('an edited migration is refused', async (t) => {
  const { db, cleanup } = await pgliteDb();
  t.teardown(cleanup);
  await db.query("UPDATE schema_migrations SET checksum = 'x' WHERE version = 1");
  await t.rejects(migrate(db), /changed after it was applied/);
});
