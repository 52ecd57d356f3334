import type { FastifyInstance } from 'fastify';
import type { Services } from '../services.js';
import { describeRoute } from '../http/openapi.js';
import { healthResponse, readyResponse } from '../http/schemas.js';
import { VERSION } from '../version.js';

const STARTED = Date.now();

export interface ReadinessCheck {
  name: string;
  check(): Promise<{ ok: boolean; detail?: string }>;
}

export function registerHealthRoutes(
  app: FastifyInstance,
  services: Services,
  checks: ReadinessCheck[],
): void {
  app.get(
    '/health',
    describeRoute({
      summary: 'Liveness',
      tags: ['Operations'],
      auth: 'none',
      responses: { 200: { description: 'The process is up', schema: healthResponse } },
    }),
    async () => ({
      status: 'ok',
      uptime_s: Math.round((Date.now() - STARTED) / 1000),
      version: VERSION,
    }),
  );

  const readyDoc = describeRoute({
    summary: 'Readiness, per dependency (db, audit, policies, limits)',
    tags: ['Operations'],
    auth: 'none',
    responses: {
      200: { description: 'Every check passed', schema: readyResponse },
      503: { description: 'At least one check failed (honours limits.fail_mode)', schema: readyResponse },
    },
  });
  app.get('/ready', readyDoc, async (_request, reply) => {
    const results: Record<string, { ok: boolean; detail?: string }> = {};
    await Promise.all(
      [
        {
          name: 'db',
          check: async () => {
            await services.db.query('SELECT 1');
            return { ok: true, detail: services.db.kind };
          },
        },
        {
          name: 'audit',
          check: async () => {
            const s = services.audit.getStats();
            return { ok: services.audit.accepting(), detail: `queued=${s.queued} dropped=${s.dropped}` };
          },
        },
        {
          name: 'policies',
          check: async () => {
            const st = services.policies.getStatus();
            return {
              ok: true,
              detail: `version=${st.version} rules=${st.ruleCount}${st.lastError ? ' last_reload=refused' : ''}`,
            };
          },
        },
        {
          name: 'limits',
          check: async () => {
            const state = services.limiter.state();
            const store = services.config.redis.url ? 'redis' : 'memory';
            // Degraded + fail-closed means governed requests are being refused: not ready.
            return {
              ok: state === 'ok' || services.config.limits.fail_mode === 'open',
              detail: `${store} ${state}`,
            };
          },
        },
        ...checks,
      ].map(async (c) => {
        try {
          results[c.name] = await withTimeout(c.check(), 2_000);
        } catch (err) {
          results[c.name] = { ok: false, detail: (err as Error).message };
        }
      }),
    );
    const ready = Object.values(results).every((r) => r.ok);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks: results });
  });
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
