import { windowSpan } from './window.js';
import {
  LimitStoreUnavailable,
  type ItemState,
  type LimitItem,
  type LimitStore,
  type ReconcileEntry,
  type StoreReserveResult,
} from './types.js';

export interface LeaseStoreOptions {
  /** The shared store (usually a ResilientLimitStore over Redis); it must implement `lease`. */
  store: LimitStore;
  now?: () => number;
}

/** One counter's share held by this replica, for one window. */
interface Bucket {
  /** Granted and not yet spent; negative never (usage beyond it becomes `debt`). */
  available: number;
  /** Spent beyond what was granted (a reconcile above the estimate): added to the counter at the next refill. */
  debt: number;
  /** The shared counter as of the last grant (all replicas' grants). */
  sharedUsed: number;
  /** The last refill found no room left in the window. */
  exhausted: boolean;
  degraded: boolean;
  end: number;
  refill: Promise<void> | null;
  /** The item and a time inside its window, to hand the unspent share back on close. */
  item: LimitItem;
  at: number;
}

interface LeaseRecord {
  /** bucket key -> amount taken from it by the reservation. */
  entries: Map<string, number>;
  expiresAt: number;
}

/** Refill rounds one reservation may wait through before it is refused (a pathological churn guard). */
const MAX_ROUNDS = 64;

/** Counter keys of leased items carry this mark; no store makes keys that start with a NUL. */
const LEASED = '\u0000lease\u0000';

/**
 * Lease mode (`counting: lease`, issue 15): instead of one store round trip per request, each
 * replica takes a share of an enforced limit from the shared store (`lease` units at a time,
 * atomically, never more than is left below the limit) and spends it locally, topping it up in
 * the background when half of it is gone. Items that are not leased pass through to the store.
 *
 * Bound: the store only grants what is left below the limit, so the requests admitted in a
 * window never exceed the limit, whatever the number of replicas. What lease mode gives up is
 * the other direction: up to `lease` units per replica can sit unspent while another replica
 * refuses (at most replicas x lease per window), headers are this replica's view, and a replica
 * that dies holding a share loses it for the rest of that window (it stays counted; it is never
 * granted twice); one that closes gracefully hands it back. Token usage above the estimate is added to the counter unconditionally (debt),
 * as exact mode's reconcile does.
 */
export class LeaseLimitStore implements LimitStore {
  readonly kind: LimitStore['kind'];
  private readonly store: LimitStore;
  private readonly now: () => number;
  private readonly buckets = new Map<string, Bucket>();
  private readonly records = new Map<string, LeaseRecord>();
  private lastSweep: number;
  /** Refills sent to the shared store (tests and metrics). */
  refills = 0;

  constructor(options: LeaseStoreOptions) {
    this.store = options.store;
    this.kind = options.store.kind;
    this.now = options.now ?? Date.now;
    this.lastSweep = this.now();
  }

  state(): ReturnType<NonNullable<LimitStore['state']>> {
    return this.store.state?.() ?? 'ok';
  }

  async reserve(
    items: readonly LimitItem[],
    reservationId: string,
    reservationTtlMs: number,
  ): Promise<StoreReserveResult> {
    const leased: number[] = [];
    for (let i = 0; i < items.length; i++) if (isLeased(items[i]!)) leased.push(i);
    if (leased.length === 0) return this.store.reserve(items, reservationId, reservationTtlMs);

    const now = this.now();
    this.maybeSweep(now);
    const keys = items.map((item) => (isLeased(item) ? bucketKey(item, now) : ''));
    // Make each leased item fit locally, refilling the ones that do not. Other requests may spend
    // what a refill brought in before this one runs, so go round until the item fits or the store
    // has no room left (a refill granted less than asked): refusals only when the limit is spent.
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const ask = leased.filter((i) => {
        const b = this.bucket(keys[i]!, items[i]!, now);
        return b.available < items[i]!.amount && !b.exhausted;
      });
      if (ask.length === 0) break;
      try {
        await Promise.all(ask.map((i) => this.refill(keys[i]!, items[i]!, items[i]!.amount)));
      } catch (err) {
        if (err instanceof LimitStoreUnavailable)
          throw new LimitStoreUnavailable(ask[0]!, err.retryAfterMs, err.cause);
        throw err;
      }
    }
    const failed = leased.find((i) => this.bucket(keys[i]!, items[i]!, now).available < items[i]!.amount);
    if (failed !== undefined) {
      return { ok: false, failedIndex: failed, items: await this.states(items, keys, now) };
    }
    // Take the shares synchronously, then count the exact items in the store.
    const taken = new Map<string, number>();
    for (const i of leased) {
      this.bucket(keys[i]!, items[i]!, now).available -= items[i]!.amount;
      taken.set(keys[i]!, (taken.get(keys[i]!) ?? 0) + items[i]!.amount);
    }
    const giveBack = (): void => {
      for (const [key, amount] of taken) {
        const b = this.buckets.get(key);
        if (b) b.available += amount;
      }
    };
    const exact = items.map((_, i) => i).filter((i) => !isLeased(items[i]!));
    const counterKeys = keys.map((k) => LEASED + k);
    const states = new Array<ItemState>(items.length);
    if (exact.length > 0) {
      let res: StoreReserveResult;
      try {
        res = await this.store.reserve(
          exact.map((i) => items[i]!),
          reservationId,
          reservationTtlMs,
        );
      } catch (err) {
        giveBack();
        if (err instanceof LimitStoreUnavailable)
          throw new LimitStoreUnavailable(exact[err.failedIndex]!, err.retryAfterMs, err.cause);
        throw err;
      }
      if (!res.ok) {
        giveBack();
        const all = this.leasedStates(items, keys, now);
        exact.forEach((i, j) => (all[i] = res.items[j]!));
        return { ok: false, failedIndex: exact[res.failedIndex]!, items: all };
      }
      exact.forEach((i, j) => {
        counterKeys[i] = res.counterKeys[j]!;
        states[i] = res.items[j]!;
      });
    }
    this.records.set(reservationId, { entries: taken, expiresAt: now + reservationTtlMs });
    const leasedStates = this.leasedStates(items, keys, now);
    for (const i of leased) {
      states[i] = leasedStates[i]!;
      this.topUp(keys[i]!, items[i]!, now);
    }
    return { ok: true, items: states, counterKeys };
  }

  async reconcile(reservationId: string, counters: readonly ReconcileEntry[]): Promise<{ found: boolean }> {
    const mine = counters.filter((c) => c.counterKey.startsWith(LEASED));
    const rest = mine.length === 0 ? counters : counters.filter((c) => !c.counterKey.startsWith(LEASED));
    let found = false;
    if (mine.length > 0) {
      const record = this.records.get(reservationId);
      this.records.delete(reservationId);
      if (record && record.expiresAt > this.now()) {
        found = true;
        for (const { counterKey, actual } of mine) {
          const key = counterKey.slice(LEASED.length);
          const reserved = record.entries.get(key);
          const b = this.buckets.get(key);
          // A window that ended took its share with it.
          if (actual === null || reserved === undefined || !b || b.end <= this.now()) continue;
          b.available += reserved - actual;
          if (b.available < 0) {
            b.debt += -b.available;
            b.available = 0;
          }
        }
      }
    }
    if (rest.length > 0) found = (await this.store.reconcile(reservationId, rest)).found || found;
    return { found };
  }

  async peek(items: readonly LimitItem[]): Promise<ItemState[]> {
    const states = await this.store.peek(items);
    const now = this.now();
    return states.map((s, i) => {
      const item = items[i]!;
      const b = isLeased(item) ? this.buckets.get(bucketKey(item, now)) : undefined;
      if (!b || b.end <= now) return s;
      // The shared counter includes this replica's unspent share: it is still ours to spend.
      const remaining = Math.max(0, item.limit - s.used) + b.available;
      return { ...s, used: item.limit - remaining, remaining };
    });
  }

  async ping(): Promise<void> {
    await this.store.ping();
  }

  /**
   * Graceful close (after the server drained its requests): unspent shares of windows still open
   * go back to the shared counter and unpaid debt is paid, so a rolling deploy does not strand a
   * lease per restart. Best effort: what cannot be handed back stays counted until its window
   * ends, the bound for a replica that dies (see docs/limits.md).
   */
  async close(): Promise<void> {
    await Promise.allSettled([...this.buckets.values()].map((b) => b.refill));
    const now = this.now();
    const settle: Promise<unknown>[] = [];
    for (const b of this.buckets.values()) {
      if (b.end <= now || b.degraded) continue;
      const net = b.available - b.debt;
      if (net > 0 && this.store.giveBack) settle.push(this.store.giveBack(b.item, net, b.at));
      else if (net < 0 && this.store.lease) settle.push(this.store.lease(b.item, 0, -net));
    }
    await Promise.allSettled(settle);
    this.buckets.clear();
    this.records.clear();
    await this.store.close();
  }

  private bucket(key: string, item: LimitItem, now: number): Bucket {
    let b = this.buckets.get(key);
    if (!b) {
      const end = windowSpan(item.window, now).end;
      b = {
        available: 0,
        debt: 0,
        sharedUsed: 0,
        exhausted: false,
        degraded: false,
        end,
        refill: null,
        item,
        at: now,
      };
      this.buckets.set(key, b);
    }
    return b;
  }

  /** One refill per bucket at a time; concurrent callers wait for the one in flight. */
  private refill(key: string, item: LimitItem, need: number): Promise<void> {
    const b = this.bucket(key, item, this.now());
    if (b.refill) return b.refill;
    const size = Math.max(1, Math.ceil(item.lease ?? 1));
    const want = Math.max(need, size) - b.available;
    if (want <= 0) return Promise.resolve();
    const debt = b.debt;
    const lease = this.store.lease?.bind(this.store);
    if (!lease) return Promise.reject(new TypeError(`the ${this.store.kind} store cannot lease`));
    this.refills++;
    b.refill = lease(item, want, debt)
      .then((grant) => {
        b.debt -= debt;
        b.available += grant.granted;
        b.sharedUsed = grant.state.used;
        b.exhausted = grant.granted < want;
        b.degraded = grant.state.degraded === true;
      })
      .finally(() => {
        b.refill = null;
      });
    return b.refill;
  }

  /** Background refill once half of a share is spent, so requests rarely wait for one. */
  private topUp(key: string, item: LimitItem, now: number): void {
    const b = this.bucket(key, item, now);
    const size = Math.max(1, Math.ceil(item.lease ?? 1));
    if (b.refill || b.exhausted || b.available * 2 >= size) return;
    this.refill(key, item, 0).catch(() => {
      // The next request that needs the share refills in the foreground and meets the fail mode.
    });
  }

  private leasedStates(items: readonly LimitItem[], keys: string[], now: number): ItemState[] {
    return items.map((item, i) => {
      if (!isLeased(item)) return { used: 0, limit: item.limit, remaining: item.limit, resetMs: 0 };
      const b = this.bucket(keys[i]!, item, now);
      const remaining = Math.max(0, item.limit - b.sharedUsed) + b.available;
      const state: ItemState = {
        used: item.limit - remaining,
        limit: item.limit,
        remaining,
        resetMs: Math.max(0, b.end - now),
      };
      if (b.degraded) state.degraded = true;
      return state;
    });
  }

  /** States for a refusal: leased items from the buckets, the rest read from the store. */
  private async states(items: readonly LimitItem[], keys: string[], now: number): Promise<ItemState[]> {
    const states = this.leasedStates(items, keys, now);
    const exact = items.map((_, i) => i).filter((i) => !isLeased(items[i]!));
    if (exact.length === 0) return states;
    try {
      const read = await this.store.peek(exact.map((i) => items[i]!));
      exact.forEach((i, j) => (states[i] = read[j]!));
    } catch {
      // Headers only; the refusal is decided.
    }
    return states;
  }

  private maybeSweep(now: number): void {
    if (now - this.lastSweep < 10_000) return;
    this.lastSweep = now;
    for (const [k, b] of this.buckets) if (b.end <= now && !b.refill) this.buckets.delete(k);
    for (const [k, r] of this.records) if (r.expiresAt <= now) this.records.delete(k);
  }
}

function isLeased(item: LimitItem): boolean {
  return item.counting === 'lease' && item.enforce;
}

function bucketKey(item: LimitItem, now: number): string {
  return `${item.subject}\u0000${item.ruleId}\u0000${windowSpan(item.window, now).key}`;
}
