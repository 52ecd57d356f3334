import type { Config } from './config/schema.js';
import { openDb, type Db } from './db/client.js';
import { migrate } from './db/migrate.js';
import { KeyStore } from './auth/key-store.js';
import { KeyVerifier, LastUsedTracker } from './auth/verifier.js';
import type { AuditWriter } from './audit/writer.js';
import { createAuditWriter } from './audit/factory.js';
import { contentFor } from './audit/content.js';
import type { Logger } from './logger.js';
import { PolicyHolder } from './policy/holder.js';
import type { Decision } from './policy/index.js';
import { ProviderRegistry } from './providers/registry.js';
import { DEFAULT_PRICING, priceFor, type PricingTable } from './providers/pricing.js';
import type { NormalizedRequest } from './providers/types.js';
import { Limiter } from './limits/limiter.js';
import { Throttle } from './auth/throttle.js';
import { JwtVerifier } from './auth/jwt.js';
import { MemoryLimitStore } from './limits/memory-store.js';
import { RedisLimitStore } from './limits/redis-store.js';
import { ResilientLimitStore } from './limits/resilient-store.js';
import { LeaseLimitStore } from './limits/lease-store.js';
import type { LimitStore } from './limits/types.js';
import { AigovMetrics } from './metrics/metrics.js';
import { VERSION } from './version.js';
import { McpServers } from './providers/mcp-servers.js';
import { ApprovalStore, approvalWebhook } from './approvals/store.js';

/** Everything the HTTP app needs, built once from config. Tests build it with their own config. */
export interface Services {
  config: Config;
  logger: Logger;
  db: Db;
  keys: KeyStore;
  verifier: KeyVerifier;
  lastUsed: LastUsedTracker;
  audit: AuditWriter;
  policies: PolicyHolder;
  providers: ProviderRegistry;
  limiter: Limiter;
  limitStore: LimitStore;
  pricing: PricingTable;
  /** /v1/check and /api/evaluate answer from memory; these keep one caller from using them as a free oracle. */
  checkThrottles: { perKey: Throttle; perIp: Throttle };
  /** What of the prompt the audit row keeps (audit.content). */
  auditContent(norm: NormalizedRequest, decision: Decision | null): string | null;
  /** Prometheus registry; the pipeline calls metrics.observeCall(row) for every proxied call. */
  metrics: AigovMetrics;
  /** Upstream MCP servers served at /mcp/{name}, and the approvals of tool calls (docs/mcp.md). */
  mcp: McpServers;
  approvals: ApprovalStore;
  /** Stops timers and flushes; does not close the db (the owner of `db` does). */
  stop(deadlineMs: number): Promise<void>;
}

export interface CreateServicesOptions {
  /** Use this database instead of opening one from config (tests share one PGlite). */
  db?: Db;
  migrate?: boolean;
  /** Environment for provider credentials (tests pass their own). */
  env?: Record<string, string | undefined>;
}

/** Config prices first (they override a built-in entry with the same pattern), then built-ins. */
export function pricingTable(config: Config): PricingTable {
  const own = config.pricing.map((p) => ({
    model: p.model,
    input: p.input_per_1m,
    output: p.output_per_1m,
    ...(p.cache_read_per_1m !== undefined ? { cacheRead: p.cache_read_per_1m } : {}),
    ...(p.cache_write_per_1m !== undefined ? { cacheWrite: p.cache_write_per_1m } : {}),
  }));
  const patterns = new Set(own.map((p) => p.model.toLowerCase()));
  return [...own, ...DEFAULT_PRICING.filter((p) => !patterns.has(p.model.toLowerCase()))];
}

export async function createServices(
  config: Config,
  logger: Logger,
  options: CreateServicesOptions = {},
): Promise<Services> {
  const db =
    options.db ?? (await openDb({ url: config.database.url, embeddedDir: config.database.embedded_dir }));
  if (options.migrate ?? config.database.migrate_on_start) {
    const applied = await migrate(db);
    if (applied.length) logger.info({ applied }, 'database migrations applied');
  }
  const keys = new KeyStore(db, config.auth.bcrypt_cost);
  const lastUsed = new LastUsedTracker(
    (ids, at) => keys.touch(ids, at),
    config.auth.last_used_flush,
    (err) => logger.warn({ err }, 'last-used update failed; will retry'),
  );
  const verifier = new KeyVerifier({
    lookup: (id) => keys.findById(id),
    ttlMs: config.auth.cache_ttl,
    negativeTtlMs: config.auth.negative_cache_ttl,
    max: config.auth.cache_max,
    onVerified: (id) => lastUsed.mark(id),
    failureThrottle: new Throttle({ limit: config.limits.auth_failures_per_ip_per_minute, windowMs: 60_000 }),
    jwt: new JwtVerifier(config.auth.jwt, {
      onUnavailable: (issuer, err) =>
        logger.warn({ issuer, err: (err as Error).message }, 'JWT issuer keys unavailable'),
    }),
  });
  const { writer: audit } = createAuditWriter(db, config.audit, logger, config.server.port);
  const policies = await PolicyHolder.load(config.policies.path, (err) =>
    logger.error(
      { err: (err as Error).message },
      'policy reload refused; the last good policy set stays active',
    ),
  );
  if (config.policies.watch) policies.watch();
  const providers = new ProviderRegistry(config.providers, options.env ?? process.env);
  const pricing = pricingTable(config);
  let limitStore: LimitStore;
  if (config.redis.url) {
    const redis = new RedisLimitStore({
      url: config.redis.url,
      commandTimeoutMs: config.redis.command_timeout,
    });
    await redis.waitUntilReady().catch((err: unknown) => {
      // Start anyway: the fail mode decides what requests get until Redis answers.
      logger.error({ err: (err as Error).message }, 'Redis not reachable at start-up');
    });
    // Timeout, circuit breaker and fail modes wrap the shared store, and lease-mode rules spend
    // shares of it (LeaseLimitStore passes exact items through); the limiter only sees a store.
    const resilient = new ResilientLimitStore({
      store: redis,
      defaultFailMode: config.limits.fail_mode,
      expectedReplicas: config.limits.expected_replicas,
      timeoutMs: config.limits.store_timeout,
      onStateChange: (state, err) =>
        state === 'ok'
          ? logger.info('limit store reachable again')
          : logger.error(
              { err: (err as Error | undefined)?.message },
              'limit store unreachable; applying fail mode',
            ),
    });
    limitStore = new LeaseLimitStore({ store: resilient });
  } else {
    // In-process counters cannot be unreachable: nothing to wrap.
    limitStore = new MemoryLimitStore();
  }
  const limiter = new Limiter({
    store: limitStore,
    defaultOutputTokens: config.limits.default_output_tokens,
    defaultCounting: config.limits.counting,
    leaseFraction: config.limits.lease_fraction,
    estimateCost: (req, promptTokens, outputTokens) => {
      const price = priceFor(req.model, pricing);
      return price ? (promptTokens * price.input + outputTokens * price.output) / 1_000_000 : null;
    },
  });
  const metrics = new AigovMetrics({ audit, limiter, policies }, { version: VERSION });
  const env = options.env ?? process.env;
  const mcp = new McpServers(config.mcp.servers, env);
  const { webhook_url: webhookUrl, webhook_secret_env: webhookSecretEnv } = config.mcp.approvals;
  const approvals = new ApprovalStore(db, {
    ttlMs: config.mcp.approvals.ttl,
    ...(webhookUrl !== null
      ? {
          onPending: approvalWebhook({
            url: webhookUrl,
            secret: webhookSecretEnv === null ? null : (env[webhookSecretEnv] ?? null),
            onError: (err) => logger.warn({ err: (err as Error).message }, 'approval webhook failed'),
          }),
        }
      : {}),
  });
  const contentMode = config.audit.content;
  audit.start();
  lastUsed.start();
  return {
    config,
    logger,
    db,
    keys,
    verifier,
    lastUsed,
    audit,
    policies,
    providers,
    limiter,
    limitStore,
    pricing,
    metrics,
    mcp,
    approvals,
    checkThrottles: {
      perKey: new Throttle({ limit: config.limits.check_per_key_per_minute, windowMs: 60_000 }),
      perIp: new Throttle({ limit: config.limits.check_per_ip_per_minute, windowMs: 60_000 }),
    },
    auditContent(norm, decision) {
      if (contentMode === 'none') return null;
      // Redacted mode stores what went upstream after policy redaction, then masks every detector hit.
      const redacted = decision?.redactions.length ? decision.redactedPrompt : undefined;
      return contentFor(contentMode, redacted === undefined ? norm : { texts: [], prompt: redacted });
    },
    async stop(deadlineMs: number) {
      policies.close();
      const left = await audit.stop(deadlineMs);
      if (left > 0) logger.error({ rows: left }, 'audit rows lost at shutdown');
      const { spooled } = audit.getStats();
      if (spooled > 0) logger.warn({ rows: spooled }, 'audit rows left in the spool; written on next start');
      await lastUsed.stop();
      await limiter.close();
      await providers.close();
      await mcp.close();
      await verifier.jwt?.close();
    },
  };
}
