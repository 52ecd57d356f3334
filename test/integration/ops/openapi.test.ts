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
import { requiredRole } from '../../../src/admin/roles.js';
import { isPublicAdminPath } from '../../../src/admin/guard.js';
import { approvalView } from '../../../src/approvals/store.js';
import {
  adminEventsPage,
  approvalList,
  approvalView as approvalViewSchema,
  authConfigView,
  authMeView,
  createdKeyView,
  dryRunView,
  keyList,
  keyView,
  logoutView,
  logsPage,
  logView,
  policyReloadView,
  policySummaryView,
  revokedKeyView,
  rotatedKeyView,
  statsView,
} from '../../../src/admin/schemas.js';

const run = promisify(execFile);

interface Operation {
  summary?: string;
  description?: string;
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
          // The document writes path parameters as {name}, Fastify as :name.
          const path = `${prefix}${spec.path}`.replace(/:(\w+)/g, '{$1}');
          const op = doc.paths[path]?.[spec.method.toLowerCase()];
          t.ok(op?.summary, `${spec.method} ${prefix}${spec.path}`);
        }
    t.same(
      Object.keys(doc.paths).filter((p) => p.includes('*')),
      [],
      'wildcard routes have a named path parameter',
    );
    t.ok(doc.paths['/v1beta/models/{path}']?.post?.summary, 'Gemini generate route documented');
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

    // The newer families document the shapes their SDKs parse, not OpenAI's.
    type Headers = Record<string, unknown>;
    const op = (path: string): Operation & { responses: Record<string, { headers?: Headers }> } => {
      const o = doc.paths[path]?.post;
      if (!o) throw new Error(`${path} is not documented`);
      return o;
    };
    const json = (o: Operation, status: string): Record<string, unknown> =>
      o.responses[status]!.content!['application/json']!.schema;
    for (const path of ['/v1beta/models/{path}', '/v1/models/{path}']) {
      const gemini = op(path);
      t.match(gemini.summary, /\(Gemini format\)/);
      for (const status of ['401', '403', '429', '400'])
        t.match(
          json(gemini, status),
          {
            required: ['error'],
            properties: {
              error: {
                required: ['code', 'message', 'status'],
                properties: { code: { type: 'integer' }, status: { type: 'string' } },
              },
            },
          },
          `${path} ${status}: Google error shape`,
        );
      const geminiError = json(gemini, '403').properties as { error: { properties: object } };
      t.notOk('type' in geminiError.error.properties, 'no OpenAI `type`');
      t.ok(gemini.responses['200']!.content!['text/event-stream'], 'Gemini streams are SSE');
      t.same(
        gemini.security,
        [{ bearerAuth: [] }, { xApiKey: [] }, { apiKeyHeader: [] }, { googApiKey: [] }, { googKeyQuery: [] }],
        'x-goog-api-key and ?key= documented',
      );
    }
    for (const action of ['converse', 'converse-stream', 'invoke', 'invoke-with-response-stream']) {
      const bedrock = op(`/model/{modelId}/${action}`);
      t.match(bedrock.summary, /\(Bedrock format\)/);
      for (const status of ['400', '401', '403', '429', '502']) {
        const shape = json(bedrock, status);
        t.match(
          shape,
          { type: 'object', required: ['message'], properties: { message: { type: 'string' } } },
          `${action} ${status}: {message}`,
        );
        t.same(Object.keys(shape.properties as object), ['message'], `${action} ${status}: nothing else`);
        t.ok(
          bedrock.responses[status]!.headers?.['x-amzn-errortype'],
          `${action} ${status}: x-amzn-ErrorType`,
        );
      }
      t.ok(bedrock.responses['429']!.headers?.['retry-after'], 'Retry-After kept beside it');
      const ok = Object.keys(bedrock.responses['200']!.content!);
      t.ok(ok.includes('application/vnd.amazon.eventstream'), `${action}: event-stream answers`);
      t.notOk(ok.includes('text/event-stream'), `${action}: not SSE`);
    }
    const azure = op('/openai/deployments/{deployment}/chat/completions');
    t.match(azure.summary, /\(Azure OpenAI format\)/);
    t.same(json(azure, '403'), openai403, 'Azure refusals are OpenAI-shaped');
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

/** Every admin route (src/admin/*.ts) and the success status it answers. */
const ADMIN_OPERATIONS: [string, string, string][] = [
  ['get', '/admin/events', '200'],
  ['post', '/admin/keys', '201'],
  ['get', '/admin/keys', '200'],
  ['get', '/admin/keys/{id}', '200'],
  ['patch', '/admin/keys/{id}', '200'],
  ['post', '/admin/keys/{id}/revoke', '200'],
  ['post', '/admin/keys/{id}/rotate', '200'],
  ['get', '/admin/logs', '200'],
  ['get', '/admin/logs/{request_id}', '200'],
  ['get', '/admin/stats', '200'],
  ['get', '/admin/policies', '200'],
  ['post', '/admin/policies/reload', '200'],
  ['post', '/admin/policies/dry-run', '200'],
  ['get', '/admin/approvals', '200'],
  ['get', '/admin/approvals/{id}', '200'],
  ['post', '/admin/approvals/{id}/approve', '200'],
  ['post', '/admin/approvals/{id}/deny', '200'],
  ['get', '/admin/auth/config', '200'],
  ['get', '/admin/auth/login', '302'],
  ['get', '/admin/auth/callback', '302'],
  ['get', '/admin/auth/me', '200'],
  ['post', '/admin/auth/logout', '200'],
];

const ADMIN_TOKEN = 'admin-token-for-openapi-0123456789';

t.test('the admin API is documented: tags, roles, security, answers', async (t) => {
  const policies = `version: 1
rules:
  - id: no-forbidden
    description: "no forbidden words"
    when: { prompt: { contains: [forbidden] } }
    action: block
  - id: per-key-rate
    limit: { requests: 600, per: 1m }
`;
  const h = await startProxy({ listen: false, policies, overrides: { admin: { token: ADMIN_TOKEN } } });
  t.teardown(() => h.close());
  const doc = (await h.app.inject({ method: 'GET', url: '/openapi.json' })).json() as Doc;

  t.test('every admin operation has its own contract', async (t) => {
    const admin = Object.entries(doc.paths)
      .filter(([path]) => path.startsWith('/admin'))
      .flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ path, method, op })));
    t.same(
      admin.map((o) => `${o.method} ${o.path}`).sort(),
      ADMIN_OPERATIONS.map(([m, p]) => `${m} ${p}`).sort(),
      'exactly the admin routes',
    );
    for (const { path, method, op } of admin) {
      const id = `${method} ${path}`;
      t.notOk(op.tags?.includes(UNDOCUMENTED_TAG), `${id} is not Undocumented`);
      t.equal(op.tags?.length, 1, `${id} has one tag`);
      t.match(op.tags?.[0], /^Admin: (keys|logs|policies|approvals|auth)$/, `${id} tag`);
      t.ok(op.summary && !op.summary.startsWith(method.toUpperCase()), `${id} has a real summary`);
      t.ok(Array.isArray(op.security), `${id} states its security`);
      if (isPublicAdminPath(path)) {
        t.same(op.security, [], `${id} is public`);
        t.match(op.description, /^Public/m, `${id} says it is public`);
      } else {
        t.same(op.security, [{ adminToken: [] }], `${id} needs the admin credential`);
        const role = requiredRole(method.toUpperCase(), path);
        t.match(op.description, new RegExp(`Role: ${role} or above`), `${id} states role ${role}`);
        for (const status of ['401', '403', '404', '429'])
          t.ok(op.responses[status], `${id} documents the guard's ${status}`);
      }
      const success = ADMIN_OPERATIONS.find(([m, p]) => m === method && p === path)![2];
      t.ok(op.responses[success], `${id} documents its ${success}`);
      if (success !== '302')
        t.ok(op.responses[success]!.content?.['application/json']?.schema, `${id} ${success} has a schema`);
    }
    t.match(doc.paths['/admin/keys']!.post!.requestBody, {
      content: { 'application/json': { schema: { required: ['owner'], properties: { owner: {} } } } },
    });
    t.ok(
      (
        doc.paths['/admin/logs']!.get as unknown as { parameters: { name: string; in: string }[] }
      ).parameters.some((p) => p.name === 'cursor' && p.in === 'query'),
      'query parameters documented',
    );
    t.ok(
      (
        doc.paths['/admin/keys/{id}']!.get as unknown as { parameters: { name: string; in: string }[] }
      ).parameters.some((p) => p.name === 'id' && p.in === 'path'),
      'path parameters documented',
    );
  });

  t.test('real admin answers match the documented schemas', async (t) => {
    const call = async (
      method: 'GET' | 'POST' | 'PATCH',
      url: string,
      payload?: object,
    ): Promise<{ status: number; body: unknown }> => {
      const r = await h.app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        ...(payload ? { payload } : {}),
      });
      return { status: r.statusCode, body: r.json() as unknown };
    };
    const check = (
      label: string,
      r: { status: number; body: unknown },
      status: number,
      schema: z.ZodType,
      path: string,
      method: string,
    ): void => {
      t.equal(r.status, status, label);
      t.ok(doc.paths[path]?.[method]?.responses[String(status)], `${label}: ${status} is documented`);
      const parsed = schema.safeParse(r.body);
      t.ok(parsed.success, `${label} matches its schema`, {
        issues: parsed.success ? undefined : parsed.error.issues,
      });
    };
    // A request to log and count.
    const chat = await h.app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      headers: { authorization: `Bearer ${h.key}` },
      payload: { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] },
    });
    t.equal(chat.statusCode, 200);
    const requestId = String(chat.headers['x-request-id']);
    await h.rows();

    const created = await call('POST', '/admin/keys', {
      owner: 'ops@example.com',
      team: 'ops',
      expires_in: '30d',
    });
    check('create key', created, 201, createdKeyView, '/admin/keys', 'post');
    const id = (created.body as { id: string }).id;
    check('list keys', await call('GET', '/admin/keys'), 200, keyList, '/admin/keys', 'get');
    check('one key', await call('GET', `/admin/keys/${id}`), 200, keyView, '/admin/keys/{id}', 'get');
    check(
      'update key',
      await call('PATCH', `/admin/keys/${id}`, { tags: ['x'] }),
      200,
      keyView,
      '/admin/keys/{id}',
      'patch',
    );
    check(
      'rotate key',
      await call('POST', `/admin/keys/${id}/rotate`, { grace: '1h' }),
      200,
      rotatedKeyView,
      '/admin/keys/{id}/rotate',
      'post',
    );
    check(
      'revoke key',
      await call('POST', `/admin/keys/${id}/revoke`),
      200,
      revokedKeyView,
      '/admin/keys/{id}/revoke',
      'post',
    );
    check('unknown key', await call('GET', '/admin/keys/nope'), 404, openAIError, '/admin/keys/{id}', 'get');
    check(
      'bad update',
      await call('PATCH', `/admin/keys/${id}`, {}),
      400,
      openAIError,
      '/admin/keys/{id}',
      'patch',
    );
    check('logs', await call('GET', '/admin/logs'), 200, logsPage, '/admin/logs', 'get');
    check(
      'one log',
      await call('GET', `/admin/logs/${requestId}`),
      200,
      logView,
      '/admin/logs/{request_id}',
      'get',
    );
    check('bad logs query', await call('GET', '/admin/logs?limit=0'), 400, openAIError, '/admin/logs', 'get');
    check('stats', await call('GET', '/admin/stats'), 200, statsView, '/admin/stats', 'get');
    const summary = await call('GET', '/admin/policies');
    check('policies', summary, 200, policySummaryView, '/admin/policies', 'get');
    t.match(summary.body, { rules: [{ id: 'no-forbidden' }], limits: [{ id: 'per-key-rate' }] });
    check(
      'reload',
      await call('POST', '/admin/policies/reload'),
      200,
      policyReloadView,
      '/admin/policies/reload',
      'post',
    );
    check(
      'dry run',
      await call('POST', '/admin/policies/dry-run', {
        request: { model: 'gpt-4o', messages: [{ role: 'user', content: 'forbidden' }] },
      }),
      200,
      dryRunView,
      '/admin/policies/dry-run',
      'post',
    );
    check('approvals', await call('GET', '/admin/approvals'), 200, approvalList, '/admin/approvals', 'get');
    check(
      'no approval',
      await call('GET', '/admin/approvals/apr_nope'),
      404,
      openAIError,
      '/admin/approvals/{id}',
      'get',
    );
    check('events', await call('GET', '/admin/events'), 200, adminEventsPage, '/admin/events', 'get');
    check(
      'auth config',
      await call('GET', '/admin/auth/config'),
      200,
      authConfigView,
      '/admin/auth/config',
      'get',
    );
    check('me', await call('GET', '/admin/auth/me'), 200, authMeView, '/admin/auth/me', 'get');
    check('logout', await call('POST', '/admin/auth/logout'), 200, logoutView, '/admin/auth/logout', 'post');
    check('no OIDC', await call('GET', '/admin/auth/login'), 404, openAIError, '/admin/auth/login', 'get');
    const noToken = await h.app.inject({ method: 'GET', url: '/admin/keys' });
    t.equal(noToken.statusCode, 401);
    t.ok(openAIError.safeParse(noToken.json()).success, '401 matches the documented error');

    const now = new Date();
    const approval = approvalView({
      id: 'apr_1',
      status: 'approved',
      createdAt: now,
      expiresAt: new Date(now.getTime() + 60_000),
      keyId: h.keyId,
      owner: 'dev@example.com',
      team: 'eng',
      server: 'files',
      tool: 'delete',
      argsSha256: 'a'.repeat(64),
      policyVersion: 'v1',
      ruleIds: ['approve-deletes'],
      arguments: '{"path":"/tmp/x"}',
      requestId: 'req-1',
      decidedAt: now,
      decidedBy: 'ops@example.com',
      reason: null,
      usedAt: null,
      usedRequestId: null,
    });
    const parsed = approvalViewSchema.safeParse(approval);
    t.ok(parsed.success, 'an approval view matches ApprovalView', {
      issues: parsed.success ? undefined : parsed.error.issues,
    });
  });
});
