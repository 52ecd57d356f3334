import type {
  ItemState,
  LeaseGrant,
  LimitItem,
  LimitStore,
  ReconcileEntry,
  StoreReserveResult,
} from './types.js';
import { windowSpan } from './window.js';

export interface MemoryStoreOptions {
  now?: () => number;
  /** How often (at most) expired windows and reservations are dropped; default 10 s. */
  sweepIntervalMs?: number;
}

interface Counter {
  value: number;
  /** Window end: after this the counter is dead and may be swept. */
  expiresAt: number;
}

interface ReservationRecord {
  /** Reserved amount per counter key. */
  entries: Map<string, number>;
  expiresAt: number;
}

/**
 * Single-process store. Every method does its work synchronously before its first await, so on
 * one event loop each call is atomic without locks.
 */
export class MemoryLimitStore implements LimitStore {
  readonly kind = 'memory' as const;
  private readonly counters = new Map<string, Counter>();
  private readonly reservations = new Map<string, ReservationRecord>();
  private readonly now: () => number;
  private readonly sweepIntervalMs: number;
  private lastSweep: number;

  constructor(options: MemoryStoreOptions = {}) {
    this.now = options.now ?? Date.now;
    this.sweepIntervalMs = options.sweepIntervalMs ?? 10_000;
    this.lastSweep = this.now();
  }

  /** Live counters and reservations, for tests and metrics. */
  size(): { counters: number; reservations: number } {
    return { counters: this.counters.size, reservations: this.reservations.size };
  }

  async reserve(
    items: readonly LimitItem[],
    reservationId: string,
    reservationTtlMs: number,
  ): Promise<StoreReserveResult> {
    return this.reserveSync(items, reservationId, reservationTtlMs);
  }

  reserveSync(
    items: readonly LimitItem[],
    reservationId: string,
    reservationTtlMs: number,
  ): StoreReserveResult {
    const now = this.now();
    this.maybeSweep(now);
    const resolved = items.map((item) => this.resolve(item, now));
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      const r = resolved[i]!;
      if (item.enforce && r.used + item.amount > item.limit) {
        return {
          ok: false,
          failedIndex: i,
          items: resolved.map((x, j) => state(x.used, items[j]!.limit, x.resetMs)),
        };
      }
    }
    const entries = new Map<string, number>();
    const states: ItemState[] = [];
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      const r = resolved[i]!;
      const value = r.used + item.amount;
      this.counters.set(r.key, { value, expiresAt: r.end });
      entries.set(r.key, (entries.get(r.key) ?? 0) + item.amount);
      states.push(state(value, item.limit, r.resetMs));
    }
    this.reservations.set(reservationId, { entries, expiresAt: now + reservationTtlMs });
    return { ok: true, items: states, counterKeys: resolved.map((r) => r.key) };
  }

  async reconcile(reservationId: string, counters: readonly ReconcileEntry[]): Promise<{ found: boolean }> {
    const now = this.now();
    this.maybeSweep(now);
    const record = this.reservations.get(reservationId);
    if (!record || record.expiresAt <= now) {
      this.reservations.delete(reservationId);
      return { found: false };
    }
    this.reservations.delete(reservationId);
    for (const { counterKey, actual } of counters) {
      const reserved = record.entries.get(counterKey);
      if (actual === null || reserved === undefined) continue;
      const counter = this.counters.get(counterKey);
      // A window that already ended is gone; re-creating it would count into nothing useful.
      if (!counter || counter.expiresAt <= now) continue;
      counter.value = Math.max(0, counter.value + (actual - reserved));
    }
    return { found: true };
  }

  async peek(items: readonly LimitItem[]): Promise<ItemState[]> {
    const now = this.now();
    this.maybeSweep(now);
    return items.map((item) => {
      const r = this.resolve(item, now);
      return state(r.used, item.limit, r.resetMs);
    });
  }

  async lease(item: LimitItem, want: number, debt: number): Promise<LeaseGrant> {
    return this.leaseSync(item, want, debt);
  }

  leaseSync(item: LimitItem, want: number, debt: number): LeaseGrant {
    const now = this.now();
    this.maybeSweep(now);
    const r = this.resolve(item, now);
    let used = r.used + Math.max(0, debt);
    const granted = Math.max(0, Math.min(want, item.limit - used));
    used += granted;
    if (used !== r.used) this.counters.set(r.key, { value: used, expiresAt: r.end });
    return { granted, state: state(used, item.limit, r.resetMs) };
  }

  async giveBack(item: LimitItem, amount: number, at: number): Promise<void> {
    if (!(amount > 0)) return;
    const now = this.now();
    const key = this.resolve(item, at).key;
    const counter = this.counters.get(key);
    if (!counter || counter.expiresAt <= now) return;
    counter.value = Math.max(0, counter.value - amount);
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.counters.clear();
    this.reservations.clear();
  }

  /** Drops ended windows and expired reservations. Public so callers may force it (tests, idle timers). */
  sweep(now: number = this.now()): void {
    this.lastSweep = now;
    for (const [k, c] of this.counters) if (c.expiresAt <= now) this.counters.delete(k);
    for (const [k, r] of this.reservations) if (r.expiresAt <= now) this.reservations.delete(k);
  }

  private maybeSweep(now: number): void {
    if (now - this.lastSweep >= this.sweepIntervalMs) this.sweep(now);
  }

  private resolve(item: LimitItem, now: number): { key: string; used: number; end: number; resetMs: number } {
    const span = windowSpan(item.window, now);
    const key = `${item.subject}\u0000${item.ruleId}\u0000${span.key}`;
    const counter = this.counters.get(key);
    const used = counter && counter.expiresAt > now ? counter.value : 0;
    return { key, used, end: span.end, resetMs: span.end - now };
  }
}

function state(used: number, limit: number, resetMs: number): ItemState {
  return { used, limit, remaining: Math.max(0, limit - used), resetMs };
}
