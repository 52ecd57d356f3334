import { randomUUID } from 'node:crypto';
import type { KeyIdentity } from '../auth/identity.js';
import { AigovError } from '../errors.js';
import type { CompiledLimitRule, LimitMetric } from '../policy/limit-rule.js';
import type { NormalizedRequest } from '../providers/types.js';
import { estimateAmounts, microToUsd, usdToMicro, type CostEstimator } from './estimate.js';
import { limitHeaders, retryAfterSeconds, type HeaderInput } from './headers.js';
import {
  LimitStoreUnavailable,
  type Counting,
  type ItemState,
  type LimitItem,
  type LimitStore,
  type ReconcileEntry,
  type StoreHealth,
  type StoreReserveResult,
} from './types.js';

export type { FailMode } from './types.js';
export type LimiterState = StoreHealth;

export interface LimiterOptions {
  /**
   * Where counters live. For a shared store, pass it wrapped in a ResilientLimitStore (timeout,
   * circuit breaker, fail modes); the Limiter itself only turns rules into counter items and
   * store answers into decisions. A store error that reaches the Limiter refuses with
   * `limits_unavailable` (fail closed).
   */
  store: LimitStore;
  /** Output tokens assumed for a request without max_tokens. Default 1024. */
  defaultOutputTokens?: number;
  estimateCost?: CostEstimator;
  /** USD reserved for a request whose cost cannot be estimated (unknown price). Default 0.05. */
  unknownCostUsd?: number;
  /** How long an un-reconciled reservation is remembered. Default 15 min (long streams). */
  reservationTtlMs?: number;
  /** Counting of requests and tokens rules without their own; cost_usd rules stay exact. Default exact. */
  defaultCounting?: Counting;
  /** Lease size as a fraction of the limit, for lease rules without their own `lease`. Default 0.05. */
  leaseFraction?: number;
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
  private readonly defaultOutputTokens: number;
  private readonly estimateCost: CostEstimator | undefined;
  private readonly unknownCostUsd: number;
  private readonly reservationTtlMs: number;
  private readonly defaultCounting: Counting;
  private readonly leaseFraction: number;

  constructor(options: LimiterOptions) {
    this.store = options.store;
    this.defaultOutputTokens = options.defaultOutputTokens ?? 1024;
    this.estimateCost = options.estimateCost;
    this.unknownCostUsd = options.unknownCostUsd ?? 0.05;
    this.reservationTtlMs = options.reservationTtlMs ?? 15 * 60_000;
    this.defaultCounting = options.defaultCounting ?? 'exact';
    this.leaseFraction = options.leaseFraction ?? 0.05;
  }

  /** `degraded` while the shared store is failing (as its resilient wrapper reports); for /ready and metrics. */
  state(): LimiterState {
    return this.store.state?.() ?? 'ok';
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
    let res: StoreReserveResult;
    try {
      res = await this.store.reserve(items, id, this.reservationTtlMs);
    } catch (err) {
      return this.unavailable(applicable, err, id);
    }
    return this.decideReserve(applicable, items, res, id);
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
    let states: ItemState[];
    try {
      states = await this.store.peek(items);
    } catch (err) {
      const refusal = this.unavailable(applicable, err, '');
      return refusal.allowed ? { ...refusal, allowed: true } : refusal;
    }
    return this.decidePeek(applicable, items, states);
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
    await this.store.close().catch(() => undefined);
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
    return rules.map((rule) => {
      const limit = rule.metric === 'cost_usd' ? Math.round(rule.amount * 1_000_000) : rule.amount;
      const item: LimitItem = {
        subject: subjectOf(rule, key),
        ruleId: rule.id,
        window: rule.window,
        amount: amounts[rule.metric],
        limit,
        enforce: rule.mode === 'enforce',
        failMode: rule.failMode,
      };
      // Budgets stay exact unless their rule asks for leases.
      const counting = rule.counting ?? (rule.metric === 'cost_usd' ? 'exact' : this.defaultCounting);
      if (counting === 'lease') {
        item.counting = 'lease';
        item.lease =
          rule.lease === undefined
            ? Math.max(1, Math.ceil(limit * this.leaseFraction))
            : rule.metric === 'cost_usd'
              ? usdToMicro(rule.lease)
              : Math.ceil(rule.lease);
      }
      return item;
    });
  }

  private decideReserve(
    rules: readonly CompiledLimitRule[],
    items: readonly LimitItem[],
    res: StoreReserveResult,
    id: string,
  ): ReserveResult {
    // The limits in the states are the ones counted against: a fallback's share, not the rule's.
    const degraded = isDegraded(res.items);
    if (!res.ok) return this.denied(rules, items, res.items, res.failedIndex, degraded);
    const monitorMatches = rules
      .filter((rule, i) => rule.mode === 'monitor' && res.items[i]!.used > res.items[i]!.limit)
      .map((r) => r.id);
    return {
      allowed: true,
      reservation: {
        id,
        store: degraded ? 'fallback' : 'primary',
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
  ): PeekResult {
    const degraded = isDegraded(states);
    const over = (i: number): boolean => states[i]!.used + items[i]!.amount > states[i]!.limit;
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
    const tooBig = item.amount > states[failedIndex]!.limit;
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
        .filter((r, i) => r.mode === 'monitor' && states[i]!.used + items[i]!.amount > states[i]!.limit)
        .map((r) => r.id),
      applied: rules.map((r) => r.id),
    };
  }

  /**
   * The store could not count: refuse with `limits_unavailable` naming the fail-closed rule the
   * store reported (or, for a plain store that threw, the first enforced rule). Monitor-only
   * requests pass uncounted, flagged degraded.
   */
  private unavailable(rules: readonly CompiledLimitRule[], err: unknown, id: string): ReserveResult {
    const known = err instanceof LimitStoreUnavailable;
    const rule = known ? rules[err.failedIndex] : rules.find((r) => r.mode === 'enforce');
    if (!rule) {
      return {
        allowed: true,
        reservation: { id, store: 'none', items: [] },
        headers: {},
        degraded: true,
        monitorMatches: [],
        applied: rules.map((r) => r.id),
      };
    }
    const retryAfter = retryAfterSeconds(known ? err.retryAfterMs : 1000);
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
        cause: err,
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
    try {
      return { applied: (await this.store.reconcile(reservation.id, entries)).found };
    } catch {
      return { applied: false };
    }
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

function isDegraded(states: readonly ItemState[]): boolean {
  return states.some((s) => s.degraded === true);
}

function emptyBase(): DecisionBase {
  return { headers: {}, degraded: false, monitorMatches: [], applied: [] };
}
