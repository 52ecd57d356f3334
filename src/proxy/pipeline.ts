import type { FastifyReply, FastifyRequest } from 'fastify';
import { AigovError, isAigovError } from '../errors.js';
import { baseRow } from '../audit/record.js';
import type { AuditRow } from '../audit/row.js';
import { resolveForProxy } from '../governance/index.js';
import { authenticate } from '../http/authenticate.js';
import { sendError } from '../http/render-error.js';
import type { RouteSpec } from '../providers/adapter.js';
import { getAdapter } from '../providers/families.js';
import type { ProviderRuntime } from '../providers/registry.js';
import type { ProviderFamily } from '../providers/types.js';
import { CallAbort } from './call-abort.js';
import { noteBatch } from './batch-stage.js';
import {
  governanceHeaders,
  routePathOf,
  UNKNOWN_USAGE,
  type Call,
  type DecidedCall,
  type ProxyDeps,
} from './call.js';
import { forwardStage, isBinaryAnswer, isEventStream, prepareRequest } from './forward-stage.js';
import { inputStage, prepareForm } from './input-stage.js';
import { readBody } from './forward.js';
import { recordBeforeAnswer, recordStage, settleStage } from './record.js';
import { MAX_RESPONSE_BYTES, relayBufferedStage } from './relay-buffered.js';
import { relayBinaryStage } from './relay-binary.js';
import { relayStreamedStage } from './relay-streamed.js';
import { requestPolicyStage } from './request-policy.js';
import { passBackHeaders } from './response-headers.js';

export type { ProxyDeps } from './call.js';

/** Refusals (bad key, bad input, policy, limits, fail-closed) are blocks; failures to serve are errors. */
function decisionAfterError(e: AigovError): AuditRow['decision'] {
  if (e.status < 500 || e.code === 'limits_unavailable' || e.code === 'audit_unavailable') return 'block';
  return 'error';
}

async function authenticateStage(call: Call, deps: Pick<ProxyDeps, 'verifier'>): Promise<void> {
  const key = await authenticate(deps.verifier, call.request, getAdapter(call.family).queryKey);
  call.key = key;
  call.row.keyId = key.id;
  call.row.owner = key.owner;
  call.row.team = key.team;
}

/**
 * One governed provider call:
 *   authenticate -> request policy (resolve, normalise, decide, reserve) -> forward
 *   -> streamed or buffered relay (with response policy) -> record -> settle.
 * Every call that gets an answer leaves exactly one audit row, whatever stage ended it.
 */
export async function governedCall(
  deps: ProxyDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  spec: RouteSpec,
  family: ProviderFamily,
  providerName: string | null,
  /** The body could not be read (invalid JSON, too large): refused after authentication. */
  bodyError: AigovError | null = null,
): Promise<void> {
  const call: Call = {
    request,
    reply,
    spec,
    path: routePathOf(request.url, providerName),
    family,
    row: baseRow(request, providerName ? `/${providerName}${spec.path}` : spec.path, null),
    started: performance.now() - reply.elapsedTime,
    policySet: deps.policies.current(),
    key: null,
    provider: null,
    norm: null,
    decision: null,
    reservation: null,
    usage: UNKNOWN_USAGE,
    upstreamMs: 0,
    recorded: false,
  };
  try {
    await authenticateStage(call, deps);
    if (bodyError) throw bodyError;
    if (spec.governed) {
      const input = await inputStage(call, deps, providerName);
      const abort = new CallAbort();
      const onClose = (): void => {
        if (!reply.raw.writableEnded) abort.abort();
      };
      try {
        let decided: DecidedCall;
        try {
          decided = await requestPolicyStage(call, deps, providerName, input.adjust);
        } finally {
          if (input.batch) noteBatch(call.row, input.batch);
        }
        const prepared = input.form
          ? { body: prepareForm(decided, input), clientWantsUsage: true }
          : prepareRequest(decided);
        reply.raw.once('close', onClose);
        const upstream = await forwardStage(call, deps, decided.provider, prepared.body, abort);
        if (isEventStream(decided, upstream))
          await relayStreamedStage(decided, upstream, prepared.clientWantsUsage, abort);
        else if (isBinaryAnswer(decided, upstream)) await relayBinaryStage(decided, upstream);
        else await relayBufferedStage(decided, deps, upstream);
      } finally {
        reply.raw.removeListener('close', onClose);
        await input.cleanup();
      }
    } else {
      const provider = resolveForProxy(deps.providers, family, providerName, request.body, call.path);
      call.provider = provider;
      call.row.provider = provider.name;
      await forwardUngoverned(call, deps, provider);
    }
  } catch (err) {
    const e = isAigovError(err) ? err : new AigovError('internal_error', { cause: err });
    if (!isAigovError(err)) request.log.error({ err, requestId: request.id }, 'proxy failure');
    call.row.statusCode = e.status;
    call.row.decision = decisionAfterError(e);
    call.row.error ??= e.code;
    if (!reply.sent && !reply.raw.headersSent) {
      await recordBeforeAnswer(call, deps).catch(() => {});
      reply.headers(governanceHeaders(call));
      sendError(reply, e, family);
    }
  } finally {
    await recordStage(call, deps);
    await settleStage(call, deps);
  }
}

/** GET /v1/models and the like: authenticated, forwarded, recorded; no policies or limits. */
async function forwardUngoverned(call: Call, deps: ProxyDeps, provider: ProviderRuntime): Promise<void> {
  const upstream = await forwardStage(call, deps, provider, null, new CallAbort(), false);
  if (isBinaryAnswer(call, upstream)) return relayBinaryStage(call, upstream);
  const raw = await readBody(upstream.response.body, MAX_RESPONSE_BYTES);
  call.upstreamMs = performance.now() - upstream.sentAt;
  call.row.statusCode = upstream.response.statusCode;
  call.reply.code(upstream.response.statusCode).headers(passBackHeaders(upstream.response.headers));
  await call.reply.send(raw);
}
