import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { LocalCounter, LocalHistogram } from './fast-series.js';
import type { AuditRow } from '../audit/row.js';
import type { CompiledPolicySet } from '../policy/types.js';
import { BoundedLabel, ChildCache, NONE } from './labels.js';

/** What the scrape-time gauges read; structural so tests can pass stubs. */
export interface MetricsSources {
  audit: {
    getStats(): {
      queued: number;
      written: number;
      dropped: number;
      failedFlushes: number;
      lastFlushMs: number | null;
      spooled?: number;
      spoolBytes?: number;
    };
  };
  limiter: { state(): 'ok' | 'degraded' };
  policies: {
    current(): CompiledPolicySet;
    getStatus(): {
      version: string;
      ruleCount: number;
      lastError: string | null;
      reloads: number;
      failedReloads: number;
      loadedAt: Date;
    };
  };
}

export interface MetricsOptions {
  /** Distinct model label values kept before folding into "other" (default 100). */
  maxModels?: number;
  /** Distinct team label values kept before folding into "other" (default 200). */
  maxTeams?: number;
  /** Distinct rule ids kept (default 500): policy reloads can rename rules. */
  maxRules?: number;
  /** Collect Node.js process metrics (default true). */
  processMetrics?: boolean;
  version?: string;
}

export const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
/** The proxy's own cost is sub-millisecond when healthy: buckets start at 100 µs. */
export const OVERHEAD_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1,
];

interface Inc {
  inc(value?: number): void;
}
interface Observe {
  observe(value: number): void;
}
interface RuleInfo {
  action: string;
  mode: string;
  limit: boolean;
}

const LIMIT_REFUSALS = new Set(['rate_limited', 'budget_exceeded']);

/**
 * The Prometheus registry of one aigov process. `observeCall` is on the request path: it reads the
 * finished audit row and bumps cached children (see ChildCache); everything that describes state
 * rather than events (audit queue, policy version, limiter health) is read at scrape time.
 */
export class AigovMetrics {
  readonly registry = new Registry();
  private readonly models: BoundedLabel;
  private readonly teams: BoundedLabel;
  private readonly rules: BoundedLabel;
  private readonly routes: BoundedLabel;
  private readonly providers: BoundedLabel;
  private readonly reasons: BoundedLabel;
  private readonly requests: ChildCache<Inc>;
  private readonly duration: ChildCache<Observe>;
  private readonly upstream: ChildCache<Observe>;
  private readonly overhead: ChildCache<Observe>;
  private readonly tokens: ChildCache<Inc>;
  private readonly cost: ChildCache<Inc>;
  private readonly policyMatches: ChildCache<Inc>;
  private readonly limitRefusals: ChildCache<Inc>;
  private readonly authFailures: ChildCache<Inc>;
  private readonly overflow: ChildCache<Inc>;
  private readonly ruleIndex = new WeakMap<CompiledPolicySet, Map<string, RuleInfo>>();

  constructor(
    private readonly sources: MetricsSources,
    options: MetricsOptions = {},
  ) {
    const registers = [this.registry];
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'aigov_' });

    const overflow = new Counter({
      name: 'aigov_metrics_label_overflow_total',
      help: 'Label values folded into "other" because the label reached its distinct-value cap',
      labelNames: ['label'],
      registers,
    });
    this.overflow = new ChildCache((v) => overflow.labels(...v));
    const onOverflow = (label: string): void => this.overflow.get1(label).inc();
    this.models = new BoundedLabel('model', options.maxModels ?? 100, onOverflow);
    this.teams = new BoundedLabel('team', options.maxTeams ?? 200, onOverflow);
    this.rules = new BoundedLabel('rule', options.maxRules ?? 500, onOverflow);
    this.routes = new BoundedLabel('route', 200, onOverflow);
    this.providers = new BoundedLabel('provider', 100, onOverflow);
    this.reasons = new BoundedLabel('reason', 50, onOverflow);

    const requests = new LocalCounter({
      name: 'aigov_requests_total',
      help: 'Answered requests by route, provider, model, decision and HTTP status',
      labelNames: ['route', 'provider', 'model', 'decision', 'status'] as const,
      registers,
    });
    this.requests = new ChildCache((v) => requests.child(v));
    const duration = new LocalHistogram({
      name: 'aigov_request_duration_seconds',
      help: 'Total time from request received to answer finished (streams: to the last chunk)',
      labelNames: ['route', 'provider', 'decision'] as const,
      buckets: REQUEST_BUCKETS,
      registers,
    });
    this.duration = new ChildCache((v) => duration.child(v));
    const upstream = new LocalHistogram({
      name: 'aigov_upstream_duration_seconds',
      help: 'Time spent waiting on the provider (streams: to the last chunk)',
      labelNames: ['provider', 'route'] as const,
      buckets: REQUEST_BUCKETS,
      registers,
    });
    this.upstream = new ChildCache((v) => upstream.child(v));
    const overhead = new LocalHistogram({
      name: 'aigov_overhead_seconds',
      help: "The proxy's own cost per request: total time minus time spent on the provider",
      labelNames: ['route'] as const,
      buckets: OVERHEAD_BUCKETS,
      registers,
    });
    this.overhead = new ChildCache((v) => overhead.child(v));
    const tokens = new LocalCounter({
      name: 'aigov_tokens_total',
      help: 'Tokens reported by providers (unknown usage is not counted)',
      labelNames: ['provider', 'model', 'team', 'kind'] as const,
      registers,
    });
    this.tokens = new ChildCache((v) => tokens.child(v));
    const cost = new LocalCounter({
      name: 'aigov_cost_usd_total',
      help: 'Estimated cost in USD from the pricing table (models without a price are not counted)',
      labelNames: ['provider', 'model', 'team'] as const,
      registers,
    });
    this.cost = new ChildCache((v) => cost.child(v));
    const policyMatches = new LocalCounter({
      name: 'aigov_policy_matches_total',
      help: 'Policy rules that matched a proxied request, by rule id, action and mode',
      labelNames: ['rule', 'action', 'mode'] as const,
      registers,
    });
    this.policyMatches = new ChildCache((v) => policyMatches.child(v));
    const limitRefusals = new LocalCounter({
      name: 'aigov_limit_refusals_total',
      help: 'Requests refused by a limit or budget rule (429), or by a fail-closed limit store (503)',
      labelNames: ['rule'] as const,
      registers,
    });
    this.limitRefusals = new ChildCache((v) => limitRefusals.child(v));
    const authFailures = new LocalCounter({
      name: 'aigov_auth_failures_total',
      help: 'Requests refused for a missing, invalid, expired or revoked aigov key',
      labelNames: ['reason'] as const,
      registers,
    });
    this.authFailures = new ChildCache((v) => authFailures.child(v));

    this.registerScrapeTime(registers, options.version ?? '0.0.0');
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text for GET /metrics. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /**
   * A request answered by a route that does not proxy (/v1/check, /api/evaluate): counted in
   * requests, duration and auth failures, never in policy matches or limit refusals.
   */
  observeRequest(row: AuditRow): void {
    this.common(row, this.routes.value(row.route), this.providers.value(row.provider));
  }

  /** A finished proxied call (the pipeline's record stage). */
  observeCall(row: AuditRow): void {
    const route = this.routes.value(row.route);
    const provider = this.providers.value(row.provider);
    const model = this.common(row, route, provider);
    if (row.upstreamMs !== null) this.upstream.get2(provider, route).observe(row.upstreamMs / 1000);
    if (row.overheadMs !== null) this.overhead.get1(route).observe(row.overheadMs / 1000);
    const { promptTokens, completionTokens, costUsd } = row;
    if (promptTokens || completionTokens || costUsd) {
      const team = this.teams.value(row.team);
      if (promptTokens) this.tokens.get4(provider, model, team, 'prompt').inc(promptTokens);
      if (completionTokens) this.tokens.get4(provider, model, team, 'completion').inc(completionTokens);
      if (costUsd) this.cost.get3(provider, model, team).inc(costUsd);
    }
    if (row.policyIds.length > 0) this.observePolicies(row);
    if (row.statusCode === 503 && row.error === 'limits_unavailable')
      this.limitRefusals.get1('store_unavailable').inc();
  }

  private common(row: AuditRow, route: string, provider: string): string {
    const model = this.models.value(row.model);
    this.requests.get5(route, provider, model, row.decision, row.statusCode).inc();
    if (row.latencyMs !== null)
      this.duration.get3(route, provider, row.decision).observe(row.latencyMs / 1000);
    if (row.statusCode === 401 || row.error === 'auth_throttled')
      this.authFailures.get1(this.reasons.value(row.error ?? 'unknown')).inc();
    return model;
  }

  private observePolicies(row: AuditRow): void {
    const index = this.rulesOf(this.sources.policies.current());
    const refused = row.statusCode === 429 && row.error !== null && LIMIT_REFUSALS.has(row.error);
    let refusedBy: string | null = null;
    for (const id of row.policyIds) {
      const info = index.get(id) ?? reasonInfo(row.reasons, id);
      const rule = this.rules.value(id);
      this.policyMatches.get3(rule, info.action, info.mode).inc();
      if (refused && info.limit && info.mode === 'enforce') refusedBy = rule;
    }
    // The refusing rule is pushed last; a rule id from a reloaded-away set is still the last one.
    if (refused) this.limitRefusals.get1(refusedBy ?? this.rules.value(row.policyIds.at(-1))).inc();
  }

  private rulesOf(set: CompiledPolicySet): Map<string, RuleInfo> {
    let index = this.ruleIndex.get(set);
    if (!index) {
      index = new Map();
      for (const r of [...set.rules, ...set.responseRules])
        index.set(r.id, { action: r.action, mode: r.mode, limit: false });
      for (const r of set.limitRules) index.set(r.id, { action: 'limit', mode: r.mode, limit: true });
      this.ruleIndex.set(set, index);
    }
    return index;
  }

  private registerScrapeTime(registers: Registry[], version: string): void {
    const { audit, limiter, policies } = this.sources;
    new Gauge({
      name: 'aigov_audit_queue_depth',
      help: 'Audit rows in memory, not yet written to the database (or the spool)',
      registers,
      collect() {
        this.set(audit.getStats().queued);
      },
    });
    new Gauge({
      name: 'aigov_audit_spooled_rows',
      help: 'Audit rows in the on-disk spool, waiting for the database',
      registers,
      collect() {
        this.set(audit.getStats().spooled ?? 0);
      },
    });
    new Gauge({
      name: 'aigov_audit_spool_bytes',
      help: 'Size of the on-disk audit spool in bytes (0 without a spool)',
      registers,
      collect() {
        this.set(audit.getStats().spoolBytes ?? 0);
      },
    });
    new Gauge({
      name: 'aigov_audit_last_flush_seconds',
      help: 'Duration of the last successful audit batch write',
      registers,
      collect() {
        const ms = audit.getStats().lastFlushMs;
        if (ms !== null) this.set(ms / 1000);
      },
    });
    // Monotonic values kept by their owners: exposed as counters, mirrored at scrape time.
    const mirror = (name: string, help: string, read: () => number): void => {
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    };
    mirror(
      'aigov_audit_rows_written_total',
      'Audit rows written to the database',
      () => audit.getStats().written,
    );
    mirror(
      'aigov_audit_rows_dropped_total',
      'Audit rows lost because the queue was full (audit.on_full: drop)',
      () => audit.getStats().dropped,
    );
    mirror(
      'aigov_audit_flush_failures_total',
      'Audit batch writes that failed (rows are kept and retried)',
      () => audit.getStats().failedFlushes,
    );
    mirror('aigov_policy_reloads_total', 'Successful policy reloads', () => policies.getStatus().reloads);
    mirror(
      'aigov_policy_reload_failures_total',
      'Policy reloads refused (the last good set stays active)',
      () => policies.getStatus().failedReloads,
    );
    new Gauge({
      name: 'aigov_policy_last_reload_failed',
      help: '1 while the most recent policy reload was refused, else 0',
      registers,
      collect() {
        this.set(policies.getStatus().lastError === null ? 0 : 1);
      },
    });
    new Gauge({
      name: 'aigov_policy_rules',
      help: 'Rules in the active policy set (limits included)',
      registers,
      collect() {
        this.set(policies.getStatus().ruleCount);
      },
    });
    new Gauge({
      name: 'aigov_policy_loaded_timestamp_seconds',
      help: 'When the active policy set was loaded (Unix time)',
      registers,
      collect() {
        this.set(policies.getStatus().loadedAt.getTime() / 1000);
      },
    });
    new Gauge({
      name: 'aigov_policy_version_info',
      help: 'The active policy set version (sha256 prefix); always 1',
      labelNames: ['version'],
      registers,
      collect() {
        this.reset();
        this.labels(policies.getStatus().version).set(1);
      },
    });
    new Gauge({
      name: 'aigov_limits_degraded',
      help: '1 while the shared limit store (Redis) is failing and the fail mode applies, else 0',
      registers,
      collect() {
        this.set(limiter.state() === 'degraded' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'aigov_build_info',
      help: 'aigov version and Node.js version; always 1',
      labelNames: ['version', 'node_version'],
      registers,
    }).set({ version, node_version: process.version }, 1);
  }
}

/** A rule missing from the current set (reloaded away since): its reason still says what it did. */
function reasonInfo(reasons: unknown, id: string): RuleInfo {
  if (Array.isArray(reasons)) {
    for (const r of reasons as { policy?: unknown; action?: unknown; mode?: unknown }[]) {
      if (r && r.policy === id && typeof r.action === 'string')
        return { action: r.action, mode: typeof r.mode === 'string' ? r.mode : 'enforce', limit: false };
    }
  }
  return { action: NONE, mode: NONE, limit: false };
}
