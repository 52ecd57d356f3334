import type { KeyIdentity } from '../auth/identity.js';
import type { AuditRow } from './row.js';

/** What a row needs of the incoming request (an HTTP framework's request object satisfies it). */
export interface RequestFacts {
  id: string;
  method: string;
  ip?: string;
}

/** A row with the request-level fields filled in and everything else unknown. */
export function baseRow(request: RequestFacts, route: string, key: KeyIdentity | null): AuditRow {
  return {
    requestId: request.id,
    createdAt: new Date(),
    keyId: key?.id ?? null,
    owner: key?.owner ?? null,
    team: key?.team ?? null,
    method: request.method,
    route,
    provider: null,
    model: null,
    decision: 'allow',
    policyIds: [],
    reasons: null,
    riskScore: null,
    statusCode: 200,
    latencyMs: null,
    upstreamMs: null,
    overheadMs: null,
    promptTokens: null,
    completionTokens: null,
    totalTokens: null,
    costUsd: null,
    stream: false,
    aborted: false,
    degraded: false,
    clientIp: request.ip ?? null,
    error: null,
    content: null,
  };
}

/** Milliseconds since the request arrived, to the microsecond (a reply's `elapsedTime`). */
export function elapsedMs(reply: { elapsedTime: number }): number {
  return Math.round(reply.elapsedTime * 1000) / 1000;
}
