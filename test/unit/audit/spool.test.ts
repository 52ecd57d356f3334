import t from 'tap';
import { appendFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Spool, SpoolLockedError } from '../../../src/audit/spool.js';
import type { AuditRow } from '../../../src/audit/row.js';
import { auditRow } from '../../integration/audit/fixtures/rows.js';

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'aigov-spool-unit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function drainIds(spool: Spool, batch = 7): Promise<string[]> {
  const ids: string[] = [];
  for (let b = await spool.readBatch(batch); b; b = await spool.readBatch(batch)) {
    ids.push(...b.rows.map((r: AuditRow) => r.requestId));
    await b.commit();
  }
  return ids;
}

const segments = (dir: string): string[] => readdirSync(dir).filter((f) => f.endsWith('.jsonl'));

t.test('rows come back in order, across segments, and consumed segments are deleted', async (t) => {
  const dir = tmp(t);
  const spool = new Spool({ dir, maxBytes: 10 << 20, segmentBytes: 2_000 });
  spool.open();
  const acks: boolean[] = [];
  for (let i = 0; i < 50; i++) acks.push(await spool.append([auditRow(i)]));
  t.same(acks, Array(50).fill(true), 'every append acknowledged');
  t.ok(segments(dir).length > 1, 'rotated into several segments');
  t.equal(spool.unreadRows(), 50);
  const ids = await drainIds(spool);
  t.same(
    ids,
    Array.from({ length: 50 }, (_, i) => `req-${i}`),
  );
  t.equal(spool.unreadRows(), 0);
  t.same(segments(dir), [], 'nothing left on disk');
  const back = (await spool.append([auditRow(99)])) && (await spool.readBatch(10));
  t.equal(back && back.rows[0]!.createdAt.getTime(), auditRow(99).createdAt.getTime(), 'dates survive');
  await spool.close();
});

t.test('concurrent appends share one write (group commit)', async (t) => {
  const dir = tmp(t);
  const spool = new Spool({ dir, maxBytes: 10 << 20 });
  spool.open();
  const acks = await Promise.all(Array.from({ length: 200 }, (_, i) => spool.append([auditRow(i)])));
  t.equal(acks.filter(Boolean).length, 200);
  t.same(
    await drainIds(spool, 500),
    Array.from({ length: 200 }, (_, i) => `req-${i}`),
    'in call order',
  );
  await spool.close();
});

t.test('a reopened spool replays what an earlier process left, skipping a torn last line', async (t) => {
  const dir = tmp(t);
  const first = new Spool({ dir, maxBytes: 10 << 20 });
  first.open();
  await first.append([auditRow(1), auditRow(2)]);
  await first.close();
  // A crash in the middle of a write: half a line at the end of the file.
  appendFileSync(join(dir, segments(dir)[0]!), '{"requestId":"req-3","crea');
  const second = new Spool({ dir, maxBytes: 10 << 20 });
  second.open();
  t.equal(second.unreadRows(), 2);
  await second.append([auditRow(4)]);
  const b = await second.readBatch(10);
  t.ok(b?.recovered, 'rows from the earlier process are marked as possibly written');
  t.same(
    b!.rows.map((r) => r.requestId),
    ['req-1', 'req-2'],
  );
  await b!.commit();
  t.same(await drainIds(second), ['req-4'], 'new rows went to a new segment, not after the torn line');
  t.equal(second.corruptLines, 1);
  await second.close();
});

t.test('a full spool refuses appends until space is freed', async (t) => {
  const dir = tmp(t);
  const size = Buffer.byteLength(JSON.stringify({ ...auditRow(1), createdAt: 'x'.repeat(24) }) + '\n');
  const spool = new Spool({ dir, maxBytes: size * 3 + 10, segmentBytes: size });
  spool.open();
  t.ok(await spool.append([auditRow(1), auditRow(2)]));
  t.notOk(await spool.append([auditRow(3), auditRow(4)]), 'no room for two more');
  t.ok(spool.full());
  await drainIds(spool);
  t.notOk(spool.full(), 'consumed segments free the space');
  t.ok(await spool.append([auditRow(3), auditRow(4)]));
  await spool.close();
});

t.test('two processes cannot share a spool directory', async (t) => {
  const dir = tmp(t);
  const a = new Spool({ dir, maxBytes: 1 << 20 });
  a.open();
  // The lock holds a live pid: simulate another live process by writing our parent's pid.
  await a.close();
  appendFileSync(join(dir, '.lock'), String(process.ppid));
  const b = new Spool({ dir, maxBytes: 1 << 20 });
  t.throws(() => b.open(), SpoolLockedError);
});
