import { randomUUID } from 'node:crypto';
import type { KeyIdentity } from '../auth/identity.js';
import { AigovError } from '../errors.js';
import type { CompiledLimitRule, LimitMetric } from '../policy/limit-rule.js';
import type { NormalizedRequest } from '../providers/types.js';
import { estimateAmounts, microToUsd, usdToMicro, type CostEstimator } from './estimate.js';
import { limitHeaders, retryAfterSeconds, type HeaderInput } from './headers.js';
import { MemoryLimitStore } from './memory-store.js';
import type { ItemState, LimitItem, LimitStore, ReconcileEntry, StoreReserveResult } from './types.js';

export type FailMode = 'open' | 'closed';
export type LimiterState = 'ok' | 'degraded';

export interface LimiterOptions {
  store: LimitStore;
  /** For rules without their own `failMode`. Default `closed`: no shared counter, no request. */
  defaultFailMode?: FailMode;
  /** Replicas sharing the store; in fail-open each one enforces limit / expectedReplicas locally. Default 1. */
  expectedReplicas?: number;
  /** Output tokens assumed for a request without max_tokens. Default 1024. */
  defaultOutputTokens?: number;
  estimateCost?: CostEstimator;
  /** USD reserved for a request whose cost cannot be estimated (unknown price). Default 0.05. */
  unknownCostUsd?: number;
  /** How long an un-reconciled reservation is remembered. Default 15 min (long streams). */
  reservationTtlMs?: number;
  /** Upper bound on any store call, whatever the store does. Default 150 ms. */
  storeTimeoutMs?: number;
  /** After a store failure, calls skip the store for this long, then one call probes it. Default 1000 ms. */
  retryIntervalMs?: number;
  now?: () => number;
  /** Told when the store goes down or comes back; for logs and metrics. */
  onStateChange?: (state: LimiterState, error?: unknown) => void;
}

export interface ReservedItem {
  ruleId: string;
  metric: LimitMetric;
  counterKey: string;
  estimate: number;
}

export interface Reservation {
  id: string;
  /** Where it was counted: the shared store, the local fail-open fallback, or nowhere (no rule applied). */
  store: 'primary' | 'fallback' | 'none';
  items: ReservedItem[];
}

export interface ActualUsage {
  /** Provider-reported total tokens; null = unknown, the estimate stays counted. */
  totalTokens: number | null;
  /** Priced cost in USD; null = unknown, the estimate stays counted. */
  costUsd: number | null;
}

export interface EstimateOverride {
  /** Replaces the chars/4 + max_tokens estimate. */
  tokens?: number;
  costUsd?: number;
}

interface DecisionBase {
  headers: Record<string, string>;
  /** Counted in the local fallback because the shared store failed (fail-open): audit should flag it. */
  degraded: boolean;
  /** Ids of monitor-mode rules that would have refused. */
  monitorMatches: string[];
  /** Ids of every limit rule that applied to the request. */
  applied: string[];
}

export interface LimitDenied extends DecisionBase {
  allowed: false;
  rule: CompiledLimitRule;
  retryAfterSeconds: number;
  error: AigovError;
}

export type ReserveResult = (DecisionBase & { allowed: true; reservation: Reservation }) | LimitDenied;
export type PeekResult = (DecisionBase & { allowed: true }) | LimitDenied;

const UNIT: Record<LimitMetric, string> = { requests: 'requests', tokens: 'tokens', cost_usd: 'USD' };

export class Limiter {
  private readonly store: LimitStore;
  private readonly fallback: MemoryLimitStore;
  private readonly defaultFailMode: FailMode;
  private readonly expectedReplicas: number;
  private readonly defaultOutputTokens: number;
  private readonly estimateCost: CostEstimator | undefined;
  private readonly unknownCostUsd: number;
  private readonly reservationTtlMs: number;
  private readonly storeTimeoutMs: number;
  private readonly retryIntervalMs: number;
  private readonly now: () => number;
  private readonly onStateChange: ((state: LimiterState, error?: unknown) => void) | undefined;
  private failing = false;
  private nextProbeAt = 0;

  constructor(options: LimiterOptions) {
    this.store = options.store;
    this.defaultFailMode = options.defaultFailMode ?? 'closed';
    this.expectedReplicas = Math.max(1, options.expectedReplicas ?? 1);
    this.defaultOutputTokens = options.defaultOutputTokens ?? 1024;
    this.estimateCost = options.estimateCost;
    this.unknownCostUsd = options.unknownCostUsd ?? 0.05;
    this.reservationTtlMs = options.reservationTtlMs ?? 15 * 60_000;
    this.storeTimeoutMs = options.storeTimeoutMs ?? 150;
    this.retryIntervalMs = options.retryIntervalMs ?? 1000;
    this.now = options.now ?? Date.now;
    this.onStateChange = options.onStateChange;
    this.fallback = new MemoryLimitStore({ now: this.now });
  }

  /** `degraded` while the shared store is failing; for /ready and metrics. */
  state(): LimiterState {
    return this.failing ? 'degraded' : 'ok';
  }

  storeKind(): LimitStore['kind'] {
    return this.store.kind;
  }

  /** Counts the request against every applicable rule, or refuses it and counts nothing. */
  async reserve(
    rules: readonly CompiledLimitRule[],
    req: NormalizedRequest,
    key: KeyIdentity,
    estimate: EstimateOverride = {},
  ): Promise<ReserveResult> {
    const id = randomUUID();
    const applicable = rules.filter((r) => r.appliesTo(req, key));
    if (applicable.length === 0) {
      return { allowed: true, reservation: { id, store: 'none', items: [] }, ...emptyBase() };
    }
    const items = this.items(applicable, req, key, estimate);
    if (this.shouldTryStore()) {
      try {
        const res = await this.withTimeout(this.store.reserve(items, id, this.reservationTtlMs));
        this.markOk();
        return this.decideReserve(applicable, items, res, id, 'primary');
      } catch (err) {
        this.markFailed(err);
      }
    }
    const refusal = this.failClosed(applicable);
    if (refusal) return refusal;
    const local = this.localItems(items);
    return this.decideReserve(
      applicable,
      local,
      this.fallback.reserveSync(local, id, this.reservationTtlMs),
      id,
      'fallback',
    );
  }

  /**
   * Replaces the estimate with what the request actually used. Never throws: if the store is
   * unreachable the estimate simply stays counted until its window ends (conservative).
   */
  async reconcile(reservation: Reservation, usage: ActualUsage): Promise<{ applied: boolean }> {
    return this.applyActuals(
      reservation,
      reservation.items.map((item) => ({
        counterKey: item.counterKey,
        actual: actualFor(item.metric, usage),
      })),
    );
  }

  /** Takes the whole reservation back, the request included: for requests that never reached the provider. */
  async release(reservation: Reservation): Promise<{ applied: boolean }> {
    return this.applyActuals(
      reservation,
      reservation.items.map((item) => ({ counterKey: item.counterKey, actual: 0 })),
    );
  }

  /** What `reserve` would answer, without counting anything (for /v1/check). */
  async peek(
    rules: readonly CompiledLimitRule[],
    req: NormalizedRequest,
    key: KeyIdentity,
  ): Promise<PeekResult> {
    const applicable = rules.filter((r) => r.appliesTo(req, key));
    if (applicable.length === 0) return { allowed: true, ...emptyBase() };
    const items = this.items(applicable, req, key, {});
    if (this.shouldTryStore()) {
      try {
        const states = await this.withTimeout(this.store.peek(items));
        this.markOk();
        return this.decidePeek(applicable, items, states, false);
      } catch (err) {
        this.markFailed(err);
      }
    }
    const refusal = this.failClosed(applicable);
    if (refusal) return refusal;
    const local = this.localItems(items);
    return this.decidePeek(applicable, local, await this.fallback.peek(local), true);
  }

  /**
   * What `reserve` would count for one request, in tokens and USD: callers that reserve many
   * requests at once (a batch) sum these and pass the total as an EstimateOverride.
   */
  estimate(req: NormalizedRequest): { tokens: number; costUsd: number } {
    const amounts = estimateAmounts(req, {
      defaultOutputTokens: this.defaultOutputTokens,
      estimateCost: this.estimateCost,
      unknownCostUsd: this.unknownCostUsd,
    });
    return { tokens: amounts.tokens, costUsd: microToUsd(amounts.cost_usd) };
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.store.close(), this.fallback.close()]);
  }

  private items(
    rules: readonly CompiledLimitRule[],
    req: NormalizedRequest,
    key: KeyIdentity,
    override: EstimateOverride,
  ): LimitItem[] {
    const amounts = estimateAmounts(req, {
      defaultOutputTokens: this.defaultOutputTokens,
      estimateCost: this.estimateCost,
      unknownCostUsd: this.unknownCostUsd,
    });
    if (override.tokens !== undefined) amounts.tokens = Math.max(0, Math.ceil(override.tokens));
    if (override.costUsd !== undefined) amounts.cost_usd = usdToMicro(override.costUsd);
    return rules.map((rule) => ({
      subject: subjectOf(rule, key),
      ruleId: rule.id,
      window: rule.window,
      amount: amounts[rule.metric],
      limit: rule.metric === 'cost_usd' ? Math.round(rule.amount * 1_000_000) : rule.amount,
      enforce: rule.mode === 'enforce',
    }));
  }

  /**
   * Each replica's share of the limit while the shared store is down, so N replicas together stay
   * within it. Amounts are integers, so flooring the share refuses exactly what the fraction would.
   */
  private localItems(items: LimitItem[]): LimitItem[] {
    return items.map((item) => ({ ...item, limit: Math.floor(item.limit / this.expectedReplicas) }));
  }

  private decideReserve(
    rules: readonly CompiledLimitRule[],
    items: readonly LimitItem[],
    res: StoreReserveResult,
    id: string,
    store: 'primary' | 'fallback',
  ): ReserveResult {
    const degraded = store === 'fallback';
    if (!res.ok) return this.denied(rules, items, res.items, res.failedIndex, degraded);
    const monitorMatches = rules
      .filter((rule, i) => rule.mode === 'monitor' && res.items[i]!.used > items[i]!.limit)
      .map((r) => r.id);
    return {
      allowed: true,
      reservation: {
        id,
        store,
        items: rules.map((rule, i) => ({
          ruleId: rule.id,
          metric: rule.metric,
          counterKey: res.counterKeys[i]!,
          estimate: items[i]!.amount,
        })),
      },
      headers: headersFor(rules, res.items),
      degraded,
      monitorMatches,
      applied: rules.map((r) => r.id),
    };
  }

  private decidePeek(
    rules: readonly CompiledLimitRule[],
    items: readonly LimitItem[],
    states: readonly ItemState[],
    degraded: boolean,
  ): PeekResult {
    const over = (i: number): boolean => states[i]!.used + items[i]!.amount > items[i]!.limit;
    const failedIndex = rules.findIndex((rule, i) => rule.mode === 'enforce' && over(i));
    if (failedIndex >= 0) return this.denied(rules, items, states, failedIndex, degraded);
    return {
      allowed: true,
      headers: headersFor(rules, states),
      degraded,
      monitorMatches: rules.filter((rule, i) => rule.mode === 'monitor' && over(i)).map((r) => r.id),
      applied: rules.map((r) => r.id),
    };
  }

  private denied(
    rules: readonly CompiledLimitRule[],
    items: readonly LimitItem[],
    states: readonly ItemState[],
    failedIndex: number,
    degraded: boolean,
  ): LimitDenied {
    const rule = rules[failedIndex]!;
    const item = items[failedIndex]!;
    const retryAfter = retryAfterSeconds(states[failedIndex]!.resetMs);
    const headers = { ...headersFor(rules, states), 'retry-after': String(retryAfter) };
    const tooBig = item.amount > item.limit;
    const amount = rule.metric === 'cost_usd' ? `$${rule.amount}` : `${rule.amount} ${UNIT[rule.metric]}`;
    const what = rule.metric === 'cost_usd' ? 'Budget' : 'Rate limit';
    const message =
      `${what} "${rule.id}" exceeded: ${amount} per ${rule.window.label} by ${rule.by}. ` +
      (tooBig ? 'This request alone is larger than the limit.' : `Retry after ${retryAfter}s.`);
    const error = new AigovError(rule.metric === 'cost_usd' ? 'budget_exceeded' : 'rate_limited', {
      message,
      providerCode: rule.id,
      retryAfter,
      headers,
    });
    return {
      allowed: false,
      rule,
      retryAfterSeconds: retryAfter,
      headers,
      error,
      degraded,
      monitorMatches: rules
        .filter((r, i) => r.mode === 'monitor' && states[i]!.used + items[i]!.amount > items[i]!.limit)
        .map((r) => r.id),
      applied: rules.map((r) => r.id),
    };
  }

  private failClosed(rules: readonly CompiledLimitRule[]): LimitDenied | null {
    const rule = rules.find((r) => r.mode === 'enforce' && (r.failMode ?? this.defaultFailMode) === 'closed');
    if (!rule) return null;
    const retryAfter = retryAfterSeconds(this.retryIntervalMs);
    const headers = { 'retry-after': String(retryAfter) };
    return {
      allowed: false,
      rule,
      retryAfterSeconds: retryAfter,
      headers,
      error: new AigovError('limits_unavailable', {
        providerCode: 'limits_unavailable',
        retryAfter,
        headers,
      }),
      degraded: true,
      monitorMatches: [],
      applied: rules.map((r) => r.id),
    };
  }

  private async applyActuals(
    reservation: Reservation,
    entries: ReconcileEntry[],
  ): Promise<{ applied: boolean }> {
    if (reservation.store === 'none' || entries.length === 0) return { applied: false };
    if (reservation.store === 'fallback') {
      return { applied: (await this.fallback.reconcile(reservation.id, entries)).found };
    }
    // While the store is known to be down, don't spend a timeout per finished request on it.
    if (this.failing && this.now() < this.nextProbeAt) return { applied: false };
    try {
      const res = await this.withTimeout(this.store.reconcile(reservation.id, entries));
      this.markOk();
      return { applied: res.found };
    } catch (err) {
      this.markFailed(err);
      return { applied: false };
    }
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

  private withTimeout<T>(promise: Promise<T>): Promise<T> {
    // The in-process store answers in the same tick: a timer per call would only cost two timer
    // list operations and a promise on every request.
    if (this.store.kind === 'memory') return promise;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new AigovError('limits_unavailable', { message: 'Limit store timed out' })),
        this.storeTimeoutMs,
      );
      promise.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err instanceof Error ? err : new AigovError('limits_unavailable', { cause: err }));
        },
      );
    });
  }
}

export function subjectOf(rule: CompiledLimitRule, key: KeyIdentity): string {
  switch (rule.by) {
    case 'key':
      return `key:${key.id}`;
    case 'team':
      // Keys without a team share one "none" team counter rather than escaping team limits.
      return `team:${key.team ?? 'none'}`;
    case 'owner':
      return `owner:${key.owner}`;
    case 'global':
      return 'global';
  }
}

function actualFor(metric: LimitMetric, usage: ActualUsage): number | null {
  switch (metric) {
    case 'requests':
      return null;
    case 'tokens':
      return usage.totalTokens === null ? null : Math.max(0, Math.ceil(usage.totalTokens));
    case 'cost_usd':
      return usage.costUsd === null ? null : usdToMicro(usage.costUsd);
  }
}

function headersFor(
  rules: readonly CompiledLimitRule[],
  states: readonly ItemState[],
): Record<string, string> {
  const inputs: HeaderInput[] = [];
  rules.forEach((rule, i) => {
    const s = states[i]!;
    if (rule.mode === 'enforce')
      inputs.push({ metric: rule.metric, limit: s.limit, remaining: s.remaining, resetMs: s.resetMs });
  });
  return limitHeaders(inputs);
}

function emptyBase(): DecisionBase {
  return { headers: {}, degraded: false, monitorMatches: [], applied: [] };
}
