import type { FastifyReply, FastifyRequest } from 'fastify';
import type { KeyIdentity } from '../auth/identity.js';
import type { AuditRow } from './row.js';

/** A row with the request-level fields filled in and everything else unknown. */
export function baseRow(request: FastifyRequest, route: string, key: KeyIdentity | null): AuditRow {
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

export function elapsedMs(reply: FastifyReply): number {
  return Math.round(reply.elapsedTime * 1000) / 1000;
}
