import type { FastifyInstance } from 'fastify';
import { AigovError, invalidInput, isAigovError } from '../errors.js';
import { assess } from '../governance/index.js';
import type { Services } from '../services.js';
import { authenticate } from '../http/authenticate.js';
import { throttleByIp, throttleByKey } from '../http/check-throttle.js';
import { baseRow, elapsedMs } from '../audit/record.js';
import { sendError } from '../http/render-error.js';
import { describeRoute } from '../http/openapi.js';
import { checkEnvelope, checkRequest, checkResponse, openAIError } from '../http/schemas.js';

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
