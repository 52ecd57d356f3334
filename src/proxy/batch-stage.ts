/**
 * Batch files (OpenAI Batch API JSONL) checked line by line as they stream: every line's body
 * goes through the governance core (decideBatchLine) exactly as the same request sent alone
 * would. Memory holds one line at a time, whatever the file's size.
 */
import { once } from 'node:events';
import { isUtf8 } from 'node:buffer';
import type { Writable } from 'node:stream';
import type { KeyIdentity } from '../auth/identity.js';
import type { AuditRow } from '../audit/row.js';
import { AigovError } from '../errors.js';
import { decideBatchLine } from '../governance/index.js';
import type { CompiledPolicySet } from '../policy/index.js';
import type { ProviderRuntime } from '../providers/registry.js';
import type { NormalizedRequest } from '../providers/types.js';

/** One line larger than this is refused (a batch request body is far smaller). */
export const MAX_BATCH_LINE_BYTES = 16 * 1024 * 1024;

export interface BatchSummary {
  lines: number;
  allowed: number;
  redacted: number;
  /** The model of the lines (the first one's when they differ). */
  model: string | null;
  models: string[];
  /** Sum of the per-line estimates the limiter would reserve for each line alone. */
  tokens: number;
  costUsd: number;
  /** Rules that matched on any line (redact, score, monitor). */
  ruleIds: string[];
}

export interface BatchCheck {
  set: CompiledPolicySet;
  provider: ProviderRuntime;
  key: KeyIdentity;
  estimate(req: NormalizedRequest): { tokens: number; costUsd: number };
  /**
   * `rewrite`: redacted lines are written rewritten to `out` (an upload through aigov).
   * `refuse`: a line a redact rule would rewrite refuses the batch (a file that did not come
   * through aigov, met again at POST /v1/batches).
   */
  redact: 'rewrite' | 'refuse';
  /** Where the checked file is written (lines byte-for-byte unless rewritten); null: nowhere. */
  out: Writable | null;
}

async function write(out: Writable | null, chunk: Buffer | string): Promise<void> {
  if (out !== null && !out.write(chunk)) await once(out, 'drain');
}

/** Checks every line; throws the first refusal (403 naming line, custom_id and rule, or 400). */
export async function checkBatchStream(
  source: AsyncIterable<Buffer | Uint8Array | string>,
  check: BatchCheck,
): Promise<BatchSummary> {
  const summary: BatchSummary = {
    lines: 0,
    allowed: 0,
    redacted: 0,
    model: null,
    models: [],
    tokens: 0,
    costUsd: 0,
    ruleIds: [],
  };
  let lineNo = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;

  const onLine = async (bytes: Buffer, newline: boolean): Promise<void> => {
    lineNo++;
    const cr = bytes.length > 0 && bytes[bytes.length - 1] === 0x0d;
    const eol = (cr ? '\r' : '') + (newline ? '\n' : '');
    if (bytes.toString('latin1').trim() === '') {
      await write(check.out, newline ? Buffer.concat([bytes, Buffer.from('\n')]) : bytes);
      return;
    }
    if (!isUtf8(bytes))
      throw new AigovError('invalid_request', { message: `Batch file line ${lineNo}: not valid UTF-8` });
    let parsed: unknown;
    try {
      parsed = JSON.parse(bytes.toString('utf8'));
    } catch (err) {
      throw new AigovError('invalid_request', {
        message: `Batch file line ${lineNo}: not valid JSON: ${(err as Error).message}`,
        details: { line: lineNo },
      });
    }
    const result = decideBatchLine(check.set, check.provider, check.key, parsed, lineNo);
    if (result.refusal) throw result.refusal;
    summary.lines++;
    const model = result.norm.model;
    if (model !== null && !summary.models.includes(model) && summary.models.length < 100)
      summary.models.push(model);
    summary.model ??= model;
    const est = check.estimate(result.norm);
    summary.tokens += est.tokens;
    summary.costUsd += est.costUsd;
    for (const id of result.decision.ruleIds) if (!summary.ruleIds.includes(id)) summary.ruleIds.push(id);
    if (result.redactedLine !== undefined) {
      if (check.redact === 'refuse') {
        const rule = result.decision.policy.reasons.find((r) => r.action === 'redact')?.policy ?? 'redact';
        throw new AigovError('policy_blocked', {
          providerCode: rule,
          message:
            `Batch file line ${lineNo} (custom_id "${result.customId}") would be rewritten by ${rule}: ` +
            'upload batch files through aigov so redact rules can apply',
          details: { line: lineNo, custom_id: result.customId, rule },
        });
      }
      summary.redacted++;
      await write(check.out, JSON.stringify(result.redactedLine) + eol);
      return;
    }
    summary.allowed++;
    await write(check.out, newline ? Buffer.concat([bytes, Buffer.from('\n')]) : bytes);
  };

  for await (const raw of source) {
    let chunk =
      typeof raw === 'string' ? Buffer.from(raw) : Buffer.from(raw.buffer, raw.byteOffset, raw.length);
    let nl = chunk.indexOf(0x0a);
    while (nl !== -1) {
      const head = chunk.subarray(0, nl);
      const line =
        pending.length === 0 ? head : Buffer.concat([...pending, head], pendingBytes + head.length);
      pending = [];
      pendingBytes = 0;
      await onLine(line, true);
      chunk = chunk.subarray(nl + 1);
      nl = chunk.indexOf(0x0a);
    }
    if (chunk.length > 0) {
      pendingBytes += chunk.length;
      if (pendingBytes > MAX_BATCH_LINE_BYTES)
        throw new AigovError('body_too_large', {
          message: `Batch file line ${lineNo + 1} is longer than ${MAX_BATCH_LINE_BYTES} bytes`,
        });
      // Copy: the chunk's buffer may be reused by the stream.
      pending.push(Buffer.from(chunk));
    }
  }
  if (pendingBytes > 0) await onLine(Buffer.concat(pending, pendingBytes), false);
  if (summary.lines === 0)
    throw new AigovError('invalid_request', { message: 'Batch file has no request lines' });
  return summary;
}

/** The audit row of a batch upload or batch creation: line count, line decisions, the estimate. */
export function noteBatch(row: AuditRow, summary: BatchSummary): void {
  for (const id of summary.ruleIds) if (!row.policyIds.includes(id)) row.policyIds.push(id);
  if (summary.redacted > 0 && row.decision === 'allow') row.decision = 'redact';
  const note = {
    batch: true,
    lines: summary.lines,
    decisions: { allow: summary.allowed, redact: summary.redacted },
    models: summary.models,
    estimated_tokens: summary.tokens,
    estimated_cost_usd: Math.round(summary.costUsd * 1e6) / 1e6,
  };
  row.reasons = [...(Array.isArray(row.reasons) ? (row.reasons as unknown[]) : []), note];
}
