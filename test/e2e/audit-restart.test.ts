import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { verifyAll } from '../../src/audit/verify.js';
import { postgresDb, type TestDb } from '../support/db.js';

const CHILD = fileURLToPath(new URL('../integration/audit/fixtures/writer-child.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
t.setTimeout(300_000);

interface Child {
  proc: ChildProcess;
  acked: Set<number>;
  lines: string[];
  exited: Promise<number | null>;
}

function start(env: Record<string, string>, args: string[] = []): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const child: Child = {
    proc,
    acked: new Set(),
    lines: [],
    exited: new Promise((resolve) => proc.on('exit', (code) => resolve(code))),
  };
  let buf = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    for (const line of parts) {
      const m = /^ack (\d+)$/.exec(line);
      if (m) child.acked.add(Number(m[1]));
      else child.lines.push(line);
    }
  });
  return child;
}

async function until(cond: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting for the child');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function storedIds(tdb: TestDb): Promise<Set<number>> {
  const rows = await tdb.db.query<{ request_id: string }>('SELECT request_id FROM usage_logs');
  return new Set(rows.map((r) => Number(r.request_id.replace(/^child-/, ''))));
}

async function setup(
  t: Tap,
  mode: 'batched' | 'sync',
): Promise<{ tdb: TestDb; env: Record<string, string> } | null> {
  const tdb = await postgresDb();
  if (!tdb) return null;
  t.teardown(tdb.cleanup);
  const spool = mkdtempSync(join(tmpdir(), 'aigov-restart-'));
  t.teardown(() => rmSync(spool, { recursive: true, force: true }));
  return {
    tdb,
    env: {
      DATABASE_URL: tdb.url!,
      AIGOV_AUDIT_SPOOL_DIR: spool,
      AIGOV_AUDIT_DURABILITY: mode,
      AIGOV_REPLICA_ID: `restart-${mode}`,
      LOG_LEVEL: 'silent',
    },
  };
}

type Tap = { teardown(fn: () => unknown): void };

t.test('SIGTERM under load: every accepted row is written', async (t) => {
  const s = await setup(t, 'batched');
  if (!s) {
    t.plan(0, 'no TEST_DATABASE_URL (outside CI)');
    return;
  }
  const child = start(s.env);
  await until(() => child.acked.size >= 3_000);
  child.proc.kill('SIGTERM');
  t.equal(await child.exited, 0);
  const done = child.lines.find((l) => l.startsWith('stopped'));
  t.match(done, /^stopped left 0 total \d+$/);
  const stored = await storedIds(s.tdb);
  t.equal(stored.size, child.acked.size, `all ${child.acked.size} accepted rows stored`);
  t.same(
    [...child.acked].filter((i) => !stored.has(i)),
    [],
    'none missing',
  );
  t.ok((await verifyAll(s.tdb.db)).ok, 'chain verifies');
});

for (const mode of ['batched', 'sync'] as const) {
  t.test(`kill -9 under load (${mode}): losses within the documented bound`, async (t) => {
    const s = await setup(t, mode);
    if (!s) {
      t.plan(0, 'no TEST_DATABASE_URL (outside CI)');
      return;
    }
    const child = start(s.env);
    await until(() => child.acked.size >= 3_000);
    child.proc.kill('SIGKILL');
    await child.exited;
    const replay = start(s.env, ['replay']);
    t.equal(await replay.exited, 0);
    t.match(replay.lines.join('\n'), /left 0 spooled 0/, 'the spool was replayed on restart');
    const stored = await storedIds(s.tdb);
    const lost = [...child.acked].filter((i) => !stored.has(i)).length;
    t.comment(`${mode}: acknowledged ${child.acked.size}, lost ${lost} after kill -9`);
    if (mode === 'sync') t.equal(lost, 0, 'sync: no acknowledged row is lost');
    // Batched: at most what waited in memory, i.e. one flush (batch_size 500 or flush_interval).
    else t.ok(lost <= 1_000, `batched: lost ${lost} <= 2 x batch_size`);
    const report = await verifyAll(s.tdb.db);
    t.ok(report.ok, 'the chain verifies after the crash and replay', { chains: report.chains });
  });
}
