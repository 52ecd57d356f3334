import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AigovMetrics } from '../metrics/metrics.js';
import { describeRoute } from '../http/openapi.js';

/**
 * GET /metrics: Prometheus text exposition. Unauthenticated, like every Prometheus target: keep it
 * on the cluster network (docs/operations.md). Label values are bounded, never key ids or prompts.
 */
export function registerMetricsRoute(app: FastifyInstance, metrics: AigovMetrics): void {
  app.get(
    '/metrics',
    describeRoute({
      summary: 'Prometheus metrics',
      description: 'Text exposition format 0.0.4; see docs/operations.md for every series.',
      tags: ['Operations'],
      auth: 'none',
      responses: {
        200: { description: 'Metrics', schema: z.string(), contentType: 'text/plain; version=0.0.4' },
      },
    }),
    async (_request, reply) => reply.type(metrics.contentType).send(await metrics.render()),
  );
}
