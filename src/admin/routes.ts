import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { AigovError, invalidInput, isAigovError } from '../errors.js';
import { parseDurationMs } from '../config/duration.js';
import { sendError } from '../http/render-error.js';
import type { Services } from '../services.js';
import { createAdminGuard } from './guard.js';
import { AdminEventLog } from '../audit/admin-events.js';
import type { AdminPrincipal } from './roles.js';
import { registerAdminAuthRoutes, signInFromConfig } from './auth-routes.js';
import { AdminKeyRepository, toKeyView } from './key-repository.js';
import { findLog, queryLogs, streamLogsCsv } from './logs.js';
import { dryRun, policySummary } from './policies.js';
import {
  adminEventsPage,
  adminEventsQuery,
  createdKeyView,
  createKeyBody,
  dryRunBody,
  dryRunView,
  keyIdParams,
  keyList,
  keyView,
  listKeysQuery,
  logParams,
  logsPage,
  logsQuery,
  logView,
  policyReloadView,
  policySummaryView,
  revokedKeyView,
  rotatedKeyView,
  rotateKeyBody,
  statsQuery,
  statsView,
  updateKeyBody,
} from './schemas.js';
import { adminRoute, badInput, error } from './route-doc.js';
import { queryStats } from './stats.js';
import { registerApprovalRoutes } from './approvals.js';

/** Parses one input with zod; a failure is the catalogue's 400 listing every issue. */
function parse<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  throw invalidInput(what, result.error.issues);
}

function notFound(id: string): AigovError {
  return new AigovError('not_found', { message: `No key ${id}` });
}

/**
 * The admin API under /admin/ (docs/admin.md). Every route, known or not, goes through one guard:
 * 404 admin_disabled without ADMIN_TOKEN, then a per-IP rate limit, then the Bearer token
 * (constant-time). An aigov API key is never an admin credential.
 */
export function registerAdminRoutes(app: FastifyInstance, services: Services): void {
  const signIn = signInFromConfig(services.config);
  const guard = createAdminGuard(services.config.admin.token, signIn);
  const repo = new AdminKeyRepository(services.db);
  const log = services.logger;
  const events = new AdminEventLog(services.db);
  const principals = new WeakMap<FastifyRequest, AdminPrincipal>();
  /** One admin_events row per change, written before the answer (docs/identity.md). */
  const record = async (
    request: FastifyRequest,
    action: string,
    target: string | null,
    before: unknown,
    after: unknown,
  ): Promise<void> => {
    const who = principals.get(request);
    try {
      await events.append({
        actor: who?.actor ?? 'unknown',
        role: who?.role ?? 'unknown',
        method: who?.method ?? 'unknown',
        action,
        target,
        outcome: 'ok',
        requestId: request.id,
        clientIp: request.ip,
        before,
        after,
      });
    } catch (err) {
      log.error({ err, requestId: request.id, action }, 'admin event not recorded');
      throw new AigovError('audit_unavailable', {
        message: `The change (${action}) was applied but could not be recorded in admin_events; retry later`,
      });
    }
  };

  void app.register(
    async (admin) => {
      admin.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
        reply.header('cache-control', 'no-store');
        principals.set(request, guard.check(request));
      });
      admin.setErrorHandler((err: Error, request, reply) => {
        if (isAigovError(err)) return sendError(reply, err);
        const status = (err as { statusCode?: number }).statusCode;
        if (status === 400 || err instanceof SyntaxError)
          return sendError(
            reply,
            new AigovError('invalid_json', { message: `Invalid request body: ${err.message}` }),
          );
        if (status === 413) return sendError(reply, new AigovError('body_too_large'));
        if (status === 415) return sendError(reply, new AigovError('unsupported_media_type'));
        request.log.error({ err, requestId: request.id }, 'admin request failed');
        return sendError(reply, new AigovError('internal_error'));
      });
      admin.setNotFoundHandler(async (request, reply) => {
        guard.check(request);
        const path = request.url.split('?', 1)[0] ?? '';
        return sendError(
          reply,
          new AigovError('not_found', { message: `No admin route ${request.method} ${path}` }),
        );
      });

      registerAdminAuthRoutes(admin, services, signIn, events, (request) => principals.get(request));

      admin.get(
        '/events',
        adminRoute({
          summary: 'The admin audit trail (admin_events), newest first',
          description:
            'Every admin change, sign-in, refused sign-in and sign-out, hash-chained. Page with `cursor`.',
          tag: 'Admin: auth',
          role: 'admin',
          querystring: adminEventsQuery,
          responses: {
            200: { description: 'One page of events', schema: adminEventsPage },
            400: badInput('query'),
          },
        }),
        async (request) => {
          const q = parse(adminEventsQuery, request.query, 'query');
          return events.list({ limit: q.limit, before: q.cursor, actor: q.actor, action: q.action });
        },
      );

      // ---- keys ----------------------------------------------------------------------------
      admin.post(
        '/keys',
        adminRoute({
          summary: 'Create an aigov key',
          description:
            'The answer carries the secret (`key`) this once; aigov stores only its hash. Expiry: ' +
            '`expires_in` (relative) or `expires_at`, not both.',
          tag: 'Admin: keys',
          role: 'operator',
          audited: true,
          body: createKeyBody,
          responses: { 201: { description: 'Created', schema: createdKeyView }, 400: badInput('key') },
        }),
        async (request, reply) => {
          const body = parse(createKeyBody, request.body, 'key');
          const expiresAt = body.expires_in
            ? new Date(Date.now() + (parseDurationMs(body.expires_in) ?? 0))
            : body.expires_at
              ? new Date(body.expires_at)
              : null;
          const created = await services.keys.create({
            owner: body.owner,
            name: body.name ?? null,
            team: body.team ?? null,
            tags: body.tags ?? [],
            models: body.models ?? [],
            expiresAt,
          });
          log.info({ admin: 'key.create', keyId: created.stored.id, ip: request.ip }, 'admin created a key');
          await record(request, 'key.create', created.stored.id, null, toKeyView(created.stored));
          return reply.code(201).send({ ...toKeyView(created.stored), key: created.key });
        },
      );

      admin.get(
        '/keys',
        adminRoute({
          summary: 'List keys',
          description:
            'Optionally filtered by team or owner; revoked keys included unless include_revoked=false.',
          tag: 'Admin: keys',
          role: 'operator',
          querystring: listKeysQuery,
          responses: {
            200: { description: 'The keys (never their secrets)', schema: keyList },
            400: badInput('query'),
          },
        }),
        async (request) => {
          const q = parse(listKeysQuery, request.query, 'query');
          const all = await services.keys.list();
          const data = all
            .filter(
              (k) =>
                (q.team === undefined || k.team === q.team) && (q.owner === undefined || k.owner === q.owner),
            )
            .filter((k) => q.include_revoked || !k.revokedAt)
            .map(toKeyView)
            .reverse();
          return { data };
        },
      );

      admin.get(
        '/keys/:id',
        adminRoute({
          summary: 'One key',
          tag: 'Admin: keys',
          role: 'operator',
          params: keyIdParams,
          responses: { 200: { description: 'The key', schema: keyView }, 400: badInput('key id') },
        }),
        async (request) => {
          const { id } = parse(keyIdParams, request.params, 'key id');
          const k = await services.keys.findById(id);
          if (!k) throw notFound(id);
          return toKeyView(k);
        },
      );

      admin.patch(
        '/keys/:id',
        adminRoute({
          summary: "Change a key's name, team, tags or models",
          description: 'Takes effect on the next request (the verifier cache forgets the key).',
          tag: 'Admin: keys',
          role: 'operator',
          audited: true,
          params: keyIdParams,
          body: updateKeyBody,
          responses: {
            200: { description: 'The updated key', schema: keyView },
            400: badInput('key id or update'),
          },
        }),
        async (request) => {
          const { id } = parse(keyIdParams, request.params, 'key id');
          const patch = parse(updateKeyBody, request.body, 'key update');
          const previous = await services.keys.findById(id);
          if (!previous || !(await repo.update(id, patch))) throw notFound(id);
          services.verifier.forget(id);
          log.info(
            { admin: 'key.update', keyId: id, fields: Object.keys(patch), ip: request.ip },
            'admin updated a key',
          );
          const k = await services.keys.findById(id);
          if (!k) throw notFound(id);
          await record(request, 'key.update', id, toKeyView(previous), toKeyView(k));
          return toKeyView(k);
        },
      );

      admin.post(
        '/keys/:id/revoke',
        adminRoute({
          summary: 'Revoke a key',
          description: 'Immediate. Revoking a revoked key changes nothing and answers already_revoked: true.',
          tag: 'Admin: keys',
          role: 'operator',
          audited: true,
          params: keyIdParams,
          responses: {
            200: { description: 'The revoked key', schema: revokedKeyView },
            400: badInput('key id'),
          },
        }),
        async (request) => {
          const { id } = parse(keyIdParams, request.params, 'key id');
          const before = await services.keys.findById(id);
          if (!before) throw notFound(id);
          const revoked = await services.keys.revoke(id);
          services.verifier.forget(id);
          if (revoked) log.info({ admin: 'key.revoke', keyId: id, ip: request.ip }, 'admin revoked a key');
          const k = (await services.keys.findById(id)) ?? before;
          if (revoked) await record(request, 'key.revoke', id, toKeyView(before), toKeyView(k));
          return { ...toKeyView(k), already_revoked: !revoked };
        },
      );

      admin.post(
        '/keys/:id/rotate',
        adminRoute({
          summary: 'Rotate a key',
          description:
            'Issues a new key with the same attributes; the old one keeps working for `grace` (default 24h). ' +
            'The answer carries the new secret this once. A revoked key cannot be rotated (400).',
          tag: 'Admin: keys',
          role: 'operator',
          audited: true,
          params: keyIdParams,
          body: rotateKeyBody,
          responses: {
            200: { description: 'The new key, with the old one', schema: rotatedKeyView },
            400: badInput('key id or rotation, or the key is revoked'),
          },
        }),
        async (request) => {
          const { id } = parse(keyIdParams, request.params, 'key id');
          const { grace } = parse(rotateKeyBody, request.body, 'rotation');
          const before = await services.keys.findById(id);
          if (!before) throw notFound(id);
          if (before.revokedAt)
            throw new AigovError('invalid_request', {
              message: `Key ${id} is revoked and cannot be rotated`,
            });
          const rotated = await services.keys.rotate(id, parseDurationMs(grace) ?? 0);
          if (!rotated) throw notFound(id);
          services.verifier.forget(id);
          log.info(
            { admin: 'key.rotate', keyId: id, newKeyId: rotated.stored.id, grace, ip: request.ip },
            'admin rotated a key',
          );
          await record(request, 'key.rotate', id, toKeyView(before), {
            old: toKeyView(rotated.old),
            new: toKeyView(rotated.stored),
            grace,
          });
          return { ...toKeyView(rotated.stored), key: rotated.key, old: toKeyView(rotated.old) };
        },
      );

      // ---- usage logs ----------------------------------------------------------------------
      admin.get(
        '/logs',
        adminRoute({
          summary: 'Search the usage log (audit rows), newest first',
          description:
            'Keyset-paginated (`cursor` = next_cursor of the previous page). `format=csv` streams every ' +
            'matching row as CSV (an attachment; limit does not apply).',
          tag: 'Admin: logs',
          role: 'viewer',
          querystring: logsQuery,
          responses: {
            200: {
              description: 'One page of rows (JSON), or every matching row (text/csv with format=csv)',
              schema: logsPage,
            },
            400: badInput('query or cursor'),
          },
        }),
        async (request, reply) => {
          const q = parse(logsQuery, request.query, 'query');
          const { limit, cursor, format, ...filters } = q;
          if (format === 'csv') {
            const stamp = new Date().toISOString().replace(/[:.]/g, '-');
            return reply
              .type('text/csv; charset=utf-8')
              .header('content-disposition', `attachment; filename="aigov-logs-${stamp}.csv"`)
              .send(streamLogsCsv(services.db, filters, cursor));
          }
          return queryLogs(services.db, filters, limit, cursor);
        },
      );

      admin.get(
        '/logs/:request_id',
        adminRoute({
          summary: 'The audit row of one request',
          tag: 'Admin: logs',
          role: 'viewer',
          params: logParams,
          responses: { 200: { description: 'The row', schema: logView }, 400: badInput('request id') },
        }),
        async (request) => {
          const { request_id } = parse(logParams, request.params, 'request id');
          const row = await findLog(services.db, request_id);
          if (!row) throw new AigovError('not_found', { message: `No audit row for request ${request_id}` });
          return row;
        },
      );

      // ---- stats ---------------------------------------------------------------------------
      admin.get(
        '/stats',
        adminRoute({
          summary: 'Requests, blocks, tokens and cost over time, with the top teams, models and rules',
          description: 'UTC buckets of an hour (default: the last 24h) or a day (default: the last 30 days).',
          tag: 'Admin: logs',
          role: 'viewer',
          querystring: statsQuery,
          responses: { 200: { description: 'The statistics', schema: statsView }, 400: badInput('query') },
        }),
        async (request) => queryStats(services.db, parse(statsQuery, request.query, 'query')),
      );

      // ---- policies ------------------------------------------------------------------------
      admin.get(
        '/policies',
        adminRoute({
          summary: 'The active policy set',
          description: 'Version, files, rules, limits and the reload status.',
          tag: 'Admin: policies',
          role: 'admin',
          responses: { 200: { description: 'The active set', schema: policySummaryView } },
        }),
        async () => policySummary(services),
      );

      admin.post(
        '/policies/reload',
        adminRoute({
          summary: 'Reload the policy files',
          description: 'An invalid set is refused (400) and the active version stays in force.',
          tag: 'Admin: policies',
          role: 'admin',
          audited: true,
          responses: {
            200: { description: 'The new set is active', schema: policyReloadView },
            400: error('The files do not compile; error.details has the active version and the error'),
          },
        }),
        async (request) => {
          const previous = services.policies.getStatus().version;
          const ok = await services.policies.reload();
          const status = services.policies.getStatus();
          log.info(
            { admin: 'policies.reload', ok, version: status.version, ip: request.ip },
            'admin reloaded policies',
          );
          await record(
            request,
            'policies.reload',
            status.version,
            { version: previous },
            ok ? { version: status.version, rule_count: status.ruleCount } : { refused: status.lastError },
          );
          if (!ok)
            throw new AigovError('invalid_request', {
              message: `Policy reload refused; version ${status.version} stays active: ${status.lastError ?? 'unknown error'}`,
              details: { active_version: status.version, error: status.lastError },
            });
          return { reloaded: true, version: status.version, rule_count: status.ruleCount };
        },
      );

      admin.post(
        '/policies/dry-run',
        adminRoute({
          summary:
            'The decision a request (or MCP tool call) would get, against the active or a proposed policy',
          description:
            'Nothing is forwarded, recorded or counted. Give `request` (a provider body) or `mcp` (a tool ' +
            'call); evaluate as a stored key (`key_id`) and/or given attributes (`key`); `policy` is a ' +
            'proposed YAML file evaluated instead of the active set.',
          tag: 'Admin: policies',
          role: 'admin',
          body: dryRunBody,
          responses: {
            200: { description: 'The decision', schema: dryRunView },
            400: badInput('dry-run request, proposed policy, provider or route'),
          },
        }),
        async (request) => dryRun(services, parse(dryRunBody, request.body, 'dry-run request')),
      );

      // ---- tool-call approvals (MCP) -------------------------------------------------------
      registerApprovalRoutes(admin, services, parse);
    },
    { prefix: '/admin' },
  );
}
