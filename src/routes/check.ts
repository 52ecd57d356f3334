import type { FastifyInstance } from 'fastify';
import { AigovError, invalidInput, isAigovError } from '../errors.js';
import { assess, assessToolCall, toolCallAnswer, toolLimitSubject } from '../governance/index.js';
import type { Services } from '../services.js';
import { authenticate } from '../http/authenticate.js';
import { throttleByIp, throttleByKey } from '../http/check-throttle.js';
import { baseRow, elapsedMs } from '../audit/record.js';
import { sendError } from '../http/render-error.js';
import { describeRoute } from '../http/openapi.js';
import { checkEnvelope, checkRequest, checkResponse, mcpCheck, openAIError } from '../http/schemas.js';

const doc = describeRoute({
  summary: 'The decision the proxy would take, without forwarding or consuming budgets',
  description:
    'Body: a provider request body as its SDK sends it, plus the optional envelope fields ' +
    '`provider`, `metadata` and `route`. Refusals of the check itself use the OpenAI error shape.',
  tags: ['Governance'],
  body: checkRequest,
  // Authenticated (and audited) before the body is judged: the handler parses the envelope.
  validate: 'handler',
  responses: {
    200: { description: 'The decision (a blocked request is still a 200 here)', schema: checkResponse },
    400: {
      description: 'Body is not a JSON object, bad envelope, unknown provider or route',
      schema: openAIError,
    },
    401: { description: 'Missing, invalid, expired or revoked key', schema: openAIError },
    413: { description: 'Request body too large', schema: openAIError },
    429: { description: 'Too many checks from this IP or key', schema: openAIError },
  },
});

/**
 * POST /v1/check: the decision the proxy would take, without forwarding or consuming budgets.
 * Always answers in OpenAI's error shape for refusals of the check itself (bad key, bad body).
 */
export function registerCheckRoute(app: FastifyInstance, services: Services): void {
  app.post('/v1/check', doc, async (request, reply) => {
    const row = baseRow(request, '/v1/check', null);
    try {
      throttleByIp(services, request);
      const key = await authenticate(services.verifier, request);
      throttleByKey(services, key.id);
      row.keyId = key.id;
      row.owner = key.owner;
      row.team = key.team;
      const body = request.body;
      if (typeof body !== 'object' || body === null || Array.isArray(body))
        throw new AigovError('invalid_request', {
          message: 'Body must be a JSON object (a provider request body)',
        });
      if (Object.hasOwn(body, 'mcp')) {
        const parsed = mcpCheck.safeParse((body as Record<string, unknown>).mcp);
        const meta = checkEnvelope.shape.metadata.safeParse((body as Record<string, unknown>).metadata);
        if (!parsed.success || !meta.success)
          throw invalidInput('/v1/check mcp envelope', [
            ...(parsed.error?.issues ?? []),
            ...(meta.error?.issues ?? []),
          ]);
        if (!services.mcp.get(parsed.data.server))
          throw new AigovError('invalid_request', { message: `Unknown MCP server "${parsed.data.server}"` });
        const call = { ...parsed.data, metadata: meta.data };
        const set = services.policies.current();
        const assessment = assessToolCall(set, call, key);
        const d = assessment.decision;
        const answer = toolCallAnswer(assessment, call);
        const limits = await services.limiter.peek(set.toolLimitRules, toolLimitSubject(call), key);
        row.provider = call.server;
        row.rpcMethod = 'tools/call';
        row.tool = call.tool;
        // An approval or a limit refuses the call as it stands: for the audit row, a block.
        row.decision = d.allowed && limits.allowed ? (d.decision === 'redact' ? 'redact' : 'allow') : 'block';
        row.policyIds = [...d.ruleIds, ...(limits.allowed ? [] : [limits.rule.id])];
        row.riskScore = d.riskScore;
        row.latencyMs = elapsedMs(reply);
        return {
          ...answer,
          ...(limits.allowed ? {} : { allowed: false }),
          request_id: request.id,
          policy_version: set.version,
          limits: {
            allowed: limits.allowed,
            applied: limits.applied,
            ...(limits.allowed ? {} : { rule: limits.rule.id, retry_after_s: limits.retryAfterSeconds }),
          },
        };
      }
      const envelope = checkEnvelope.safeParse(body);
      if (!envelope.success) throw invalidInput('/v1/check envelope', envelope.error.issues);
      const { provider: providerName, metadata, route: explicitRoute } = envelope.data;
      const { provider: _p, metadata: _m, route: _r, ...providerBody } = body as Record<string, unknown>;
      const set = services.policies.current();
      const { target, norm, decision, redacted } = assess(services.providers, {
        set,
        key,
        body: providerBody,
        provider: providerName,
        route: explicitRoute,
        metadata,
      });
      row.provider = target.provider.name;
      row.model = norm.model;
      row.stream = norm.stream;

      const limits = await services.limiter.peek(set.limitRules, norm, key);
      const reasons = decision.reasons.slice();
      let outcome = decision.decision;
      if (!limits.allowed) {
        outcome = 'block';
        reasons.push({ policy: limits.rule.id, action: 'block', message: limits.error.message });
      }
      row.decision = outcome;
      row.policyIds = [...decision.ruleIds, ...(limits.allowed ? [] : [limits.rule.id])];
      row.riskScore = decision.riskScore;
      row.reasons = reasons.length ? reasons : null;
      row.latencyMs = elapsedMs(reply);
      return {
        allowed: outcome !== 'block',
        decision: outcome,
        risk_score: decision.riskScore,
        reasons,
        monitor: decision.monitor,
        request_id: request.id,
        policy_version: set.version,
        provider: target.provider.name,
        route: target.route,
        limits: {
          allowed: limits.allowed,
          applied: limits.applied,
          ...(limits.allowed ? {} : { rule: limits.rule.id, retry_after_s: limits.retryAfterSeconds }),
        },
        ...(redacted !== undefined ? { redacted } : {}),
      };
    } catch (err) {
      if (!isAigovError(err)) throw err;
      row.decision = 'block';
      row.statusCode = err.status;
      row.error = err.code;
      row.latencyMs = elapsedMs(reply);
      return sendError(reply, err);
    } finally {
      services.audit.enqueue(row);
      services.metrics.observeRequest(row);
    }
  });
}
