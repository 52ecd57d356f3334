/**
 * Baseline B: a bare Fastify route that parses the same JSON body (Fastify's default parser) and
 * returns a constant decision. What /v1/check costs beyond "parse JSON, answer JSON" is governance.
 * Prints `READY <url>`.
 */
import Fastify from 'fastify';

const DECISION = { allowed: true, decision: 'allow', risk_score: 0, reasons: [] };

const app = Fastify({ logger: false });
app.post('/v1/check', async (request) => {
  const body = request.body as { model?: unknown } | null;
  if (!body || typeof body.model !== 'string') throw new Error('expected a provider request body');
  return DECISION;
});

const address = await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`READY ${address}\n`);
const close = (): void => {
  void app.close().finally(() => process.exit(0));
};
process.once('SIGTERM', close);
process.once('SIGINT', close);
