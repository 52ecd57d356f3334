import type { AuditRow } from './row.js';
import { sanitizeRow } from './row.js';
import type { AuditSink } from './postgres-sink.js';
import type { Spool } from './spool.js';

export interface AuditWriterOptions {
  batchSize: number;
  flushIntervalMs: number;
  queueMax: number;
  onFull: 'reject' | 'drop';
  onError?: (err: unknown) => void;
  /** On-disk overflow; without it failed batches stay in memory (and are lost on a crash). */
  spool?: Spool | null;
  /**
   * batched: rows wait in memory until the next flush (a crash loses at most that);
   * sync: enqueueDurable() resolves only once the row is fsynced to the spool.
   */
  durability?: 'batched' | 'sync';
  /**
   * A write that takes longer counts as failed and its rows go to the spool: a database that
   * hangs instead of refusing must not keep rows in memory only. Default 5 s.
   */
  writeTimeoutMs?: number;
}

export interface AuditStats {
  /** Rows in memory, not yet in the database or the spool. */
  queued: number;
  /** Rows in the spool, not yet in the database. */
  spooled: number;
  spoolBytes: number;
  written: number;
  dropped: number;
  failedFlushes: number;
  /** Duration of the last successful database write, in ms. */
  lastFlushMs: number | null;
  spoolCorruptLines: number;
}

/** How many batches one tick may move from memory to the spool while the database is away. */
const SPOOL_MOVE_BATCHES = 20;

/**
 * The request path only calls enqueue() (or, in sync mode, awaits enqueueDurable()): rows are
 * flushed by size or interval in multi-row inserts, one flush at a time, so the sink's hash chain
 * has a single writer. When a flush fails the batch and the rest of the queue go to the spool and
 * are replayed, in order and before newer rows, once the database answers again.
 */
export class AuditWriter {
  private queue: AuditRow[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private backoffMs = 0;
  private retryAt = 0;
  private readonly spool: Spool | null;
  private readonly sync: boolean;
  private readonly stats = {
    written: 0,
    dropped: 0,
    failedFlushes: 0,
    lastFlushMs: null as number | null,
  };

  constructor(
    private readonly sink: AuditSink,
    private readonly options: AuditWriterOptions,
  ) {
    this.spool = options.spool ?? null;
    this.sync = options.durability === 'sync' && this.spool !== null;
  }

  /** Opens the spool (taking it over from a crashed process) and starts the flush timer. */
  start(): void {
    this.spool?.open();
    this.timer ??= setInterval(() => void this.flush(), this.options.flushIntervalMs);
    this.timer.unref();
  }

  /** False when a governed request should be refused because its row could not be kept. */
  accepting(): boolean {
    if (this.options.onFull === 'drop') return true;
    if (this.queue.length >= this.options.queueMax) return false;
    return !(this.spool && (this.sync || this.spool.hasUnread()) && this.spool.full());
  }

  /** Returns false when the row was not kept (no room); the loss is counted. */
  enqueue(row: AuditRow): boolean {
    if (this.sync) {
      if (this.spool!.full()) {
        this.stats.dropped++;
        return false;
      }
      void this.enqueueDurable(row);
      return true;
    }
    if (this.queue.length >= this.options.queueMax) {
      this.stats.dropped++;
      return false;
    }
    this.queue.push(row);
    if (this.queue.length >= this.options.batchSize && !this.flushing) void this.flush();
    return true;
  }

  /**
   * Sync mode: resolves true once the row is fsynced to the spool (await it before answering the
   * request), false when it could not be kept. Batched mode: the same as enqueue().
   */
  async enqueueDurable(row: AuditRow): Promise<boolean> {
    if (!this.sync) return this.enqueue(row);
    try {
      if (await this.spool!.append([sanitizeRow(row)])) return true;
    } catch (err) {
      this.options.onError?.(err);
    }
    this.stats.dropped++;
    return false;
  }

  getStats(): AuditStats {
    return {
      ...this.stats,
      queued: this.queue.length,
      spooled: this.spool?.unreadRows() ?? 0,
      spoolBytes: this.spool?.bytes() ?? 0,
      spoolCorruptLines: this.spool?.corruptLines ?? 0,
    };
  }

  /** Writes one batch (or none while backing off after a failure). */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    this.flushing = this.flushOnce()
      .catch((err: unknown) => this.options.onError?.(err))
      .finally(() => {
        this.flushing = null;
      });
    return this.flushing;
  }

  private pending(): boolean {
    return this.queue.length > 0 || (this.spool?.hasUnread() ?? false);
  }

  private async flushOnce(): Promise<void> {
    const spool = this.spool;
    if (spool && (this.sync || spool.hasUnread())) {
      // Older rows are on disk: newer ones queue up behind them there, so order is kept.
      await this.moveToSpool(this.options.batchSize * SPOOL_MOVE_BATCHES);
      if (Date.now() < this.retryAt) return;
      const batch = await spool.readBatch(this.options.batchSize);
      if (!batch) return void (await this.idle());
      if (batch.rows.length === 0) return batch.commit();
      if (await this.write(batch.rows, batch.recovered)) await batch.commit();
      return;
    }
    if (this.queue.length === 0) return this.idle();
    if (Date.now() < this.retryAt) return;
    const batch = this.queue.slice(0, this.options.batchSize);
    if (await this.write(batch, false)) {
      // Remove only after the write succeeded: rows enqueued meanwhile stay behind them.
      this.queue.splice(0, batch.length);
    } else if (spool) {
      await this.moveToSpool(this.queue.length);
    }
  }

  private async idle(): Promise<void> {
    if (this.sink.tick) await this.sink.tick(false);
  }

  private async write(rows: readonly AuditRow[], replay: boolean): Promise<boolean> {
    const started = performance.now();
    try {
      await this.withTimeout(this.sink.write(rows, { replay }));
      this.stats.written += rows.length;
      this.stats.lastFlushMs = performance.now() - started;
      this.backoffMs = 0;
      this.retryAt = 0;
      return true;
    } catch (err) {
      this.stats.failedFlushes++;
      this.backoffMs = Math.min(this.backoffMs ? this.backoffMs * 2 : 100, 5_000);
      this.retryAt = Date.now() + this.backoffMs;
      this.options.onError?.(err);
      return false;
    }
  }

  private withTimeout(p: Promise<void>): Promise<void> {
    const ms = this.options.writeTimeoutMs ?? 5_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new AuditWriteTimeoutError(`audit write took longer than ${ms} ms`)),
        ms,
      );
    });
    // The abandoned write may still commit: the sink's careful path finds its rows next time.
    p.catch(() => {});
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  }

  /** Moves up to `max` queued rows to the spool (fsynced); they stay queued if it has no room. */
  private async moveToSpool(max: number): Promise<void> {
    if (!this.spool || this.queue.length === 0) return;
    const chunk = this.queue.slice(0, max);
    try {
      if (await this.spool.append(chunk.map(sanitizeRow))) this.queue.splice(0, chunk.length);
    } catch (err) {
      this.options.onError?.(err);
    }
  }

  /** Flushes everything, retrying until the deadline; returns the number of rows left unwritten. */
  async drain(deadlineMs: number): Promise<number> {
    const end = Date.now() + deadlineMs;
    while (this.pending() && Date.now() < end) {
      if (Date.now() < this.retryAt)
        await new Promise((r) => setTimeout(r, Math.min(this.retryAt - Date.now(), 100)));
      await this.flush();
    }
    return this.queue.length + (this.spool?.unreadRows() ?? 0);
  }

  /**
   * Stops the timer and writes what it can before the deadline. Rows the database did not take
   * in time are left in the spool (fsynced) for the next start; returns the rows lost, i.e.
   * neither in the database nor in the spool.
   */
  async stop(deadlineMs: number): Promise<number> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const end = Date.now() + deadlineMs;
    await this.flushing;
    await this.drain(Math.max(0, end - Date.now() - 100));
    if (this.spool) {
      while (this.queue.length > 0) {
        const before = this.queue.length;
        await this.moveToSpool(this.queue.length);
        if (this.queue.length === before) break;
      }
      await this.spool.close();
    }
    if (this.sink.tick) await this.sink.tick(true).catch(() => {});
    return this.queue.length;
  }
}

export class AuditWriteTimeoutError extends Error {
  override name = 'AuditWriteTimeoutError';
}
