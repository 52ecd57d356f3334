import { AigovError } from '../errors.js';
import { costUsd, priceFor } from '../providers/pricing.js';
import { overheadMs, type Call, type ProxyDeps } from './call.js';

type RecordDeps = Pick<ProxyDeps, 'audit' | 'metrics' | 'pricing' | 'auditContent' | 'durability'>;

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/**
 * Fills usage, cost and timing into the row and hands it to the audit writer, once. In sync
 * durability mode this waits for the row to be fsynced; false means it could not be kept.
 */
export async function recordStage(call: Call, deps: RecordDeps): Promise<boolean> {
  if (call.recorded) return true;
  call.recorded = true;
  const { row, usage } = call;
  row.promptTokens = usage.promptTokens;
  row.completionTokens = usage.completionTokens;
  row.totalTokens = usage.totalTokens;
  if (usage.cachedTokens != null) row.cachedTokens = usage.cachedTokens;
  if (usage.cacheWriteTokens != null) row.cacheWriteTokens = usage.cacheWriteTokens;
  if (usage.reasoningTokens != null) row.reasoningTokens = usage.reasoningTokens;
  row.costUsd = costUsd(usage, priceFor(row.model, deps.pricing));
  row.latencyMs = round3(performance.now() - call.started);
  row.upstreamMs = call.upstreamMs > 0 ? round3(call.upstreamMs) : null;
  row.overheadMs = round3(overheadMs(call));
  if (call.norm) row.content = deps.auditContent(call.norm, call.decision?.policy ?? null);
  deps.metrics.observeCall(row);
  return deps.durability === 'sync' ? deps.audit.enqueueDurable(row) : deps.audit.enqueue(row);
}

/**
 * Sync durability: the row must be on disk before the caller sees the answer. (Streams are the
 * exception: their row is complete only when the stream is, so it is fsynced right after.)
 */
export async function recordBeforeAnswer(call: Call, deps: RecordDeps): Promise<void> {
  if (deps.durability !== 'sync') return;
  if (!(await recordStage(call, deps))) throw new AigovError('audit_unavailable');
}

/** After the answer: replace the limit reservation's estimate with what was actually used. */
export async function settleStage(call: Call, deps: Pick<ProxyDeps, 'limiter'>): Promise<void> {
  if (!call.reservation) return;
  const { row } = call;
  if (row.statusCode >= 400 && row.upstreamMs === null) await deps.limiter.release(call.reservation);
  else
    await deps.limiter.reconcile(call.reservation, {
      totalTokens: call.usage.totalTokens,
      costUsd: row.costUsd,
    });
}
