/** One audit row: one per answered request. Null token/cost fields mean unknown, never 0. */
export interface AuditRow {
  requestId: string;
  createdAt: Date;
  keyId: string | null;
  owner: string | null;
  team: string | null;
  method: string;
  route: string;
  provider: string | null;
  model: string | null;
  decision: 'allow' | 'block' | 'redact' | 'error';
  policyIds: string[];
  reasons: unknown;
  riskScore: number | null;
  statusCode: number;
  latencyMs: number | null;
  upstreamMs: number | null;
  overheadMs: number | null;
  promptTokens: number | null;
  completionTokens: number | null;
  totalTokens: number | null;
  costUsd: number | null;
  stream: boolean;
  aborted: boolean;
  degraded: boolean;
  clientIp: string | null;
  error: string | null;
  content: string | null;
}

/** Column order shared by the Postgres sink and anything that serialises rows. */
export const AUDIT_COLUMNS = [
  'request_id',
  'created_at',
  'key_id',
  'owner',
  'team',
  'method',
  'route',
  'provider',
  'model',
  'decision',
  'policy_ids',
  'reasons',
  'risk_score',
  'status_code',
  'latency_ms',
  'upstream_ms',
  'overhead_ms',
  'prompt_tokens',
  'completion_tokens',
  'total_tokens',
  'cost_usd',
  'stream',
  'aborted',
  'degraded',
  'client_ip',
  'error',
  'content',
] as const;

export function rowValues(r: AuditRow): unknown[] {
  return [
    r.requestId,
    r.createdAt,
    r.keyId,
    r.owner,
    r.team,
    r.method,
    r.route,
    r.provider,
    r.model,
    r.decision,
    r.policyIds,
    r.reasons === null || r.reasons === undefined ? null : JSON.stringify(r.reasons),
    r.riskScore,
    r.statusCode,
    r.latencyMs,
    r.upstreamMs,
    r.overheadMs,
    r.promptTokens,
    r.completionTokens,
    r.totalTokens,
    r.costUsd,
    r.stream,
    r.aborted,
    r.degraded,
    r.clientIp,
    r.error,
    r.content,
  ];
}
