import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuditRow } from '../audit/row.js';
import type { KeyIdentity } from '../auth/identity.js';
import type { KeyVerifier } from '../auth/verifier.js';
import type { RequestDecision } from '../governance/index.js';
import type { Reservation, Limiter } from '../limits/limiter.js';
import type { CompiledPolicySet, Decision } from '../policy/index.js';
import type { RouteSpec } from '../providers/adapter.js';
import type { PricingTable } from '../providers/pricing.js';
import type { ProviderRegistry, ProviderRuntime } from '../providers/registry.js';
import type { NormalizedRequest, ProviderFamily, Usage } from '../providers/types.js';

/**
 * What the proxy pipeline needs from the rest of the process, and nothing more. `Services`
 * satisfies it; unit tests pass fakes of exactly these.
 */
export interface ProxyDeps {
  verifier: KeyVerifier;
  providers: ProviderRegistry;
  policies: { current(): CompiledPolicySet };
  limiter: Pick<Limiter, 'reserve' | 'reconcile' | 'release' | 'estimate'>;
  audit: {
    accepting(): boolean;
    enqueue(row: AuditRow): boolean;
    enqueueDurable(row: AuditRow): Promise<boolean>;
  };
  metrics: { observeCall(row: AuditRow): void };
  pricing: PricingTable;
  /** What of the prompt the audit row keeps (audit.content). */
  auditContent(norm: NormalizedRequest, decision: Decision | null): string | null;
  /** audit.durability: `sync` writes the row before the answer. */
  durability: 'sync' | 'batched';
  /** Multipart uploads: spool directory ('' = OS temp) and the ceiling on their file bytes. */
  uploads: { dir: string; maxBytes: number };
}

export const UNKNOWN_USAGE: Usage = { promptTokens: null, completionTokens: null, totalTokens: null };

/** One governed call as it moves through the stages; each stage fills its own fields. */
export interface Call {
  readonly request: FastifyRequest;
  readonly reply: FastifyReply;
  readonly spec: RouteSpec;
  /** The concrete request path, without the /<provider> prefix and the query (spec.path may be a template). */
  readonly path: string;
  readonly family: ProviderFamily;
  readonly row: AuditRow;
  /** performance.now() when the request arrived. */
  readonly started: number;
  readonly policySet: CompiledPolicySet;
  key: KeyIdentity | null;
  provider: ProviderRuntime | null;
  norm: NormalizedRequest | null;
  decision: RequestDecision | null;
  reservation: Reservation | null;
  usage: Usage;
  upstreamMs: number;
  /** The audit row was handed to the writer (exactly once per call). */
  recorded: boolean;
}

/** The governed stages have run: the caller is known, the request normalised and decided. */
export interface DecidedCall extends Call {
  key: KeyIdentity;
  provider: ProviderRuntime;
  norm: NormalizedRequest;
  decision: RequestDecision;
}

export function governanceHeaders(call: Call): Record<string, string> {
  return {
    'x-aigov-decision': call.row.decision,
    'x-aigov-policies': call.row.policyIds.join(','),
  };
}

/** Time spent in aigov itself: everything but waiting for the provider. */
export function overheadMs(call: Call): number {
  return Math.max(0, performance.now() - call.started - call.upstreamMs);
}

/** The request path without the query and without the /<provider> prefix. */
export function routePathOf(url: string, providerName: string | null): string {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const prefix = providerName ? `/${providerName}` : '';
  return prefix && path.startsWith(`${prefix}/`) ? path.slice(prefix.length) : path;
}

export function searchOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? '' : url.slice(q);
}
