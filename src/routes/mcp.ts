/**
 * /mcp/{server}: MCP Streamable HTTP in front of a configured upstream MCP server. Each JSON-RPC
 * request is governed on its own: tools/call by `on: tool_call` rules, approvals and tool limits
 * before it is forwarded; tools/list answers without the tools the caller may not call; tool
 * results by `on: tool_result` rules before they are relayed (JSON answers and SSE events alike).
 * Everything else (initialize, notifications, the client's answers to server requests, the GET
 * stream, DELETE) is relayed unchanged. One audit row per JSON-RPC request.
 */
import { PassThrough, type Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Dispatcher } from 'undici';
import { AigovError, isAigovError } from '../errors.js';
import type { KeyIdentity } from '../auth/identity.js';
import { authenticate } from '../http/authenticate.js';
import { baseRow, elapsedMs } from '../audit/record.js';
import type { AuditRow } from '../audit/row.js';
import { contentFor } from '../audit/content.js';
import { canonicalJson } from '../audit/canonical.js';
import {
  decideToolCall,
  decideToolResult,
  hasToolResultRules,
  toolHiddenBy,
  toolLimitSubject,
  type ToolCall,
} from '../governance/index.js';
import { applyRedactions, type CompiledPolicySet } from '../policy/index.js';
import type { Reservation } from '../limits/limiter.js';
import { SseParser, serializeSseEvent, type SseEvent } from '../providers/sse.js';
import { argumentsHash } from '../approvals/store.js';
import {
  AIGOV_RPC,
  RPC,
  filterToolList,
  isJSONRPCErrorResponse,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  parseBody,
  rpcError,
  toolCallOf,
  toolResultTexts,
  withArguments,
  type RequestId,
} from '../mcp/messages.js';
import {
  RETURNED_HEADERS,
  sendToServer,
  upstreamHeaders,
  type McpServerRuntime,
} from '../providers/mcp-servers.js';
import type { Services } from '../services.js';

type Json = Record<string, unknown>;

/** A forwarded JSON-RPC request waiting for its answer. */
interface Pending {
  method: string;
  row: AuditRow;
  call: ToolCall | null;
  /** The call's own decision, combined with the result's into the row. */
  callRuleIds: string[];
  callReasons: { policy: string; action: string; message: string }[];
  redacted: boolean;
  reservation: Reservation | null;
}

interface Exchange {
  services: Services;
  server: McpServerRuntime;
  key: KeyIdentity;
  set: CompiledPolicySet;
  pending: Map<RequestId, Pending>;
}

/** Refusals of the HTTP request itself: the catalogue's status, a JSON-RPC error body (id null). */
function sendRpcHttpError(reply: FastifyReply, err: AigovError, id: RequestId | null = null): FastifyReply {
  for (const [name, value] of Object.entries(err.headers)) reply.header(name, value);
  if (err.retryAfter !== undefined)
    reply.header('retry-after', String(Math.max(1, Math.ceil(err.retryAfter))));
  const code =
    err.status === 401
      ? AIGOV_RPC.unauthorized
      : err.status === 403
        ? AIGOV_RPC.policyBlocked
        : err.status === 429
          ? AIGOV_RPC.rateLimited
          : err.status === 503
            ? AIGOV_RPC.unavailable
            : err.status >= 500
              ? AIGOV_RPC.upstream
              : RPC.invalidRequest;
  return reply
    .code(err.status)
    .type('application/json')
    .send(rpcError(id, code, err.message, { code: err.providerCode }));
}

function record(services: Services, row: AuditRow, reply: FastifyReply): void {
  row.latencyMs ??= elapsedMs(reply);
  services.audit.enqueue(row);
  services.metrics.observeRequest(row);
}

function contentOf(services: Services, args: unknown, resultTexts: string[] | null): string | null {
  const mode = services.config.audit.content;
  if (mode === 'none') return null;
  const parts = [`arguments: ${canonicalJson(args ?? {})}`];
  if (resultTexts !== null) parts.push(`result: ${resultTexts.join('\n')}`);
  return contentFor(mode, { texts: [], prompt: parts.join('\n') });
}

/**
 * Governs one tools/call before it is forwarded. Returns the message to forward, or the local
 * JSON-RPC error that answers it instead (the call never reaches the server).
 */
async function governCall(
  x: Exchange,
  m: Json,
  id: RequestId,
  row: AuditRow,
  requestId: string,
): Promise<{ forward: Json; pending: Pending } | { local: Json }> {
  const parsed = toolCallOf(m);
  if (!parsed.ok) {
    row.decision = 'block';
    row.statusCode = 400;
    row.error = 'invalid_params';
    return { local: rpcError(id, RPC.invalidParams, parsed.message) };
  }
  row.tool = parsed.tool;
  const call: ToolCall = { server: x.server.name, tool: parsed.tool, arguments: parsed.arguments };
  const d = decideToolCall(x.set, call, x.key);
  row.policyIds = d.ruleIds;
  row.riskScore = d.riskScore;
  row.reasons = d.reasons.length ? d.reasons : null;
  row.content = contentOf(x.services, parsed.arguments, null);
  const refuse = (
    code: number,
    message: string,
    data: Json,
    status: number,
    error: string,
  ): { local: Json } => {
    row.decision = 'block';
    row.statusCode = status;
    row.error = error;
    return { local: rpcError(id, code, message, { ...data, request_id: requestId }) };
  };
  if (d.refusal !== null)
    return refuse(
      AIGOV_RPC.policyBlocked,
      d.refusal.message,
      { rule: d.refusal.providerCode, reasons: d.reasons },
      403,
      d.refusal.providerCode,
    );

  const limits = await x.services.limiter.reserve(x.set.toolLimitRules, toolLimitSubject(call), x.key);
  row.degraded = limits.degraded;
  if (!limits.allowed) {
    row.policyIds = [...row.policyIds, limits.rule.id];
    return refuse(
      limits.error.code === 'limits_unavailable' ? AIGOV_RPC.unavailable : AIGOV_RPC.rateLimited,
      limits.error.message,
      { rule: limits.rule.id, retry_after: limits.retryAfterSeconds },
      limits.error.status,
      limits.error.code,
    );
  }
  const reservation = limits.reservation;

  if (d.decision === 'require_approval') {
    const binding = {
      keyId: x.key.id,
      server: call.server,
      tool: call.tool,
      argsSha256: argumentsHash(call.arguments),
      policyVersion: x.set.version,
    };
    try {
      const used = await x.services.approvals.consume(binding, requestId);
      if (used === null) {
        await x.services.limiter.release(reservation);
        const { approval } = await x.services.approvals.request(binding, {
          owner: x.key.owner,
          team: x.key.team,
          ruleIds: d.approvalRules,
          arguments: contentFor(x.services.config.audit.content === 'full' ? 'full' : 'redacted', {
            texts: [],
            prompt: canonicalJson(call.arguments),
          }),
          requestId,
        });
        row.approvalId = approval.id;
        return refuse(
          AIGOV_RPC.approvalRequired,
          `Tool call ${call.tool} needs approval ${approval.id} (policy ${d.approvalRules.join(', ')}); ` +
            'retry the same call once it is approved',
          {
            approval_id: approval.id,
            expires_at: approval.expiresAt.toISOString(),
            rules: d.approvalRules,
          },
          403,
          'approval_required',
        );
      }
      row.approvalId = used;
    } catch (err) {
      await x.services.limiter.release(reservation);
      x.services.logger.error({ err: (err as Error).message }, 'approval store unavailable');
      return refuse(
        AIGOV_RPC.unavailable,
        'Approval store unavailable; retry later',
        {},
        503,
        'approvals_unavailable',
      );
    }
  }
  row.decision = d.decision === 'redact' ? 'redact' : 'allow';
  const forward = d.redactedArguments !== undefined ? withArguments(m, d.redactedArguments) : m;
  return {
    forward,
    pending: {
      method: 'tools/call',
      row,
      call,
      callRuleIds: d.ruleIds,
      callReasons: d.reasons,
      redacted: d.decision === 'redact',
      reservation,
    },
  };
}

/** Governs one answer from the server (a tools/list or tools/call result) before it is relayed. */
function governAnswer(x: Exchange, msg: unknown, reply: FastifyReply): unknown {
  if (!isJSONRPCResultResponse(msg) && !isJSONRPCErrorResponse(msg)) return msg;
  const id = (msg as { id?: RequestId }).id;
  const p = id === undefined ? undefined : x.pending.get(id);
  if (p === undefined || id === undefined) return msg;
  x.pending.delete(id);
  const row = p.row;
  let out: unknown = msg;
  if (isJSONRPCErrorResponse(msg)) {
    row.error = `rpc_error ${msg.error.code}`;
  } else if (p.method === 'tools/list') {
    const filtered = filterToolList(msg.result, (name) => {
      const rule = toolHiddenBy(x.set, x.server.name, name, x.key);
      if (rule !== null && !row.policyIds.includes(rule)) row.policyIds.push(rule);
      return rule === null;
    });
    if (filtered !== null && filtered.hidden.length > 0) {
      row.reasons = [
        {
          policy: row.policyIds.join(','),
          action: 'block',
          message: `hidden: ${filtered.hidden.join(', ')}`,
        },
      ];
      out = { ...msg, result: filtered.result };
    }
  } else if (p.method === 'tools/call' && p.call !== null) {
    const texts = toolResultTexts(msg.result);
    if (texts !== null) {
      row.content = contentOf(
        x.services,
        p.call.arguments,
        texts.map((t) => t.text),
      );
      if (hasToolResultRules(x.set)) {
        const d = decideToolResult(x.set, p.call, x.key, texts);
        row.policyIds = [...p.callRuleIds, ...d.policy.matchedPolicyIds];
        const reasons = [
          ...p.callReasons,
          ...d.policy.reasons.map((r) => ({ policy: r.policy, action: r.action, message: r.message })),
        ];
        row.reasons = reasons.length ? reasons : null;
        row.riskScore = Math.max(row.riskScore ?? 0, d.policy.riskScore);
        if (d.refusal !== null) {
          row.decision = 'block';
          row.error = d.refusal.providerCode;
          out = rpcError(id, AIGOV_RPC.policyBlocked, d.refusal.message, {
            rule: d.refusal.providerCode,
            reasons: d.policy.reasons.map((r) => ({
              policy: r.policy,
              action: r.action,
              message: r.message,
            })),
            request_id: row.requestId,
          });
        } else if (d.redactions.length > 0) {
          row.decision = 'redact';
          out = { ...msg, result: applyRedactions(msg.result, d.redactions) };
        }
      }
    }
  }
  record(x.services, row, reply);
  return out;
}

/** Rows of requests the server never answered (stream ended, client left, upstream failed). */
function finishUnanswered(x: Exchange, reply: FastifyReply, error: string, aborted: boolean): void {
  for (const p of x.pending.values()) {
    p.row.error ??= error;
    p.row.aborted = aborted;
    if (p.row.decision !== 'block') p.row.decision = 'error';
    record(x.services, p.row, reply);
  }
  x.pending.clear();
}

function copyHeaders(res: Dispatcher.ResponseData, reply: FastifyReply): void {
  for (const name of RETURNED_HEADERS) {
    const v = res.headers[name];
    if (typeof v === 'string') reply.header(name, v);
  }
}

function contentType(res: Dispatcher.ResponseData): string {
  const v = res.headers['content-type'];
  return (typeof v === 'string' ? v : '').split(';', 1)[0]!.trim().toLowerCase();
}

/** An SSE answer, event by event: responses to governed requests are checked before they are relayed. */
function relaySse(
  x: Exchange,
  res: Dispatcher.ResponseData,
  reply: FastifyReply,
  locals: Json[],
  abort: AbortController,
): FastifyReply {
  const out = new PassThrough();
  for (const p of x.pending.values()) p.row.stream = true;
  const parser = new SseParser({ maxEventSize: 16 * 1024 * 1024 });
  const transform = (ev: SseEvent): string => {
    let msg: unknown;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      return serializeSseEvent(ev);
    }
    const governed = governAnswer(x, msg, reply);
    return governed === msg
      ? serializeSseEvent(ev)
      : serializeSseEvent({ ...ev, data: JSON.stringify(governed) });
  };
  const write = async (text: string): Promise<void> => {
    if (!out.write(text)) await new Promise<void>((resolve) => out.once('drain', resolve));
  };
  void (async () => {
    try {
      for (const local of locals)
        await write(serializeSseEvent({ event: 'message', data: JSON.stringify(local) }));
      for await (const chunk of res.body) {
        for (const ev of parser.push(chunk as Buffer)) await write(transform(ev));
      }
      for (const ev of parser.end()) await write(transform(ev));
      finishUnanswered(x, reply, 'no_response', false);
    } catch {
      finishUnanswered(
        x,
        reply,
        abort.signal.aborted ? 'client_closed' : 'upstream_stream_error',
        abort.signal.aborted,
      );
    } finally {
      out.end();
    }
  })();
  return reply.type('text/event-stream').header('cache-control', 'no-cache').send(out);
}

async function handlePost(
  services: Services,
  server: McpServerRuntime,
  key: KeyIdentity,
  request: FastifyRequest,
  reply: FastifyReply,
  requestRow: AuditRow,
): Promise<FastifyReply> {
  const text = typeof request.body === 'string' ? request.body : '';
  const parsed = parseBody(text);
  if (!parsed.ok) {
    requestRow.decision = 'block';
    requestRow.statusCode = 400;
    requestRow.error = parsed.code === RPC.parseError ? 'parse_error' : 'invalid_request';
    record(services, requestRow, reply);
    return reply
      .code(400)
      .type('application/json')
      .send(rpcError(null, parsed.code, parsed.message));
  }
  const x: Exchange = { services, server, key, set: services.policies.current(), pending: new Map() };
  const locals: Json[] = [];
  const forward: Json[] = [];
  const route = `/mcp/${server.name}`;
  let requests = 0;
  for (const [i, m] of parsed.messages.entries()) {
    if (!isJSONRPCRequest(m)) {
      forward.push(m);
      continue;
    }
    const requestId = parsed.batch ? `${request.id}.${i}` : request.id;
    const row = baseRow({ id: requestId, method: 'POST', ip: request.ip }, route, key);
    row.provider = server.name;
    row.rpcMethod = m.method;
    requests++;
    if (m.method === 'tools/call') {
      const outcome = await governCall(x, m, m.id, row, requestId);
      if ('local' in outcome) {
        locals.push(outcome.local);
        record(services, row, reply);
        continue;
      }
      forward.push(outcome.forward);
      x.pending.set(m.id, outcome.pending);
    } else {
      forward.push(m);
      x.pending.set(m.id, {
        method: m.method,
        row,
        call: null,
        callRuleIds: [],
        callReasons: [],
        redacted: false,
        reservation: null,
      });
    }
  }
  // A POST of notifications or responses only has no request row of its own: record the POST.
  if (requests === 0) {
    requestRow.rpcMethod =
      typeof parsed.messages[0]?.method === 'string' ? parsed.messages[0].method : 'response';
    requestRow.provider = server.name;
  }
  const answerLocally = (): FastifyReply =>
    reply
      .code(200)
      .type('application/json')
      .send(parsed.batch ? locals : locals[0]);
  if (forward.length === 0) return answerLocally();

  const abort = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) abort.abort();
  });
  let res: Dispatcher.ResponseData;
  const sentAt = performance.now();
  try {
    res = await sendToServer(server, {
      method: 'POST',
      headers: upstreamHeaders(server, request.headers, request.id, true),
      body: JSON.stringify(parsed.batch ? forward : forward[0]),
      signal: abort.signal,
    });
  } catch (err) {
    const e = isAigovError(err) ? err : new AigovError('upstream_error', { cause: err });
    for (const p of x.pending.values()) {
      if (p.reservation !== null) await services.limiter.release(p.reservation);
      p.row.statusCode = e.status;
    }
    finishUnanswered(x, reply, e.code, false);
    if (requests === 0) {
      requestRow.decision = 'error';
      requestRow.statusCode = e.status;
      requestRow.error = e.code;
      record(services, requestRow, reply);
    }
    const single =
      !parsed.batch && isJSONRPCRequest(parsed.messages[0]) ? (parsed.messages[0].id as RequestId) : null;
    return sendRpcHttpError(reply, e, single);
  }
  const upstreamMs = Math.round((performance.now() - sentAt) * 1000) / 1000;
  for (const p of x.pending.values()) {
    p.row.upstreamMs = upstreamMs;
    p.row.statusCode = res.statusCode;
  }
  copyHeaders(res, reply);
  const type = contentType(res);

  if (requests === 0) {
    requestRow.statusCode = locals.length > 0 ? 200 : res.statusCode;
    requestRow.upstreamMs = upstreamMs;
    record(services, requestRow, reply);
  }
  if (res.statusCode === 202 || (x.pending.size === 0 && res.statusCode < 300)) {
    await res.body.dump();
    if (locals.length > 0) return answerLocally();
    return reply.code(res.statusCode).send();
  }
  if (res.statusCode >= 300 || (type !== 'application/json' && type !== 'text/event-stream')) {
    // Session gone (404), bad request, method not allowed...: the server's answer as it is.
    for (const p of x.pending.values()) p.row.error ??= `upstream_${res.statusCode}`;
    finishUnanswered(x, reply, `upstream_${res.statusCode}`, false);
    return reply.code(res.statusCode).send(res.body);
  }
  reply.code(res.statusCode);
  if (type === 'text/event-stream') return relaySse(x, res, reply, locals, abort);

  const bodyText = await res.body.text();
  let answer: unknown;
  try {
    answer = JSON.parse(bodyText);
  } catch {
    finishUnanswered(x, reply, 'upstream_invalid_json', false);
    return sendRpcHttpError(
      reply,
      new AigovError('upstream_error', { message: `MCP server ${server.name} sent invalid JSON` }),
    );
  }
  const answers = (Array.isArray(answer) ? answer : [answer]).map((a) => governAnswer(x, a, reply));
  finishUnanswered(x, reply, 'no_response', false);
  const all = [...answers, ...locals];
  return reply.type('application/json').send(parsed.batch || all.length > 1 ? all : all[0]);
}

/** GET (the server's stream) and DELETE (end the session): relayed as they are, one row each. */
async function handleOther(
  services: Services,
  server: McpServerRuntime,
  request: FastifyRequest,
  reply: FastifyReply,
  row: AuditRow,
): Promise<FastifyReply> {
  const method = request.method === 'DELETE' ? 'DELETE' : 'GET';
  const abort = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) abort.abort();
  });
  row.provider = server.name;
  const sentAt = performance.now();
  let res: Dispatcher.ResponseData;
  try {
    res = await sendToServer(server, {
      method,
      headers: upstreamHeaders(server, request.headers, request.id, false),
      body: null,
      signal: abort.signal,
    });
  } catch (err) {
    const e = isAigovError(err) ? err : new AigovError('upstream_error', { cause: err });
    row.decision = 'error';
    row.statusCode = e.status;
    row.error = e.code;
    record(services, row, reply);
    return sendRpcHttpError(reply, e);
  }
  row.upstreamMs = Math.round((performance.now() - sentAt) * 1000) / 1000;
  row.statusCode = res.statusCode;
  row.stream = contentType(res) === 'text/event-stream';
  record(services, row, reply);
  copyHeaders(res, reply);
  if (row.stream) reply.header('cache-control', 'no-cache');
  return reply.code(res.statusCode).send(res.body as Readable);
}

export function registerMcpRoutes(app: FastifyInstance, services: Services): void {
  if (services.mcp.names().length === 0) return;
  void app.register(async (scope) => {
    // The body stays text: a JSON parse error must be answered as JSON-RPC (-32700), not as an
    // OpenAI-shaped 400, and the messages are read with the SDK's schemas, not Fastify's.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) =>
      done(null, body),
    );
    scope.setErrorHandler((err: Error, request, reply) => {
      if (isAigovError(err)) return sendRpcHttpError(reply, err);
      const status = (err as { statusCode?: number }).statusCode ?? 500;
      if (status === 413) return sendRpcHttpError(reply, new AigovError('body_too_large'));
      if (status === 415) return sendRpcHttpError(reply, new AigovError('unsupported_media_type'));
      if (status >= 400 && status < 500)
        return sendRpcHttpError(reply, new AigovError('invalid_request', { message: err.message }));
      request.log.error({ err, requestId: request.id }, 'MCP request failed');
      return sendRpcHttpError(reply, new AigovError('internal_error'));
    });
    scope.route({
      method: ['GET', 'POST', 'DELETE'],
      url: '/mcp/:server',
      handler: async (request, reply) => {
        const name = (request.params as { server: string }).server;
        const server = services.mcp.get(name);
        const route = `/mcp/${name}`;
        const row = baseRow(request, route, null);
        if (server === undefined) {
          return sendRpcHttpError(reply, new AigovError('not_found', { message: `No MCP server ${name}` }));
        }
        let key: KeyIdentity;
        try {
          key = await authenticate(services.verifier, request);
        } catch (err) {
          if (!isAigovError(err)) throw err;
          row.decision = 'block';
          row.statusCode = err.status;
          row.error = err.code;
          row.provider = server.name;
          record(services, row, reply);
          if (err.status === 401) reply.header('www-authenticate', 'Bearer realm="aigov"');
          return sendRpcHttpError(reply, err);
        }
        row.keyId = key.id;
        row.owner = key.owner;
        row.team = key.team;
        if (request.method === 'POST') return handlePost(services, server, key, request, reply, row);
        return handleOther(services, server, request, reply, row);
      },
    });
  });
}
