import type { AuditRow } from './row.js';
import type { AuditSink } from './postgres-sink.js';

export interface AuditWriterOptions {
  batchSize: number;
  flushIntervalMs: number;
  queueMax: number;
  onFull: 'reject' | 'drop';
  onError?: (err: unknown) => void;
}

export interface AuditStats {
  queued: number;
  written: number;
  dropped: number;
  failedFlushes: number;
  lastFlushMs: number | null;
}

/**
 * The request path only calls enqueue(): rows are flushed by size or interval in multi-row
 * inserts, one flush at a time. A failed flush keeps its rows at the head of the queue and is
 * retried with backoff; a full queue is counted (and, in `reject` mode, refuses new requests).
 */
export class AuditWriter {
  private queue: AuditRow[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private backoffMs = 0;
  private retryAt = 0;
  private readonly stats: AuditStats = {
    queued: 0,
    written: 0,
    dropped: 0,
    failedFlushes: 0,
    lastFlushMs: null,
  };

  constructor(
    private readonly sink: AuditSink,
    private readonly options: AuditWriterOptions,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.options.flushIntervalMs);
    this.timer.unref();
  }

  /** False when a governed request should be refused because its row could not be kept. */
  accepting(): boolean {
    return this.options.onFull === 'drop' || this.queue.length < this.options.queueMax;
  }

  /** Returns false when the row was not kept (queue full); the loss is counted. */
  enqueue(row: AuditRow): boolean {
    if (this.queue.length >= this.options.queueMax) {
      this.stats.dropped++;
      return false;
    }
    this.queue.push(row);
    if (this.queue.length >= this.options.batchSize && !this.flushing) void this.flush();
    return true;
  }

  getStats(): AuditStats {
    return { ...this.stats, queued: this.queue.length };
  }

  /** Writes one batch (or none while backing off after a failure). */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.queue.length === 0 || Date.now() < this.retryAt) return Promise.resolve();
    this.flushing = this.flushBatch().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private async flushBatch(): Promise<void> {
    const batch = this.queue.slice(0, this.options.batchSize);
    const started = performance.now();
    try {
      await this.sink.write(batch);
      // Remove only after the write succeeded: rows enqueued meanwhile stay behind them.
      this.queue.splice(0, batch.length);
      this.stats.written += batch.length;
      this.stats.lastFlushMs = performance.now() - started;
      this.backoffMs = 0;
      this.retryAt = 0;
    } catch (err) {
      this.stats.failedFlushes++;
      this.backoffMs = Math.min(this.backoffMs ? this.backoffMs * 2 : 100, 5_000);
      this.retryAt = Date.now() + this.backoffMs;
      this.options.onError?.(err);
    }
  }

  /** Flushes everything, retrying until the deadline; returns the number of rows left unwritten. */
  async drain(deadlineMs: number): Promise<number> {
    const end = Date.now() + deadlineMs;
    while (this.queue.length > 0 && Date.now() < end) {
      if (Date.now() < this.retryAt)
        await new Promise((r) => setTimeout(r, Math.min(this.retryAt - Date.now(), 100)));
      await this.flush();
    }
    return this.queue.length;
  }

  async stop(deadlineMs: number): Promise<number> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flushing;
    return this.drain(deadlineMs);
  }
}
