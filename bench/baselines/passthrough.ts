/**
 * Baseline A: the least a Fastify reverse proxy can do. The body is kept as bytes (no JSON parse),
 * forwarded with undici over a keep-alive pool (same pool settings as aigov's provider registry),
 * and the answer goes back whole (JSON) or piped (SSE). No auth, no policy, no limits, no logging.
 * Run as a child by bench/run.ts: `UPSTREAM_URL=... node --import tsx bench/baselines/passthrough.ts`,
 * prints `READY <url>`.
 */
import Fastify from 'fastify';
import { Pool } from 'undici';

const upstream = process.env.UPSTREAM_URL;
if (!upstream) throw new Error('UPSTREAM_URL is required');
const pool = new Pool(upstream, { connections: 256, pipelining: 1, keepAliveTimeout: 30_000 });

const app = Fastify({ logger: false });
app.removeContentTypeParser('application/json');
app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

const ROUTES = ['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/messages'];
for (const route of ROUTES) {
  app.post(route, async (request, reply) => {
    const res = await pool.request({
      method: 'POST',
      path: route,
      headers: { 'content-type': 'application/json', authorization: 'Bearer dummy' },
      body: request.body as Buffer,
    });
    const contentType = String(res.headers['content-type'] ?? 'application/json');
    reply.code(res.statusCode).header('content-type', contentType);
    if (contentType.includes('text/event-stream')) {
      reply.header('cache-control', 'no-cache');
      return reply.send(res.body);
    }
    const chunks: Buffer[] = [];
    for await (const chunk of res.body) chunks.push(chunk as Buffer);
    return reply.send(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
  });
}

const address = await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`READY ${address}\n`);
const close = (): void => {
  void app
    .close()
    .then(() => pool.close())
    .finally(() => process.exit(0));
};
process.once('SIGTERM', close);
process.once('SIGINT', close);
