import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import Fastify from 'fastify';
import { z } from 'zod';
import { getAdapter } from '../../../src/providers/families.js';
import { isAigovError } from '../../../src/errors.js';
import { sendError } from '../../../src/http/render-error.js';
import { UNDOCUMENTED_TAG, describeRoute, registerOpenApi } from '../../../src/http/openapi.js';
import {
  anthropicError,
  checkResponse,
  evaluateError,
  evaluateResponse,
  healthResponse,
  openAIError,
  readyResponse,
} from '../../../src/http/schemas.js';
import { startProxy } from '../../support/proxy.js';

const run = promisify(execFile);

interface Operation {
  summary?: string;
  tags?: string[];
  security?: unknown[];
  requestBody?: unknown;
  responses: Record<string, { content?: Record<string, { schema: Record<string, unknown> }> }>;
}
type Doc = { openapi: string; paths: Record<string, Record<string, Operation>> };

t.test('the OpenAPI document', async (t) => {
  const h = await startProxy({ listen: false });
  t.teardown(() => h.close());
  const res = await h.app.inject({ method: 'GET', url: '/openapi.json' });
  t.equal(res.statusCode, 200);
  const doc = res.json() as Doc;
  t.equal(doc.openapi, '3.0.3');

  t.test('passes redocly lint (recommended rules, offline)', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'aigov-openapi-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'openapi.json');
    writeFileSync(file, res.body);
    const bin = join(process.cwd(), 'node_modules', '.bin', 'redocly');
    const out = await run(bin, ['lint', file, '--format=json'], {
      cwd: dir,
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
      timeout: 90_000,
      maxBuffer: 16 * 1024 * 1024,
    }).catch((err: { stdout?: string; stderr?: string; code?: number }) => err);
    const report = JSON.parse(String(out.stdout ?? '{}')) as {
      problems?: { ruleId: string; severity: string; message: string }[];
    };
    const errors = (report.problems ?? []).filter((p) => p.severity === 'error');
    t.same(errors, [], 'no lint errors');
    t.ok(report.problems, 'redocly produced a report');
  });

  t.test('every route aigov defines is documented with a summary', async (t) => {
    for (const [path, method] of [
      ['/health', 'get'],
      ['/ready', 'get'],
      ['/metrics', 'get'],
      ['/api/evaluate', 'post'],
      ['/v1/check', 'post'],
    ] as const) {
      const op = doc.paths[path]?.[method];
      t.ok(op?.summary, `${method} ${path}`);
      t.notOk(op?.tags?.includes(UNDOCUMENTED_TAG), `${path} has its own schema`);
    }
    const named = h.services.providers.all().map((p) => ({ prefix: `/${p.name}`, family: p.family }));
    for (const family of ['openai', 'anthropic'] as const)
      for (const spec of getAdapter(family).routes)
        for (const prefix of ['', ...named.filter((n) => n.family === family).map((n) => n.prefix)]) {
          const op = doc.paths[`${prefix}${spec.path}`]?.[spec.method.toLowerCase()];
          t.ok(op?.summary, `${spec.method} ${prefix}${spec.path}`);
        }
    t.notOk(doc.paths['/openapi.json'], 'the document itself is hidden');
    t.notOk(
      Object.keys(doc.paths).some((p) => p.startsWith('/docs')),
      'Swagger UI routes hidden',
    );
  });

  t.test('provider routes: loose bodies, precise error shapes', async (t) => {
    const chat = doc.paths['/v1/chat/completions']!.post!;
    t.ok(chat.requestBody, 'body documented');
    const openai403 = chat.responses['403']!.content!['application/json']!.schema;
    t.match(openai403, {
      type: 'object',
      required: ['error'],
      properties: { error: { required: ['message', 'type', 'code', 'param'] } },
    });
    t.ok(chat.responses['200']!.content!['text/event-stream'], 'streams documented');
    for (const status of ['400', '401', '403', '413', '429', '502', '503', '504'])
      t.ok(chat.responses[status], `chat documents ${status}`);
    const messages = doc.paths['/v1/messages']!.post!;
    t.match(messages.responses['429']!.content!['application/json']!.schema, {
      properties: { type: { enum: ['error'] }, error: { required: ['type', 'message'] } },
    });
    const groq = doc.paths['/groq/v1/chat/completions']!.post!;
    t.same(groq.tags, ['Provider: groq']);
    const models = doc.paths['/v1/models']!.get!;
    t.notOk(models.requestBody);
    t.notOk(models.responses['403'], 'ungoverned: no policy refusals');
  });

  t.test('/v1/check documents the schemas its handler validates with', async (t) => {
    const op = doc.paths['/v1/check']!.post!;
    t.match(op.requestBody, {
      content: {
        'application/json': {
          schema: { properties: { provider: { type: 'string', maxLength: 64 }, metadata: {}, route: {} } },
        },
      },
    });
    const bad = await h.app.inject({
      method: 'POST',
      url: '/v1/check',
      headers: { authorization: `Bearer ${h.key}` },
      payload: { model: 'gpt-4o', messages: [], provider: 'x'.repeat(65) },
    });
    t.equal(bad.statusCode, 400);
    t.match(bad.json(), { error: { code: 'invalid_request', details: [{ path: ['provider'] }] } });
    t.ok(openAIError.safeParse(bad.json()).success, '400 matches the documented error');
  });

  t.test('real answers match the documented schemas', async (t) => {
    const auth = { authorization: `Bearer ${h.key}` };
    const cases: [string, string, Record<string, string>, unknown, z.ZodType, number][] = [
      ['GET', '/health', {}, undefined, healthResponse, 200],
      ['GET', '/ready', {}, undefined, readyResponse, 200],
      ['POST', '/api/evaluate', auth, undefined, evaluateResponse, 200],
      ['POST', '/api/evaluate', { authorization: 'Bearer nope' }, undefined, evaluateError, 401],
      [
        'POST',
        '/v1/check',
        auth,
        { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] },
        checkResponse,
        200,
      ],
      ['POST', '/v1/chat/completions', {}, { model: 'gpt-4o', messages: [] }, openAIError, 401],
      ['POST', '/v1/messages', {}, { model: 'claude-3-5-haiku', messages: [] }, anthropicError, 401],
    ];
    for (const [method, url, headers, payload, schema, status] of cases) {
      const r = await h.app.inject({
        method: method as 'GET' | 'POST',
        url,
        headers,
        ...(payload ? { payload: payload as object } : {}),
      });
      t.equal(r.statusCode, status, `${method} ${url}`);
      const parsed = schema.safeParse(r.json());
      t.ok(parsed.success, `${method} ${url} ${status} matches its schema`, {
        issues: parsed.success ? undefined : parsed.error.issues,
      });
    }
  });

  t.test('Swagger UI at /docs uses only local assets', async (t) => {
    const page = await h.app.inject({ method: 'GET', url: '/docs' });
    t.equal(page.statusCode, 200);
    t.match(page.headers['content-type'], /text\/html/);
    const refs = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    t.ok(refs.length > 0, 'the page loads assets');
    for (const ref of refs) {
      t.notMatch(ref, /^(https?:)?\/\//, `${ref} is local`);
      const asset = await h.app.inject({ method: 'GET', url: new URL(ref, 'http://x/docs/').pathname });
      t.equal(asset.statusCode, 200, `${ref} is served`);
    }
    const csp = String(page.headers['content-security-policy']);
    t.notMatch(csp, /https:|validator/, 'CSP allows nothing off-origin');
    const init = await h.app.inject({ method: 'GET', url: '/docs/static/swagger-initializer.js' });
    t.match(init.body, /"validatorUrl":null/, 'no calls to the public validator');
  });
});

t.test('describeRoute: one zod schema validates and documents (for /admin/* and the like)', async (t) => {
  const h = await startProxy({ listen: false });
  t.teardown(() => h.close());
  const app = Fastify();
  t.teardown(() => app.close());
  app.setErrorHandler((err, _request, reply) => {
    if (isAigovError(err)) return sendError(reply, err);
    return reply.code(500).send({ unexpected: String(err) });
  });
  await registerOpenApi(app, h.services, { componentSchemas: { Widget: z.object({ name: z.string() }) } });
  const body = z.object({ name: z.string().min(2), size: z.number().int().default(1) });
  const query = z.object({ dry_run: z.enum(['true', 'false']).optional() });
  app.post(
    '/admin/widgets',
    describeRoute({
      summary: 'Create a widget',
      tags: ['Admin'],
      auth: 'admin',
      body,
      querystring: query,
      responses: {
        201: { description: 'Created', schema: body },
        400: { description: 'Bad', schema: openAIError },
      },
    }),
    async (request, reply) => reply.code(201).send({ ...(request.body as object), extra: 'kept' }),
  );
  await app.ready();

  const ok = await app.inject({ method: 'POST', url: '/admin/widgets', payload: { name: 'ab' } });
  t.equal(ok.statusCode, 201);
  t.same(
    ok.json(),
    { name: 'ab', size: 1, extra: 'kept' },
    'zod output (defaults) reaches the handler; answer sent as built',
  );
  const bad = await app.inject({ method: 'POST', url: '/admin/widgets', payload: { name: 'a' } });
  t.equal(bad.statusCode, 400);
  t.match(bad.json(), {
    error: { code: 'invalid_request', message: /body: name/, details: [{ path: ['name'] }] },
  });
  const badQuery = await app.inject({
    method: 'POST',
    url: '/admin/widgets?dry_run=maybe',
    payload: { name: 'ab' },
  });
  t.equal(badQuery.statusCode, 400);
  t.match(badQuery.json(), { error: { message: /querystring: dry_run/ } });

  const doc = app.swagger() as unknown as Doc & { components: { schemas: Record<string, unknown> } };
  const op = doc.paths['/admin/widgets']!.post!;
  t.equal(op.summary, 'Create a widget');
  t.same(op.security, [{ adminToken: [] }]);
  t.match(op.requestBody, {
    content: {
      'application/json': { schema: { properties: { name: { minLength: 2 } }, required: ['name'] } },
    },
  });
  t.ok(doc.components.schemas.Widget, 'named component schemas');
});
