/**
 * A timeout for calls to a remote store that fires when the store has stopped answering, not when
 * this process was too busy to send the call or read the answer, nor when a call merely waited its
 * turn behind others (issue 15: a CPU-saturated event loop is not an unreachable Redis).
 *
 * A `setTimeout` per call (what ioredis's `commandTimeout` does) measures wall time from the call
 * to the moment the loop looks at the timer. Under a burst one poll phase runs for hundreds of
 * milliseconds: commands issued in it are only written to the socket after it (ioredis's
 * auto-pipeline flushes in the check phase), and the next iteration runs the timers phase before
 * the poll phase that reads the replies. Every call of the burst then "times out" against a
 * healthy Redis. Here:
 *
 * 1. **Stall, not latency.** A call fails after `timeoutMs` with no answer to *any* call through
 *    the guard, counted from the later of its own start and the last answer. While answers keep
 *    arriving the store is reachable; a call queued behind a thousand others is only queued.
 * 2. **The clock starts after the write.** A call's start is taken in the first check phase after
 *    it was made, after the auto-pipeline has written it, not when the busy loop issued it.
 * 3. **Lag does not count.** When the timer (or the `setImmediate` that follows it) runs more than
 *    `LAG_TOLERANCE_MS` late, the loop was busy elsewhere: the lateness is added to the deadline of
 *    every waiting call and the timer is re-armed. A verdict is given only by a timer that ran on
 *    time, after one `setImmediate` so the poll phase in between has read whatever arrived.
 * 4. **A ceiling.** `maxWaitMs` (plus lag) bounds any one call whatever the progress of others
 *    (a Redis Cluster node that hangs while the rest answer).
 *
 * One timer for all waiting calls (armed for the oldest), not one per call.
 */
export class StallTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StallTimeoutError';
  }
}

export interface StallGuardOptions {
  /** A call fails when nothing answered for this long (of a responsive event loop) while it waited. */
  timeoutMs: number;
  /** Upper bound on one call (plus event-loop lag), progress or not. Default max(2 s, 10 x timeoutMs). */
  maxWaitMs?: number;
  /** Message of the StallTimeoutError. */
  message?: string;
  /** Monotonic milliseconds; tests may replace it. Default performance.now. */
  now?: () => number;
}

/** Timers run a millisecond or two late on an idle loop; more than this is the loop being busy. */
export const LAG_TOLERANCE_MS = 10;

interface Waiter {
  start: number;
  /** `lag` when the waiter started: lag accrued since then extends its deadline. */
  lagAtStart: number;
  reject: (err: Error) => void;
}

export class StallGuard {
  private readonly timeoutMs: number;
  private readonly maxWaitMs: number;
  private readonly message: string;
  private readonly now: () => number;
  /** Insertion order is start order, so the first waiter always has the earliest deadline. */
  private readonly pending = new Set<Waiter>();
  /** Waiters made in the current tick, whose start is taken in the next check phase. */
  private unstarted: Waiter[] = [];
  private lastAnswer = -Infinity;
  /** Total event-loop lag observed while calls were waiting. */
  private lag = 0;
  private timer: NodeJS.Timeout | null = null;
  private timerDue = 0;
  private yielding = false;
  /** Calls failed by this guard (tests and metrics). */
  timeouts = 0;

  constructor(options: StallGuardOptions) {
    this.timeoutMs = Math.max(1, options.timeoutMs);
    this.maxWaitMs = Math.max(this.timeoutMs, options.maxWaitMs ?? Math.max(2_000, 10 * this.timeoutMs));
    this.message = options.message ?? 'Store timed out';
    this.now = options.now ?? (() => performance.now());
  }

  /** Calls waiting for an answer. */
  get waiting(): number {
    return this.pending.size;
  }

  /** Settles like `promise`, or rejects with StallTimeoutError when the store stalls. */
  run<T>(promise: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = { start: this.now(), lagAtStart: this.lag, reject };
      this.pending.add(waiter);
      if (this.unstarted.push(waiter) === 1) setImmediate(this.startWaiters);
      promise.then(
        (value) => {
          // An answer: proof of life for every other waiter too.
          this.lastAnswer = this.now();
          if (this.pending.delete(waiter)) resolve(value);
        },
        (err: unknown) => {
          if (this.pending.delete(waiter)) reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }

  /** Something else proved the store alive (an error reply is still a reply). */
  answered(): void {
    this.lastAnswer = this.now();
  }

  private readonly startWaiters = (): void => {
    const now = this.now();
    for (const w of this.unstarted) {
      w.start = now;
      w.lagAtStart = this.lag;
    }
    this.unstarted = [];
    this.arm();
  };

  private deadline(w: Waiter): number {
    const lag = this.lag - w.lagAtStart;
    return Math.min(
      Math.max(w.start, this.lastAnswer) + this.timeoutMs + lag,
      w.start + this.maxWaitMs + lag,
    );
  }

  private arm(): void {
    if (this.timer !== null || this.yielding) return;
    const first = this.pending.values().next();
    if (first.done) return;
    const delay = Math.max(1, Math.ceil(this.deadline(first.value) - this.now()));
    this.timerDue = this.now() + delay;
    this.timer = setTimeout(this.fired, delay);
  }

  private readonly fired = (): void => {
    this.timer = null;
    if (this.pending.size === 0) return;
    const firedAt = this.now();
    if (this.countLag(firedAt - this.timerDue)) return this.arm();
    // On time: let the poll phase read replies that already arrived, then judge.
    this.yielding = true;
    setImmediate(() => {
      this.yielding = false;
      const now = this.now();
      if (!this.countLag(now - firedAt)) this.judge(now);
      this.arm();
    });
  };

  /** Lateness beyond the tolerance is time the loop was busy: it extends every waiting deadline. */
  private countLag(late: number): boolean {
    if (late <= LAG_TOLERANCE_MS) return false;
    this.lag += late;
    return true;
  }

  private judge(now: number): void {
    for (const w of this.pending) {
      if (this.deadline(w) > now) break;
      this.pending.delete(w);
      this.timeouts++;
      w.reject(new StallTimeoutError(this.message));
    }
  }
}
