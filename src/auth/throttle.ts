import { LRUCache } from 'lru-cache';

export interface ThrottleOptions {
  /** Hits allowed per window. */
  limit: number;
  windowMs: number;
  /** Distinct subjects remembered; the least recently seen are forgotten first. */
  maxSubjects?: number;
  now?: () => number;
}

interface Window {
  start: number;
  count: number;
}

/**
 * Per-replica fixed-window counters for abuse control (client IPs, failed logins, /v1/check).
 * Unlike budgets these need not be exact across replicas: they bound the work one client can
 * make one replica do, and they must cost no I/O.
 */
export class Throttle {
  private readonly windows: LRUCache<string, Window>;
  private readonly now: () => number;

  constructor(private readonly options: ThrottleOptions) {
    this.now = options.now ?? Date.now;
    this.windows = new LRUCache({ max: options.maxSubjects ?? 50_000 });
  }

  private current(subject: string): Window {
    const now = this.now();
    const start = now - (now % this.options.windowMs);
    let w = this.windows.get(subject);
    if (!w || w.start !== start) {
      w = { start, count: 0 };
      this.windows.set(subject, w);
    }
    return w;
  }

  /** Counts one hit; returns the seconds to wait when over the limit, else 0. */
  hit(subject: string): number {
    const w = this.current(subject);
    w.count++;
    return w.count > this.options.limit ? this.retryAfter(w) : 0;
  }

  /** Over the limit already (without counting a hit)? Seconds to wait, else 0. */
  blocked(subject: string): number {
    const w = this.windows.get(subject);
    if (!w) return 0;
    const now = this.now();
    if (w.start !== now - (now % this.options.windowMs)) return 0;
    return w.count >= this.options.limit ? this.retryAfter(w) : 0;
  }

  private retryAfter(w: Window): number {
    return Math.max(1, Math.ceil((w.start + this.options.windowMs - this.now()) / 1000));
  }
}
