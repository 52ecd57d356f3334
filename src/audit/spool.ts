import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuditRow } from './row.js';

/**
 * The on-disk overflow of the audit writer: append-only segment files of JSON lines, fsynced per
 * group of appends, replayed oldest first. Used when Postgres is unreachable (batched mode) and
 * for every row in sync mode (the row is on disk before the request is answered).
 *
 * Appends never go into a segment left by an earlier process: its last line may be torn, so new
 * lines would be glued to it. A segment is deleted once every line in it reached the database.
 * The read position is not persisted: after a crash the surviving segments are replayed from
 * their start, and the sink's replay path skips rows the database already holds.
 */
export interface SpoolOptions {
  dir: string;
  maxBytes: number;
  /** A segment is closed for appends at this size, so consumed data is freed in chunks. */
  segmentBytes?: number;
}

interface Segment {
  id: number;
  path: string;
  size: number;
  rows: number;
  /** Left by an earlier process: its rows may already be in the database. */
  recovered: boolean;
}

interface PendingAppend {
  text: string;
  size: number;
  rows: number;
  resolve: (ok: boolean) => void;
  reject: (err: unknown) => void;
}

export interface SpoolBatch {
  rows: AuditRow[];
  recovered: boolean;
  /** Marks the rows as written to the database; frees whole segments. */
  commit(): Promise<void>;
}

export class SpoolLockedError extends Error {
  override name = 'SpoolLockedError';
}

const SEGMENT_RE = /^seg-(\d{12})\.jsonl$/;
const READ_CHUNK = 1 << 20;

function serialize(row: AuditRow): string {
  return JSON.stringify({ ...row, createdAt: row.createdAt.toISOString() }) + '\n';
}

function deserialize(line: string): AuditRow | null {
  try {
    const v = JSON.parse(line) as AuditRow & { createdAt: string };
    if (typeof v.requestId !== 'string' || typeof v.createdAt !== 'string') return null;
    return { ...v, createdAt: new Date(v.createdAt) };
  } catch {
    return null;
  }
}

function countLines(path: string): number {
  const buf = readFileSync(path);
  let n = 0;
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) n++;
  return n;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class Spool {
  private segments: Segment[] = [];
  private nextId = 1;
  private readOffset = 0;
  private readRows = 0;
  private active: { segment: Segment; fh: FileHandle } | null = null;
  private pending: PendingAppend[] = [];
  private pendingBytes = 0;
  private writing = false;
  private exclusiveChain: Promise<unknown> = Promise.resolve();
  private refused = false;
  private opened = false;
  private readonly segmentBytes: number;
  /** Lines that could not be parsed (torn tails, corruption): counted, never retried. */
  corruptLines = 0;

  constructor(private readonly options: SpoolOptions) {
    this.segmentBytes = options.segmentBytes ?? Math.max(64 * 1024, Math.min(8 << 20, options.maxBytes / 8));
  }

  get dir(): string {
    return this.options.dir;
  }

  /** Takes the directory (one process per spool) and finds what an earlier process left. */
  open(): void {
    if (this.opened) return;
    mkdirSync(this.options.dir, { recursive: true });
    this.lock();
    for (const name of readdirSync(this.options.dir).sort()) {
      const m = SEGMENT_RE.exec(name);
      if (!m) continue;
      const path = join(this.options.dir, name);
      const id = Number(m[1]);
      this.segments.push({ id, path, size: statSync(path).size, rows: countLines(path), recovered: true });
      this.nextId = Math.max(this.nextId, id + 1);
    }
    this.opened = true;
  }

  private lock(): void {
    const lockPath = join(this.options.dir, '.lock');
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(lockPath, 'wx');
        writeFileSync(fd, String(process.pid));
        closeSync(fd);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const pid = Number(readFileSync(lockPath, 'utf8'));
        if (pid && pid !== process.pid && isAlive(pid))
          throw new SpoolLockedError(
            `audit spool ${this.options.dir} is in use by process ${pid}; give each replica its own AIGOV_REPLICA_ID`,
          );
        rmSync(lockPath, { force: true });
      }
    }
    throw new SpoolLockedError(`cannot lock audit spool ${this.options.dir}`);
  }

  /** Bytes on disk, including consumed lines of segments not yet deleted. */
  bytes(): number {
    let n = 0;
    for (const s of this.segments) n += s.size;
    return n;
  }

  /** Rows on disk not yet written to the database. */
  unreadRows(): number {
    let n = -this.readRows;
    for (const s of this.segments) n += s.rows;
    return n;
  }

  hasUnread(): boolean {
    return this.unreadRows() > 0 || this.pending.length > 0;
  }

  /** True once an append was refused for space, until space is freed. */
  full(): boolean {
    return this.refused || this.bytes() + this.pendingBytes >= this.options.maxBytes;
  }

  /**
   * Appends rows durably: resolves true after they are fsynced, false (nothing written) when the
   * spool has no room. Concurrent appends share one write and one fsync (group commit).
   */
  append(rows: readonly AuditRow[]): Promise<boolean> {
    if (rows.length === 0) return Promise.resolve(true);
    let text = '';
    for (const r of rows) text += serialize(r);
    const size = Buffer.byteLength(text);
    if (this.bytes() + this.pendingBytes + size > this.options.maxBytes) {
      this.refused = true;
      return Promise.resolve(false);
    }
    this.pendingBytes += size;
    return new Promise((resolve, reject) => {
      this.pending.push({ text, size, rows: rows.length, resolve, reject });
      if (!this.writing) {
        this.writing = true;
        setImmediate(() => void this.writeLoop());
      }
    });
  }

  private async writeLoop(): Promise<void> {
    while (this.pending.length > 0) {
      const group = this.pending.splice(0);
      let size = 0;
      for (const g of group) size += g.size;
      try {
        await this.exclusive(() => this.writeGroup(group));
        for (const g of group) g.resolve(true);
      } catch (err) {
        for (const g of group) g.reject(err);
      } finally {
        this.pendingBytes -= size;
      }
    }
    this.writing = false;
  }

  private async writeGroup(group: PendingAppend[]): Promise<void> {
    if (!this.active || this.active.segment.size >= this.segmentBytes) await this.rotate();
    const active = this.active!;
    const buf = Buffer.from(group.map((g) => g.text).join(''));
    try {
      await active.fh.write(buf, 0, buf.length);
      await active.fh.datasync();
    } catch (err) {
      // A half-written group would glue the next line to a torn one: cut it off and move on.
      await active.fh.truncate(active.segment.size).catch(() => {});
      await this.sealActive();
      throw err;
    }
    active.segment.size += buf.length;
    for (const g of group) active.segment.rows += g.rows;
  }

  private async rotate(): Promise<void> {
    await this.sealActive();
    const id = this.nextId++;
    const path = join(this.options.dir, `seg-${String(id).padStart(12, '0')}.jsonl`);
    const fh = await open(path, 'a');
    // The new file's directory entry must survive a crash too.
    const dirFd = openSync(this.options.dir, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
    const segment: Segment = { id, path, size: 0, rows: 0, recovered: false };
    this.segments.push(segment);
    this.active = { segment, fh };
  }

  private async sealActive(): Promise<void> {
    if (!this.active) return;
    const { fh } = this.active;
    this.active = null;
    await fh.close().catch(() => {});
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.exclusiveChain.then(fn, fn);
    this.exclusiveChain = run.catch(() => {});
    return run;
  }

  /** Up to maxRows of the oldest unwritten rows (one segment at a time), or null when none. */
  readBatch(maxRows: number): Promise<SpoolBatch | null> {
    return this.exclusive(async () => {
      await this.dropConsumed();
      const seg = this.segments[0];
      if (!seg || this.readOffset >= seg.size) return null;
      const { rows, lines, bytes } = this.readLines(seg, maxRows);
      const start = { seg, offset: this.readOffset };
      return {
        rows,
        recovered: seg.recovered,
        commit: () =>
          this.exclusive(async () => {
            if (this.segments[0] !== start.seg || this.readOffset !== start.offset) return;
            this.readOffset += bytes;
            this.readRows += lines;
            await this.dropConsumed();
          }),
      };
    });
  }

  private readLines(seg: Segment, maxRows: number): { rows: AuditRow[]; lines: number; bytes: number } {
    const fd = openSync(seg.path, 'r');
    try {
      const end = seg.size;
      let chunk = READ_CHUNK;
      for (;;) {
        const len = Math.min(chunk, end - this.readOffset);
        const buf = Buffer.allocUnsafe(len);
        const got = readSync(fd, buf, 0, len, this.readOffset);
        const rows: AuditRow[] = [];
        let pos = 0;
        let lines = 0;
        while (lines < maxRows) {
          const nl = buf.indexOf(10, pos);
          if (nl === -1 || nl >= got) break;
          const row = deserialize(buf.toString('utf8', pos, nl));
          if (row) rows.push(row);
          else this.corruptLines++;
          lines++;
          pos = nl + 1;
        }
        if (lines > 0) return { rows, lines, bytes: pos };
        if (this.readOffset + got >= end) {
          // No newline before the end: a torn final write of a crashed process (never acknowledged).
          if (seg.recovered || seg !== this.active?.segment) {
            this.corruptLines++;
            return { rows: [], lines: 0, bytes: end - this.readOffset };
          }
          return { rows: [], lines: 0, bytes: 0 };
        }
        chunk *= 2;
      }
    } finally {
      closeSync(fd);
    }
  }

  /** Deletes fully written segments; the active one too, so an idle spool holds no files. */
  private async dropConsumed(): Promise<void> {
    for (;;) {
      const seg = this.segments[0];
      if (!seg || this.readOffset < seg.size) return;
      if (this.active?.segment === seg) await this.sealActive();
      this.segments.shift();
      this.readOffset = 0;
      this.readRows -= seg.rows;
      this.readRows = Math.max(0, this.readRows);
      await unlink(seg.path).catch(() => {});
      if (this.bytes() < this.options.maxBytes) this.refused = false;
    }
  }

  /** Waits for appends in flight, closes files and releases the directory. */
  async close(): Promise<void> {
    while (this.writing) await new Promise((r) => setTimeout(r, 5));
    await this.exclusive(() => this.sealActive());
    rmSync(join(this.options.dir, '.lock'), { force: true });
    this.opened = false;
  }
}
