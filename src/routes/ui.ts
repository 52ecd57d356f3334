import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';

/**
 * Where `npm run build` (scripts/build-ui.mjs) puts the dashboard: dist/ui. Compiled, this file is
 * dist/routes/ui.js (../ui); run from source with tsx it is src/routes/ui.ts (../../dist/ui).
 */
export const UI_DIR_CANDIDATES = [
  fileURLToPath(new URL('../ui/', import.meta.url)),
  fileURLToPath(new URL('../../dist/ui/', import.meta.url)),
];

export function findUiDir(candidates: readonly string[] = UI_DIR_CANDIDATES): string | null {
  return candidates.find((d) => existsSync(join(d, 'index.html'))) ?? null;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
};

/** Same-origin only: the dashboard loads nothing from the network but its own assets and /admin. */
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>aigov dashboard not built</title></head>
<body><main><h1>The aigov dashboard is not built</h1>
<p>Run <code>npm run build</code> (or <code>node scripts/build-ui.mjs</code>) in the aigov checkout,
then reload this page. The admin API under <code>/admin/</code> works without it.</p></main></body></html>
`;

function securityHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY');
}

/**
 * Serves the built dashboard at /ui/. The folder is looked up on each request, so a build made
 * while the server runs is picked up; without one, /ui/ explains how to build it (503).
 */
export function registerUiRoutes(app: FastifyInstance, options: { dirs?: readonly string[] } = {}): void {
  const dirs = options.dirs ?? UI_DIR_CANDIDATES;

  const serve = async (reply: FastifyReply, rel: string): Promise<FastifyReply> => {
    securityHeaders(reply);
    const dir = findUiDir(dirs);
    if (!dir)
      return reply.code(503).header('cache-control', 'no-store').type(TYPES['.html']!).send(NOT_BUILT);
    const file = normalize(join(dir, rel));
    const type = TYPES[extname(file).toLowerCase()];
    if (!file.startsWith(dir.endsWith(sep) ? dir : dir + sep) || !type)
      return reply.code(404).type('text/plain; charset=utf-8').send('Not found');
    let body: Buffer;
    try {
      body = await readFile(file);
    } catch {
      return reply.code(404).type('text/plain; charset=utf-8').send('Not found');
    }
    return reply.header('cache-control', 'no-cache').type(type).send(body);
  };

  app.get('/ui', async (_request, reply) => reply.redirect('/ui/', 302));
  app.get<{ Params: { '*': string } }>('/ui/*', async (request, reply) => {
    const rel = request.params['*'];
    // Hash routing: any extension-less path is the app itself.
    return serve(reply, rel === '' || extname(rel) === '' ? 'index.html' : rel);
  });
}
