/**
 * Realtime (`GET /v1/realtime?model=`, WebSocket). aigov terminates the client's socket and holds
 * its own upstream socket, so it can read events:
 *   - at the upgrade: the key (Bearer header, or the `openai-insecure-api-key.<key>` subprotocol
 *     browsers use), the model through the governance core (allow-list and request rules), a
 *     limit on concurrent sessions per key, and request limits/budgets (one reservation per
 *     session); a refusal is an HTTP error and no upstream connection is opened;
 *   - client events carrying text (`conversation.item.create`, `session.update` instructions,
 *     `response.create`) go through decideRequest: a blocked one is not forwarded and the client
 *     gets an `error` event naming the rule (the session goes on); redact rules rewrite the event;
 *   - `response.done` usage is summed and reconciles the session's reservation (budgets);
 *   - one audit row per session: decision, blocked events, tokens.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { randomUUID } from 'node:crypto';
import WebSocket, { WebSocketServer, type RawData } from 'ws';
import type { FastifyInstance } from 'fastify';
import { baseRow } from '../audit/record.js';
import { extractApiKey } from '../auth/extract.js';
import type { KeyIdentity } from '../auth/identity.js';
import { AigovError, isAigovError, openAIErrorBody } from '../errors.js';
import { decideRequest, resolveForProxy } from '../governance/index.js';
import type { Reservation } from '../limits/limiter.js';
import { applyRedactions } from '../policy/index.js';
import { costUsd, priceFor } from '../providers/pricing.js';
import type { ProviderRuntime } from '../providers/registry.js';
import type { NormalizedRequest, TextSlot } from '../providers/types.js';
import type { Services } from '../services.js';

const ROUTE = '/v1/realtime';
const INSECURE_KEY_PROTOCOL = 'openai-insecure-api-key.';
/** Concurrent Realtime sessions one key may hold on one replica. */
export const MAX_SESSIONS_PER_KEY = 4;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function offeredProtocols(req: IncomingMessage): string[] {
  const raw = req.headers['sec-websocket-protocol'];
  return typeof raw === 'string'
    ? raw
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean)
    : [];
}

function keyOf(req: IncomingMessage): string | null {
  const fromHeader = extractApiKey(req.headers);
  if (fromHeader) return fromHeader;
  const p = offeredProtocols(req).find((x) => x.startsWith(INSECURE_KEY_PROTOCOL));
  return p ? p.slice(INSECURE_KEY_PROTOCOL.length) : null;
}

function refuse(socket: Duplex, err: AigovError): void {
  const body = JSON.stringify(openAIErrorBody(err));
  const reason = { 401: 'Unauthorized', 403: 'Forbidden', 429: 'Too Many Requests', 404: 'Not Found' }[
    err.status as 401
  ];
  socket.end(
    `HTTP/1.1 ${err.status} ${reason ?? 'Error'}\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/** Text an event carries, with paths into the event (so redaction can rewrite it). */
export function realtimeEventTexts(event: Record<string, unknown>): TextSlot[] {
  const out: TextSlot[] = [];
  const parts = (content: unknown, base: (string | number)[], role: TextSlot['role']): void => {
    if (!Array.isArray(content)) return;
    content.forEach((part, i) => {
      if (!isObject(part)) return;
      for (const field of ['text', 'transcript'] as const)
        if (typeof part[field] === 'string') out.push({ path: [...base, i, field], role, text: part[field] });
    });
  };
  const item = (it: unknown, base: (string | number)[]): void => {
    if (!isObject(it)) return;
    const role = it['role'] === 'system' ? 'system' : it['role'] === 'assistant' ? 'assistant' : 'user';
    parts(it['content'], [...base, 'content'], role);
    if (typeof it['output'] === 'string')
      out.push({ path: [...base, 'output'], role: 'tool', text: it['output'] });
  };
  switch (event['type']) {
    case 'conversation.item.create':
      item(event['item'], ['item']);
      break;
    case 'session.update': {
      const s = event['session'];
      if (isObject(s) && typeof s['instructions'] === 'string')
        out.push({ path: ['session', 'instructions'], role: 'system', text: s['instructions'] });
      break;
    }
    case 'response.create': {
      const r = event['response'];
      if (!isObject(r)) break;
      if (typeof r['instructions'] === 'string')
        out.push({ path: ['response', 'instructions'], role: 'system', text: r['instructions'] });
      if (Array.isArray(r['input'])) r['input'].forEach((it, i) => item(it, ['response', 'input', i]));
      break;
    }
  }
  return out;
}

export function registerRealtime(app: FastifyInstance, services: Services): void {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: 16 * 1024 * 1024,
    // The key subprotocol is never echoed: only `realtime` (or nothing) is accepted.
    handleProtocols: (protocols) => (protocols.has('realtime') ? 'realtime' : false),
  });
  const sessions = new Map<string, number>();
  const open = new Set<WebSocket>();
  const prefixes = new Map<string, string | null>([[ROUTE, null]]);
  for (const p of services.providers.all())
    if (p.family === 'openai') prefixes.set(`/${p.name}${ROUTE}`, p.name);

  app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://aigov.local');
    if (!prefixes.has(url.pathname)) {
      refuse(socket, new AigovError('not_found', { message: `No WebSocket route ${url.pathname}` }));
      return;
    }
    upgrade(req, socket, head, url, prefixes.get(url.pathname) ?? null).catch((err: unknown) => {
      services.logger.error({ err }, 'realtime upgrade failed');
      if (!socket.destroyed) refuse(socket, new AigovError('internal_error'));
    });
  });
  app.addHook('onClose', async () => {
    for (const ws of open) ws.terminate();
    wss.close();
  });

  async function upgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    url: URL,
    providerName: string | null,
  ): Promise<void> {
    const started = performance.now();
    const row = baseRow(
      { id: randomUUID(), method: 'GET', ip: req.socket.remoteAddress ?? '' },
      providerName ? `/${providerName}${ROUTE}` : ROUTE,
      null,
    );
    row.stream = true;
    const model = url.searchParams.get('model');
    row.model = model;
    const set = services.policies.current();
    let key: KeyIdentity | null = null;
    let provider: ProviderRuntime | null = null;
    let reservation: Reservation | null = null;
    const norm = (texts: TextSlot[]): NormalizedRequest => ({
      provider: provider?.name ?? 'openai',
      family: 'openai',
      route: ROUTE,
      model,
      texts,
      prompt: texts.map((t) => t.text).join('\n'),
      maxTokens: null,
      stream: true,
      metadata: {},
    });
    const record = (): void => {
      row.latencyMs = Math.round((performance.now() - started) * 1000) / 1000;
      services.metrics.observeCall(row);
      services.audit.enqueue(row);
    };
    try {
      const raw = keyOf(req);
      const verified = raw ? await services.verifier.verify(raw) : null;
      if (!verified) throw new AigovError('invalid_api_key', { message: 'Missing aigov API key' });
      if (!verified.ok) throw new AigovError(verified.code);
      key = verified.identity;
      row.keyId = key.id;
      row.owner = key.owner;
      row.team = key.team;
      if (!model) throw new AigovError('invalid_request', { message: 'Missing ?model= on /v1/realtime' });
      provider = resolveForProxy(services.providers, 'openai', providerName, { model });
      row.provider = provider.name;
      const decision = decideRequest(set, norm([]), key);
      row.policyIds = decision.ruleIds.slice();
      if (decision.refusal) throw decision.refusal;
      if ((sessions.get(key.id) ?? 0) >= MAX_SESSIONS_PER_KEY)
        throw new AigovError('rate_limited', {
          providerCode: 'realtime_sessions',
          message: `This key already holds ${MAX_SESSIONS_PER_KEY} Realtime sessions`,
          retryAfter: 5,
        });
      if (!services.audit.accepting()) throw new AigovError('audit_unavailable');
      const limits = await services.limiter.reserve(set.limitRules, norm([]), key, { tokens: 0, costUsd: 0 });
      if (!limits.allowed) {
        row.policyIds.push(limits.rule.id);
        throw limits.error;
      }
      reservation = limits.reservation;
    } catch (err) {
      const e = isAigovError(err) ? err : new AigovError('internal_error', { cause: err });
      row.decision = e.status < 500 ? 'block' : 'error';
      row.statusCode = e.status;
      row.error = e.code;
      record();
      refuse(socket, e);
      return;
    }
    const identity = key;
    const target = provider;
    const upstreamReq = target.adapter.buildUpstream({
      baseUrl: target.baseUrl,
      route: ROUTE,
      search: url.search,
      incomingHeaders: {},
      credential: target.credential,
      requestId: row.requestId,
    });
    const headers = { ...upstreamReq.headers };
    delete headers['content-type'];
    delete headers['accept-encoding'];
    const protocols = offeredProtocols(req).filter((p) => !p.startsWith(INSECURE_KEY_PROTOCOL));
    const upstream = new WebSocket(upstreamReq.url.replace(/^http/, 'ws'), protocols, { headers });
    const sentAt = performance.now();
    const opened = await new Promise<boolean>((resolve) => {
      upstream.once('open', () => {
        // Events the provider sends at once (session.created) wait until the client is attached.
        upstream.pause();
        resolve(true);
      });
      upstream.once('error', () => resolve(false));
      upstream.once('unexpected-response', (_r, res) => {
        res.resume();
        resolve(false);
      });
    });
    if (!opened) {
      upstream.terminate();
      await services.limiter.release(reservation!);
      row.decision = 'error';
      row.statusCode = 502;
      row.error = 'upstream_error';
      record();
      refuse(
        socket,
        new AigovError('upstream_error', { message: `Provider ${target.name} refused the Realtime session` }),
      );
      return;
    }
    sessions.set(identity.id, (sessions.get(identity.id) ?? 0) + 1);
    wss.handleUpgrade(req, socket, head, (client) => {
      open.add(client);
      row.statusCode = 101;
      let events = 0;
      let blocked = 0;
      let prompt = 0;
      let completion = 0;
      let usageSeen = false;
      const blockedRules: Record<string, unknown>[] = [];
      let closed = false;
      const close = (): void => {
        if (closed) return;
        closed = true;
        open.delete(client);
        const n = (sessions.get(identity.id) ?? 1) - 1;
        if (n <= 0) sessions.delete(identity.id);
        else sessions.set(identity.id, n);
        if (client.readyState === WebSocket.OPEN) client.close();
        if (upstream.readyState === WebSocket.OPEN) upstream.close();
        row.upstreamMs = Math.round((performance.now() - sentAt) * 1000) / 1000;
        if (usageSeen) {
          row.promptTokens = prompt;
          row.completionTokens = completion;
          row.totalTokens = prompt + completion;
          row.costUsd = costUsd(
            { promptTokens: prompt, completionTokens: completion, totalTokens: prompt + completion },
            priceFor(model, services.pricing),
          );
        }
        row.reasons = [...blockedRules, { realtime: true, client_events: events, blocked_events: blocked }];
        record();
        void services.limiter.reconcile(reservation!, {
          totalTokens: usageSeen ? prompt + completion : null,
          costUsd: row.costUsd,
        });
      };
      client.on('message', (data: RawData, isBinary: boolean) => {
        events++;
        if (isBinary) return upstream.send(data, { binary: true });
        let event: unknown;
        try {
          event = JSON.parse(data.toString());
        } catch {
          return upstream.send(data.toString());
        }
        if (!isObject(event)) return upstream.send(data.toString());
        const texts = realtimeEventTexts(event);
        if (texts.length === 0) return upstream.send(data.toString());
        const decision = decideRequest(set, norm(texts), identity);
        for (const id of decision.ruleIds) if (!row.policyIds.includes(id)) row.policyIds.push(id);
        if (decision.refusal) {
          blocked++;
          row.decision = 'block';
          const rule = decision.refusal.providerCode;
          blockedRules.push({
            policy: rule,
            action: 'block',
            message: decision.refusal.message,
            event: event['type'],
          });
          client.send(
            JSON.stringify({
              type: 'error',
              event_id: `event_aigov_${randomUUID()}`,
              error: {
                type: 'invalid_request_error',
                code: rule,
                message: `${String(event['type'])} blocked by ${rule}: ${decision.refusal.message}`,
                param: null,
                event_id: typeof event['event_id'] === 'string' ? event['event_id'] : null,
              },
            }),
          );
          return;
        }
        if (decision.decision === 'redact' && decision.policy.redactions.length > 0) {
          if (row.decision === 'allow') row.decision = 'redact';
          return upstream.send(JSON.stringify(applyRedactions(event, decision.policy.redactions)));
        }
        upstream.send(data.toString());
      });
      upstream.on('message', (data: RawData, isBinary: boolean) => {
        if (!isBinary) {
          const text = data.toString();
          if (text.includes('"response.done"')) {
            try {
              const ev = JSON.parse(text) as {
                type?: string;
                response?: { usage?: Record<string, unknown> };
              };
              const u = ev.type === 'response.done' ? ev.response?.usage : undefined;
              if (u && typeof u['input_tokens'] === 'number' && typeof u['output_tokens'] === 'number') {
                usageSeen = true;
                prompt += u['input_tokens'];
                completion += u['output_tokens'];
              }
            } catch {
              // Not JSON: relayed as it is.
            }
          }
          client.send(text);
        } else client.send(data, { binary: true });
      });
      client.on('close', close);
      upstream.on('close', close);
      upstream.resume();
      client.on('error', close);
      upstream.on('error', close);
    });
  }
}
