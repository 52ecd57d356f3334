import { MemoryLimitStore } from './memory-store.js';
import { StallGuard } from './stall-guard.js';
import {
  LimitStoreUnavailable,
  type FailMode,
  type ItemState,
  type LeaseGrant,
  type LimitItem,
  type LimitStore,
  type ReconcileEntry,
  type StoreHealth,
  type StoreReserveResult,
} from './types.js';

export interface ResilientStoreOptions {
  /** The shared store (Redis) whose failures this wrapper absorbs. */
  store: LimitStore;
  /** For items without their own `failMode`. Default `closed`: no shared counter, no request. */
  defaultFailMode?: FailMode;
  /** Replicas sharing the store; in fail-open each one counts limit / expectedReplicas locally. Default 1. */
  expectedReplicas?: number;
  /**
   * A call fails when the store has answered nothing for this long while it waited (a stall, see
   * StallGuard), measured after the event loop has read what arrived. Default 150 ms.
   */
  timeoutMs?: number;
  /** Upper bound on any one call, whatever the store does. Default max(2 s, 10 x timeoutMs). */
  maxWaitMs?: number;
  /** After a store failure, calls skip the store for this long, then one call probes it. Default 1000 ms. */
  retryIntervalMs?: number;
  /** Wall clock for the breaker and the fallback's windows. */
  now?: () => number;
  /** Told when the store goes down or comes back; for logs and metrics. */
  onStateChange?: (state: StoreHealth, error?: unknown) => void;
}

/**
 * Counter keys of reservations counted in the fallback carry this mark, so `reconcile` sends them
 * back to the fallback without remembering anything per reservation. No store makes keys that
 * start with a NUL.
 */
const FALLBACK = '\u0000fallback\u0000';

/**
 * The limit store's resilience as a wrapper with the store's own interface (as undici's retry
 * interceptor wraps a dispatcher): a stall timeout, a circuit breaker, and the fail modes — refuse
 * (`LimitStoreUnavailable`) or count in a local MemoryLimitStore at limit / expectedReplicas,
 * flagging the states `degraded`. The Limiter above it keeps the limit logic only.
 */
export class ResilientLimitStore implements LimitStore {
  readonly kind: LimitStore['kind'];
  private readonly store: LimitStore;
  private readonly fallback: MemoryLimitStore;
  private readonly guard: StallGuard;
  private readonly defaultFailMode: FailMode;
  private readonly expectedReplicas: number;
  private readonly retryIntervalMs: number;
  private readonly now: () => number;
  private readonly onStateChange: ((state: StoreHealth, error?: unknown) => void) | undefined;
  private failing = false;
  private nextProbeAt = 0;

  constructor(options: ResilientStoreOptions) {
    this.store = options.store;
    this.kind = options.store.kind;
    this.defaultFailMode = options.defaultFailMode ?? 'closed';
    this.expectedReplicas = Math.max(1, options.expectedReplicas ?? 1);
    this.retryIntervalMs = options.retryIntervalMs ?? 1000;
    this.now = options.now ?? Date.now;
    this.onStateChange = options.onStateChange;
    this.guard = new StallGuard({
      timeoutMs: options.timeoutMs ?? 150,
      maxWaitMs: options.maxWaitMs,
      message: 'Limit store timed out',
    });
    this.fallback = new MemoryLimitStore({ now: this.now });
  }

  /** `degraded` while the shared store is failing (the circuit is open); for /ready and metrics. */
  state(): StoreHealth {
    return this.failing ? 'degraded' : 'ok';
  }

  /** Store calls failed by the stall timeout (tests and metrics). */
  get timeouts(): number {
    return this.guard.timeouts;
  }

  async reserve(
    items: readonly LimitItem[],
    reservationId: string,
    reservationTtlMs: number,
  ): Promise<StoreReserveResult> {
    let cause: unknown;
    if (this.shouldTryStore()) {
      try {
        const res = await this.guard.run(this.store.reserve(items, reservationId, reservationTtlMs));
        this.markOk();
        return res;
      } catch (err) {
        this.markFailed(err);
        cause = err;
      }
    }
    const local = this.localItems(items, cause);
    const res = this.fallback.reserveSync(local, reservationId, reservationTtlMs);
    markDegraded(res.items);
    return res.ok ? { ...res, counterKeys: res.counterKeys.map((k) => FALLBACK + k) } : res;
  }

  async peek(items: readonly LimitItem[]): Promise<ItemState[]> {
    let cause: unknown;
    if (this.shouldTryStore()) {
      try {
        const states = await this.guard.run(this.store.peek(items));
        this.markOk();
        return states;
      } catch (err) {
        this.markFailed(err);
        cause = err;
      }
    }
    return markDegraded(await this.fallback.peek(this.localItems(items, cause)));
  }

  /** Handing a share back is best effort: only while the store is up, under the same timeout. */
  async giveBack(item: LimitItem, amount: number, at: number): Promise<void> {
    const giveBack = this.store.giveBack?.bind(this.store);
    if (!giveBack || !this.shouldTryStore()) return;
    await this.guard.run(giveBack(item, amount, at));
  }

  /** Lease refills get the same timeout, breaker and fail modes as reservations. */
  async lease(item: LimitItem, want: number, debt: number): Promise<LeaseGrant> {
    const lease = this.store.lease?.bind(this.store);
    if (!lease) throw new TypeError(`the ${this.store.kind} store cannot lease`);
    let cause: unknown;
    if (this.shouldTryStore()) {
      try {
        const grant = await this.guard.run(lease(item, want, debt));
        this.markOk();
        return grant;
      } catch (err) {
        this.markFailed(err);
        cause = err;
      }
    }
    const [local] = this.localItems([item], cause);
    const grant = this.fallback.leaseSync(local!, want, debt);
    grant.state.degraded = true;
    return grant;
  }

  /**
   * Reservations counted in the fallback are reconciled there. Others go to the store, except
   * while it is known to be down: then they are skipped (`found: false`, their estimates stay
   * counted) instead of each spending a timeout. A failure is thrown after opening the circuit.
   */
  async reconcile(reservationId: string, counters: readonly ReconcileEntry[]): Promise<{ found: boolean }> {
    if (counters[0]?.counterKey.startsWith(FALLBACK)) {
      return this.fallback.reconcile(
        reservationId,
        counters.map((c) => ({ counterKey: c.counterKey.slice(FALLBACK.length), actual: c.actual })),
      );
    }
    if (this.failing && this.now() < this.nextProbeAt) return { found: false };
    try {
      const res = await this.guard.run(this.store.reconcile(reservationId, counters));
      this.markOk();
      return res;
    } catch (err) {
      this.markFailed(err);
      throw err;
    }
  }

  async ping(): Promise<void> {
    await this.guard.run(this.store.ping());
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.store.close(), this.fallback.close()]);
  }

  /**
   * The fail mode: refuse when an enforced item says closed; otherwise each replica's share of
   * the limit, so N replicas together stay within it. Amounts are integers, so flooring the share
   * refuses exactly what the fraction would.
   */
  private localItems(items: readonly LimitItem[], cause: unknown): LimitItem[] {
    const closed = items.findIndex((i) => i.enforce && (i.failMode ?? this.defaultFailMode) === 'closed');
    if (closed >= 0) throw new LimitStoreUnavailable(closed, this.retryIntervalMs, cause);
    return items.map((item) => ({ ...item, limit: Math.floor(item.limit / this.expectedReplicas) }));
  }

  /** Closed circuit: always. Open: only one probe per retry interval (half-open). */
  private shouldTryStore(): boolean {
    if (!this.failing) return true;
    const now = this.now();
    if (now < this.nextProbeAt) return false;
    this.nextProbeAt = now + this.retryIntervalMs;
    return true;
  }

  private markOk(): void {
    if (!this.failing) return;
    this.failing = false;
    this.onStateChange?.('ok');
  }

  private markFailed(error: unknown): void {
    this.nextProbeAt = this.now() + this.retryIntervalMs;
    if (this.failing) return;
    this.failing = true;
    this.onStateChange?.('degraded', error);
  }
}

function markDegraded(states: ItemState[]): ItemState[] {
  for (const s of states) s.degraded = true;
  return states;
}
