import type { FastifyReply, FastifyRequest } from 'fastify';
import { AigovError, isAigovError } from '../errors.js';
import type { KeyIdentity } from '../auth/identity.js';
import { authenticate } from '../routes/authenticate.js';
import { keyAllowsModel } from '../auth/model-access.js';
import { sendError } from '../routes/render-error.js';
import { baseRow } from '../audit/record.js';
import type { AuditRow } from '../audit/row.js';
import { evaluate, applyRedactions } from '../policy/index.js';
import type { CompiledPolicySet, Decision } from '../policy/index.js';
import type { RouteSpec } from '../providers/adapter.js';
import type { ProviderRuntime } from '../providers/registry.js';
import type { NormalizedRequest, ProviderFamily, Usage } from '../providers/types.js';
import { costUsd, priceFor } from '../providers/pricing.js';
import type { Reservation } from '../limits/limiter.js';
import type { Services } from '../services.js';
import { CallAbort } from './call-abort.js';
import { readBody, sendUpstream, type UpstreamCall } from './forward.js';
import { passBackHeaders } from './response-headers.js';
import { relayStream } from './stream-relay.js';
import { upstreamError } from './upstream-errors.js';

/** Non-streamed provider answers larger than this are refused rather than buffered. */
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;
/** Output-side policies on streams look at this much of the most recent text. */
const STREAM_WINDOW_CHARS = 4096;

const UNKNOWN_USAGE: Usage = { promptTokens: null, completionTokens: null, totalTokens: null };

/** Everything one governed call accumulates on its way through the stages. */
interface Call {
  services: Services;
  request: FastifyRequest;
  reply: FastifyReply;
  spec: RouteSpec;
  family: ProviderFamily;
  row: AuditRow;
  started: number;
  key: KeyIdentity | null;
  provider: ProviderRuntime | null;
  norm: NormalizedRequest | null;
  policySet: CompiledPolicySet;
  decision: Decision | null;
  reservation: Reservation | null;
  usage: Usage;
  upstreamMs: number;
  /** The audit row was handed to the writer (exactly once per call). */
  recorded: boolean;
}

function modelOf(body: unknown): string | null {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return null;
  const m = (body as Record<string, unknown>).model;
  return typeof m === 'string' ? m : null;
}

// --- stages ----------------------------------------------------------------------------------

async function authenticateStage(call: Call): Promise<void> {
  const key = await authenticate(call.services.verifier, call.request);
  call.key = key;
  call.row.keyId = key.id;
  call.row.owner = key.owner;
  call.row.team = key.team;
}

function selectProvider(call: Call, providerName: string | null): ProviderRuntime {
  const { providers } = call.services;
  const provider = providerName
    ? providers.get(providerName)
    : providers.resolve(call.family, modelOf(call.request.body));
  if (!provider)
    throw new AigovError('provider_not_configured', { message: `No ${call.family} provider is configured` });
  call.provider = provider;
  call.row.provider = provider.name;
  return provider;
}

function normaliseStage(call: Call, provider: ProviderRuntime): NormalizedRequest {
  const norm = provider.adapter.normalize({
    route: call.spec.path,
    provider: provider.name,
    body: call.request.body,
  });
  call.norm = norm;
  call.row.model = norm.model;
  call.row.stream = norm.stream;
  return norm;
}

async function decideStage(call: Call, norm: NormalizedRequest, key: KeyIdentity): Promise<void> {
  if (!keyAllowsModel(key, norm.model))
    throw new AigovError('model_not_allowed', {
      message: `This key may not use model ${norm.model ?? '(none)'}`,
      providerCode: 'model_not_allowed',
    });
  const decision = evaluate(call.policySet, norm, key);
  call.decision = decision;
  call.row.decision = decision.decision;
  call.row.policyIds = [...decision.matchedPolicyIds]; // later stages append limit and output rules
  call.row.riskScore = decision.riskScore;
  call.row.reasons =
    decision.reasons.length || decision.monitor.length ? [...decision.reasons, ...decision.monitor] : null;
  if (!decision.allowed) {
    const reason = decision.reasons.find((r) => r.policy === decision.blockedBy);
    throw new AigovError('policy_blocked', {
      providerCode: decision.blockedBy ?? 'policy_blocked',
      message: reason?.message || `Request blocked by policy ${decision.blockedBy ?? ''}`.trim(),
    });
  }
  if (!call.services.audit.accepting()) throw new AigovError('audit_unavailable');
  const limits = await call.services.limiter.reserve(call.policySet.limitRules, norm, key);
  call.row.degraded = limits.degraded;
  for (const id of limits.monitorMatches) if (!call.row.policyIds.includes(id)) call.row.policyIds.push(id);
  for (const [name, value] of Object.entries(limits.headers)) call.reply.header(name, value);
  if (!limits.allowed) {
    call.row.decision = 'block';
    if (!call.row.policyIds.includes(limits.rule.id)) call.row.policyIds.push(limits.rule.id);
    throw limits.error;
  }
  call.reservation = limits.reservation;
}

function governanceHeaders(call: Call): Record<string, string> {
  return {
    'x-aigov-decision': call.row.decision,
    'x-aigov-policies': call.row.policyIds.join(','),
  };
}

function overheadMs(call: Call): number {
  return Math.max(0, performance.now() - call.started - call.upstreamMs);
}

/** The audit row lists output-side matches and their reasons next to the request-side ones. */
function noteResponseDecision(call: Call, decision: Decision): void {
  for (const id of decision.matchedPolicyIds)
    if (!call.row.policyIds.includes(id)) call.row.policyIds.push(id);
  const reasons = [...decision.reasons, ...decision.monitor];
  if (reasons.length > 0)
    call.row.reasons = [
      ...(Array.isArray(call.row.reasons) ? (call.row.reasons as unknown[]) : []),
      ...reasons,
    ];
}

/** Output-side policies on a whole response: block replaces it, redact rewrites its text. */
function inspectResponse(call: Call, json: unknown): { body: unknown; changed: boolean } {
  const set = call.policySet;
  if (set.responseRules.length === 0 || !call.norm || !call.key || !call.provider)
    return { body: json, changed: false };
  const texts = call.provider.adapter.responseTexts(call.spec.path, json);
  if (texts.length === 0) return { body: json, changed: false };
  const decision = evaluate(
    set,
    { ...call.norm, texts, prompt: texts.map((t) => t.text).join('\n') },
    call.key,
    'response',
  );
  noteResponseDecision(call, decision);
  if (!decision.allowed) {
    call.row.decision = 'block';
    throw new AigovError('policy_blocked', {
      providerCode: decision.blockedBy ?? 'policy_blocked',
      message: decision.reasons[0]?.message || 'Response blocked by policy',
    });
  }
  if (decision.decision === 'redact' && decision.redactions.length > 0) {
    call.row.decision = 'redact';
    return { body: applyRedactions(json, decision.redactions), changed: true };
  }
  return { body: json, changed: false };
}

function streamInspector(call: Call): ((text: string) => AigovError | null) | null {
  const set = call.policySet;
  if (set.responseRules.length === 0 || !call.norm || !call.key) return null;
  const norm = call.norm;
  const key = call.key;
  return (text) => {
    const window = text.length > STREAM_WINDOW_CHARS ? text.slice(-STREAM_WINDOW_CHARS) : text;
    const slot = { path: ['output'], role: 'assistant' as const, text: window };
    const decision = evaluate(set, { ...norm, texts: [slot], prompt: window }, key, 'response');
    // Text already sent cannot be unsent: on a stream, a matching redact rule ends it like a block.
    if (decision.allowed && decision.decision !== 'redact') return null;
    const ruleId = decision.blockedBy ?? decision.reasons[0]?.policy ?? 'policy_blocked';
    noteResponseDecision(call, decision);
    call.row.decision = 'block';
    return new AigovError('policy_blocked', {
      providerCode: ruleId,
      message: decision.reasons[0]?.message || `Response stream ended by policy ${ruleId}`,
    });
  };
}

async function forwardStage(call: Call, provider: ProviderRuntime, norm: NormalizedRequest): Promise<void> {
  const { request, reply } = call;
  let body: Buffer | string | null = request.rawBody ?? null;
  let clientWantsUsage = true;
  if (call.decision && call.decision.redactions.length > 0) {
    const redacted = applyRedactions(request.body, call.decision.redactions) as Record<string, unknown>;
    const prepared = provider.adapter.prepareBody(norm, redacted);
    body = JSON.stringify(prepared.body);
    clientWantsUsage = prepared.clientWantsUsage;
  } else if (typeof request.body === 'object' && request.body !== null) {
    const prepared = provider.adapter.prepareBody(norm, request.body as Record<string, unknown>);
    if (prepared.changed) body = JSON.stringify(prepared.body);
    clientWantsUsage = prepared.clientWantsUsage;
  }

  const abort = new CallAbort();
  const onClose = (): void => {
    if (!reply.raw.writableEnded) abort.abort();
  };
  reply.raw.once('close', onClose);
  let upstream: UpstreamCall;
  try {
    upstream = await callUpstream(call, provider, body, abort);
  } catch (err) {
    if (abort.aborted) {
      call.row.aborted = true;
      // Same label as a client leaving mid-stream: this is not a provider failure.
      call.row.error = 'client_aborted';
      throw new AigovError('upstream_error', { message: 'Client closed the request' });
    }
    throw isAigovError(err) ? err : upstreamError(provider.name, err);
  }
  call.row.provider = upstream.provider.name;
  const { response } = upstream;
  const contentType = String(response.headers['content-type'] ?? '');
  const adapter = upstream.provider.adapter;

  if (response.statusCode >= 500) {
    await response.body.dump().catch(() => {});
    call.upstreamMs = performance.now() - upstream.sentAt;
    throw new AigovError('upstream_error', {
      message: `Provider ${upstream.provider.name} returned ${response.statusCode}`,
    });
  }

  if (norm.stream && response.statusCode === 200 && contentType.includes('text/event-stream')) {
    const ttfbMs = upstream.headersAt - upstream.sentAt;
    call.upstreamMs = ttfbMs;
    reply.hijack();
    const headers = {
      ...passBackHeaders(response.headers),
      ...governanceHeaders(call),
      ...(reply.getHeaders() as Record<string, string>),
      'x-aigov-overhead-ms': overheadMs(call).toFixed(3),
      'cache-control': 'no-cache',
    };
    reply.raw.writeHead(200, headers);
    reply.raw.flushHeaders();
    const tracker = adapter.createStreamTracker({ route: call.spec.path, clientWantsUsage });
    const inspect = streamInspector(call);
    const outcome = await relayStream({
      body: response.body,
      raw: reply.raw,
      tracker,
      passThrough: clientWantsUsage && inspect === null,
      inspect,
      streamErrorEvent: (e) => adapter.streamErrorEvent(e),
      upstreamError: (e) => upstreamError(upstream.provider.name, e),
      abort: () => abort.abort(),
    });
    call.upstreamMs = performance.now() - upstream.sentAt;
    call.usage = tracker.usage();
    call.row.statusCode = outcome.blocked ? outcome.blocked.status : 200;
    call.row.aborted = outcome.aborted;
    if (outcome.blocked) call.row.error = `policy_blocked:${outcome.blocked.providerCode}`;
    else if (outcome.error) {
      // Like a block, a failed stream records the status its error event carried, not the 200
      // status line sent before the failure: the call failed, and error-rate queries must see it.
      const failure = upstreamError(upstream.provider.name, outcome.error);
      call.row.statusCode = failure.status;
      call.row.decision = 'error';
      call.row.error = failure.message;
    } else if (outcome.aborted) call.row.error = 'client_aborted';
    return;
  }

  const raw = await readBody(response.body, MAX_RESPONSE_BYTES).catch((err: unknown) => {
    throw isAigovError(err) ? err : upstreamError(upstream.provider.name, err);
  });
  call.upstreamMs = performance.now() - upstream.sentAt;
  let out: Buffer | string = raw;
  if (contentType.includes('json') && raw.length > 0) {
    let json: unknown = null;
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch {
      json = null;
    }
    if (json !== null) {
      if (response.statusCode < 300) {
        call.usage = adapter.usageFromBody(call.spec.path, json);
        const inspected = inspectResponse(call, json);
        if (inspected.changed) out = JSON.stringify(inspected.body);
      }
    }
  }
  call.row.statusCode = response.statusCode;
  if (response.statusCode >= 400) call.row.error = `upstream_${response.statusCode}`;
  reply
    .code(response.statusCode)
    .headers(passBackHeaders(response.headers))
    .headers(governanceHeaders(call))
    .header('x-aigov-overhead-ms', overheadMs(call).toFixed(3));
  await recordBeforeAnswer(call);
  await reply.send(out);
}

/** The call's own route, query, headers and request id, to the provider (or its fallbacks). */
function callUpstream(
  call: Call,
  provider: ProviderRuntime,
  body: Buffer | string | null,
  signal: CallAbort,
): Promise<UpstreamCall> {
  return sendUpstream({
    primary: provider,
    registry: call.services.providers,
    method: call.spec.method,
    route: call.spec.path,
    search: searchOf(call.request.url),
    incomingHeaders: call.request.headers,
    requestId: call.request.id,
    body,
    signal,
  });
}

function searchOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? '' : url.slice(q);
}

/**
 * Fills usage, cost and timing into the row and hands it to the audit writer, once. In sync
 * durability mode this waits for the row to be fsynced; false means it could not be kept.
 */
async function recordStage(call: Call): Promise<boolean> {
  if (call.recorded) return true;
  call.recorded = true;
  const { row, usage } = call;
  row.promptTokens = usage.promptTokens;
  row.completionTokens = usage.completionTokens;
  row.totalTokens = usage.totalTokens;
  row.costUsd = costUsd(usage, priceFor(row.model, call.services.pricing));
  row.latencyMs = round3(performance.now() - call.started);
  row.upstreamMs = call.upstreamMs > 0 ? round3(call.upstreamMs) : null;
  row.overheadMs = round3(overheadMs(call));
  if (call.norm) row.content = call.services.auditContent(call.norm, call.decision);
  call.services.metrics.observeCall(row);
  return call.services.config.audit.durability === 'sync'
    ? call.services.audit.enqueueDurable(row)
    : call.services.audit.enqueue(row);
}

/**
 * Sync durability: the row must be on disk before the caller sees the answer. (Streams are the
 * exception: their row is complete only when the stream is, so it is fsynced right after.)
 */
async function recordBeforeAnswer(call: Call): Promise<void> {
  if (call.services.config.audit.durability !== 'sync') return;
  if (!(await recordStage(call))) throw new AigovError('audit_unavailable');
}

/** After the answer: replace the limit reservation's estimate with what was actually used. */
async function settleStage(call: Call): Promise<void> {
  if (!call.reservation) return;
  const { row } = call;
  if (row.statusCode >= 400 && row.upstreamMs === null) await call.services.limiter.release(call.reservation);
  else
    await call.services.limiter.reconcile(call.reservation, {
      totalTokens: call.usage.totalTokens,
      costUsd: row.costUsd,
    });
}

/** Refusals (bad key, bad input, policy, limits, fail-closed) are blocks; failures to serve are errors. */
function decisionAfterError(e: AigovError): AuditRow['decision'] {
  if (e.status < 500 || e.code === 'limits_unavailable' || e.code === 'audit_unavailable') return 'block';
  return 'error';
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/**
 * One governed provider call: authenticate -> normalise -> decide -> forward -> record.
 * Every call that gets an answer leaves exactly one audit row, whatever stage ended it.
 */
export async function governedCall(
  services: Services,
  request: FastifyRequest,
  reply: FastifyReply,
  spec: RouteSpec,
  family: ProviderFamily,
  providerName: string | null,
  /** The body could not be read (invalid JSON, too large): refused after authentication. */
  bodyError: AigovError | null = null,
): Promise<void> {
  const call: Call = {
    services,
    request,
    reply,
    spec,
    family,
    row: baseRow(request, providerName ? `/${providerName}${spec.path}` : spec.path, null),
    started: performance.now() - reply.elapsedTime,
    key: null,
    provider: null,
    norm: null,
    policySet: services.policies.current(),
    decision: null,
    reservation: null,
    usage: UNKNOWN_USAGE,
    upstreamMs: 0,
    recorded: false,
  };
  try {
    await authenticateStage(call);
    if (bodyError) throw bodyError;
    const provider = selectProvider(call, providerName);
    if (spec.governed) {
      const norm = normaliseStage(call, provider);
      await decideStage(call, norm, call.key!);
      await forwardStage(call, provider, norm);
    } else {
      await forwardUngoverned(call, provider);
    }
  } catch (err) {
    const e = isAigovError(err) ? err : new AigovError('internal_error', { cause: err });
    if (!isAigovError(err)) request.log.error({ err, requestId: request.id }, 'proxy failure');
    call.row.statusCode = e.status;
    call.row.decision = decisionAfterError(e);
    call.row.error ??= e.code;
    if (!reply.sent && !reply.raw.headersSent) {
      await recordBeforeAnswer(call).catch(() => {});
      reply.headers(governanceHeaders(call));
      sendError(reply, e, family);
    }
  } finally {
    await recordStage(call);
    await settleStage(call);
  }
}

/** GET /v1/models and the like: authenticated, forwarded, recorded; no policies or limits. */
async function forwardUngoverned(call: Call, provider: ProviderRuntime): Promise<void> {
  const { reply } = call;
  const abort = new CallAbort();
  const upstream = await callUpstream(call, provider, null, abort).catch((err: unknown) => {
    throw isAigovError(err) ? err : upstreamError(provider.name, err);
  });
  const raw = await readBody(upstream.response.body, MAX_RESPONSE_BYTES);
  call.upstreamMs = performance.now() - upstream.sentAt;
  call.row.statusCode = upstream.response.statusCode;
  reply.code(upstream.response.statusCode).headers(passBackHeaders(upstream.response.headers));
  await reply.send(raw);
}
