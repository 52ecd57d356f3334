import type { KeyIdentity } from '../auth/identity.js';
import type { NormalizedRequest } from '../providers/types.js';

/** What a limit counts. */
export type LimitMetric = 'requests' | 'tokens' | 'cost_usd';

/** Who shares one counter. */
export type LimitSubject = 'key' | 'team' | 'owner' | 'global';

/** A sliding/fixed window of a duration, or the calendar month (UTC). */
export type LimitWindow =
  { kind: 'duration'; ms: number; label: string } | { kind: 'calendar_month'; label: 'month' };

/**
 * A `limit:` rule after policy compile. Produced by the policy engine, enforced by src/limits.
 * `appliesTo` already folds in the rule's `scope` and `when` (if any).
 */
export interface CompiledLimitRule {
  id: string;
  description: string | null;
  metric: LimitMetric;
  /** The allowed amount per window (requests, tokens, or USD). */
  amount: number;
  window: LimitWindow;
  by: LimitSubject;
  mode: 'enforce' | 'monitor';
  /** Behaviour when the shared limit store is unreachable; undefined = global default from config. */
  failMode: 'open' | 'closed' | undefined;
  /**
   * `exact`: every request counted in the shared store; `lease`: each replica spends a share of the
   * limit it took from the store (docs/limits.md). undefined = `limits.counting` from config for
   * requests and tokens, `exact` for cost_usd.
   */
  counting?: 'exact' | 'lease';
  /** Lease size in the rule's unit (requests, tokens, USD); undefined = limit x `limits.lease_fraction`. */
  lease?: number;
  appliesTo(req: NormalizedRequest, key: KeyIdentity): boolean;
}
