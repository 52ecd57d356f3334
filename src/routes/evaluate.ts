import type { FastifyInstance } from 'fastify';
import { isAigovError, openAIErrorBody } from '../errors.js';
import type { Services } from '../services.js';
import { authenticate } from '../http/authenticate.js';
import { throttleByIp, throttleByKey } from '../http/check-throttle.js';
import { baseRow, elapsedMs } from '../audit/record.js';
import { describeRoute } from '../http/openapi.js';
import { evaluateError, evaluateResponse } from '../http/schemas.js';

const doc = describeRoute({
  summary: 'Verify the presented aigov key and say whose it is',
  tags: ['Governance'],
  responses: {
    200: { description: 'The key is valid', schema: evaluateResponse },
    401: { description: 'Missing, invalid, expired or revoked key', schema: evaluateError },
    429: {
      description: 'Too many calls or failed authentications from this IP or key',
      schema: evaluateError,
    },
  },
});

/** POST /api/evaluate: is the presented key valid, and whose is it. Every call leaves an audit row. */
export function registerEvaluateRoute(app: FastifyInstance, services: Services): void {
  app.post('/api/evaluate', doc, async (request, reply) => {
    try {
      throttleByIp(services, request);
      const key = await authenticate(services.verifier, request);
      throttleByKey(services, key.id);
      const row = baseRow(request, '/api/evaluate', key);
      row.latencyMs = elapsedMs(reply);
      services.audit.enqueue(row);
      services.metrics.observeRequest(row);
      return {
        valid: true,
        key: {
          id: key.id,
          owner: key.owner,
          name: key.name,
          team: key.team,
          tags: key.tags,
          models: key.models,
          expires_at: key.expiresAt?.toISOString() ?? null,
        },
      };
    } catch (err) {
      if (!isAigovError(err)) throw err;
      const row = baseRow(request, '/api/evaluate', null);
      row.decision = 'block';
      row.statusCode = err.status;
      row.error = err.code;
      row.latencyMs = elapsedMs(reply);
      services.audit.enqueue(row);
      services.metrics.observeRequest(row);
      if (err.retryAfter !== undefined) reply.header('retry-after', String(err.retryAfter));
      return reply.code(err.status).send({ valid: false, ...openAIErrorBody(err) });
    }
  });
}
