import type { LimitWindow } from '../policy/limit-rule.js';

/**
 * One counter touched by one request. Amounts and limits are integers in the counter's unit:
 * requests, tokens, or micro-USD (the limiter scales dollars so stores never add floats).
 */
export interface LimitItem {
  /** Who shares the counter, e.g. `key:k_123`, `team:finance`, `global:*`. Also the Redis hash tag. */
  subject: string;
  ruleId: string;
  window: LimitWindow;
  amount: number;
  limit: number;
  /** false for monitor-mode rules: counted, never refused. */
  enforce: boolean;
  /**
   * What a resilient store (ResilientLimitStore) does with this item while the shared store is
   * unreachable; undefined = its configured default. Plain stores ignore it.
   */
  failMode?: FailMode;
  /**
   * `lease`: a LeaseLimitStore serves this enforced item from a share of the limit it holds
   * locally (`lease` units per refill); `exact` or undefined: every request is counted in the store.
   */
  counting?: Counting;
  /** Lease size in the counter's unit, for `counting: lease`. */
  lease?: number;
}

export type Counting = 'exact' | 'lease';

/** What `LimitStore.lease` handed out. */
export interface LeaseGrant {
  /** Taken from the counter's room for the caller to spend locally: min(want, limit - used), never less than 0. */
  granted: number;
  /** The counter after the grant (and the debt) were added. */
  state: ItemState;
}

export type FailMode = 'open' | 'closed';

/** `degraded` while a resilient store is answering from its fallback instead of the shared store. */
export type StoreHealth = 'ok' | 'degraded';

export interface ItemState {
  /** Counted in the current window (after the increment, when a reservation succeeded). */
  used: number;
  limit: number;
  /** max(0, limit - used). */
  remaining: number;
  /** Milliseconds until the window resets, from the store's clock. */
  resetMs: number;
  /** Read from or counted in a local fallback because the shared store failed (fail-open). */
  degraded?: boolean;
}

export type StoreReserveResult =
  /** `counterKeys[i]` names the window item i was counted in; pass them back to `reconcile`. */
  | { ok: true; items: ItemState[]; counterKeys: string[] }
  /** Nothing was incremented; `items` are the states as they were. */
  | { ok: false; failedIndex: number; items: ItemState[] };

export interface ReconcileEntry {
  /** From the successful reserve's `counterKeys`, in the same order. */
  counterKey: string;
  /** The actual amount; null = unknown, keep what was reserved. */
  actual: number | null;
}

export interface LimitStore {
  readonly kind: 'memory' | 'redis';
  /**
   * All-or-nothing: if any enforced item would exceed its limit (used + amount > limit), no counter
   * is changed. Otherwise every item is incremented and a reservation record (what was added to
   * which window) is kept for `reservationTtlMs`, for `reconcile`.
   */
  reserve(
    items: readonly LimitItem[],
    reservationId: string,
    reservationTtlMs: number,
  ): Promise<StoreReserveResult>;
  /**
   * Replaces each item's reserved amount by the actual one (null keeps the reservation as it is):
   * adds `actual - reserved` to the window the reservation was counted in, clamped at 0.
   * Idempotent: the record is consumed, so a second call (or a call after the record expired)
   * changes nothing and answers `found: false`.
   * A call whose actuals are all null changes no counter: a store may drop the record lazily and
   * answer `found: true` without looking (the Redis store batches those deletions).
   */
  reconcile(reservationId: string, counters: readonly ReconcileEntry[]): Promise<{ found: boolean }>;
  /** Current states without changing anything. */
  peek(items: readonly LimitItem[]): Promise<ItemState[]>;
  /**
   * Lease mode, in one atomic step: adds `debt` (usage beyond earlier grants, unconditionally),
   * then takes up to `want` of what is left below the item's limit. Grants are counted like
   * reservations, so the sum of grants never exceeds the limit; they expire with the window.
   */
  lease?(item: LimitItem, want: number, debt: number): Promise<LeaseGrant>;
  /**
   * Lease mode, graceful close: takes `amount` unspent units of a share back off the counter of
   * the window that contains `at`. A window that has ended is left alone; the counter never goes
   * below 0. Best effort: a replica that cannot reach the store keeps the old bound (the share
   * stays counted until its window ends).
   */
  giveBack?(item: LimitItem, amount: number, at: number): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
  /** Wrappers that fall back when the shared store fails say whether they are; plain stores omit it. */
  state?(): StoreHealth;
}

/**
 * Thrown by a store (a ResilientLimitStore) that cannot reach the shared counters when the fail
 * mode of item `failedIndex` says refuse. Callers answer `limits_unavailable`.
 */
export class LimitStoreUnavailable extends Error {
  constructor(
    /** The first enforced fail-closed item of the call. */
    readonly failedIndex: number,
    /** When it is worth asking again (the circuit breaker's retry interval). */
    readonly retryAfterMs: number,
    cause?: unknown,
  ) {
    super('Limit store unavailable', cause === undefined ? undefined : { cause });
    this.name = 'LimitStoreUnavailable';
  }
}
