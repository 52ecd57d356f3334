/**
 * Input stage, before request policy: what the route's body needs beyond JSON.
 *   - multipart routes: the form is read (file parts spooled to disk), its text fields become the
 *     body that normalisation and policies see, and the upstream body is re-encoded from it;
 *   - a `purpose=batch` upload: the file is checked line by line (block refuses the upload,
 *     redact rewrites lines) before anything is forwarded;
 *   - POST /v1/batches: the input file is read back from the provider and checked the same way,
 *     and the batch's estimate (all its lines) is what the limiter reserves.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import { AigovError, isAigovError } from '../errors.js';
import { resolveForProxy } from '../governance/index.js';
import { applyRedactions } from '../policy/index.js';
import {
  encodeForm,
  fieldOf,
  fieldsOf,
  readForm,
  DEFAULT_FIELD_BYTES,
  type FormFile,
  type ParsedForm,
} from '../http/multipart.js';
import { checkBatchStream, type BatchSummary } from './batch-stage.js';
import { CallAbort } from './call-abort.js';
import type { Call, DecidedCall, ProxyDeps } from './call.js';
import { sendUpstream, type StreamedBody } from './forward.js';
import type { PolicyAdjust } from './request-policy.js';
import { upstreamError } from './upstream-errors.js';

export interface CallInput {
  form: ParsedForm | null;
  /** Replacement spool files for file parts (a batch file with rewritten lines). */
  files: Map<FormFile, { path: string; size: number }>;
  batch: BatchSummary | null;
  adjust: PolicyAdjust;
  cleanup(): Promise<void>;
}

type InputDeps = Pick<ProxyDeps, 'providers' | 'limiter' | 'uploads'>;

const NOTHING = async (): Promise<void> => {};

/** What a plain JSON call (every chat call) gets: shared, so the hot path allocates nothing here. */
const JSON_INPUT: Readonly<CallInput> = Object.freeze({
  form: null,
  files: new Map(),
  batch: null,
  adjust: Object.freeze({}),
  cleanup: NOTHING,
});

export async function inputStage(
  call: Call,
  deps: InputDeps,
  providerName: string | null,
): Promise<CallInput> {
  const batchCreate = call.spec.path === '/v1/batches' && call.spec.method === 'POST';
  if (call.spec.body !== 'multipart' && !batchCreate) return JSON_INPUT;
  const input: CallInput = { form: null, files: new Map(), batch: null, adjust: {}, cleanup: NOTHING };
  try {
    if (call.spec.body === 'multipart') {
      const form = await readForm(call.request.raw, call.request.headers, {
        dir: deps.uploads.dir,
        maxFileBytes: deps.uploads.maxBytes,
        maxFieldBytes: DEFAULT_FIELD_BYTES,
        maxParts: 1000,
      });
      input.form = form;
      input.cleanup = form.cleanup;
      call.request.body = fieldsOf(form.parts);
      if (call.spec.path === '/v1/files' && fieldOf(form.parts, 'purpose') === 'batch')
        await checkUploadedBatch(call, deps, providerName, input, form);
    } else if (batchCreate) {
      await checkBatchCreate(call, deps, providerName, input);
    }
    return input;
  } catch (err) {
    await input.cleanup();
    if (isAigovError(err) && (err.code === 'policy_blocked' || err.code === 'model_not_allowed')) {
      call.row.policyIds.push(err.providerCode);
      call.row.reasons = [{ policy: err.providerCode, action: 'block', message: err.message }];
    }
    throw err;
  }
}

function batchContext(call: Call, deps: InputDeps, providerName: string | null) {
  const provider = resolveForProxy(deps.providers, call.family, providerName, call.request.body);
  return {
    set: call.policySet,
    provider,
    key: call.key!,
    estimate: (req: Parameters<InputDeps['limiter']['estimate']>[0]) => deps.limiter.estimate(req),
  };
}

async function checkUploadedBatch(
  call: Call,
  deps: InputDeps,
  providerName: string | null,
  input: CallInput,
  form: ParsedForm,
): Promise<void> {
  const file = form.parts.find((p): p is FormFile => p.kind === 'file' && p.name === 'file');
  if (!file) throw new AigovError('invalid_request', { message: 'Missing the file part "file"' });
  const checkedPath = `${file.path}.checked`;
  const out = createWriteStream(checkedPath);
  let summary: BatchSummary;
  try {
    summary = await checkBatchStream(createReadStream(file.path), {
      ...batchContext(call, deps, providerName),
      redact: 'rewrite',
      out,
    });
  } finally {
    out.end();
    await finished(out).catch(() => {});
  }
  // Byte-for-byte unless a line was rewritten.
  if (summary.redacted > 0)
    input.files.set(file, { path: checkedPath, size: (await stat(checkedPath)).size });
  input.batch = summary;
  input.adjust = { model: summary.model };
}

async function checkBatchCreate(
  call: Call,
  deps: InputDeps,
  providerName: string | null,
  input: CallInput,
): Promise<void> {
  const body = call.request.body;
  const fileId =
    typeof body === 'object' && body !== null
      ? (body as Record<string, unknown>)['input_file_id']
      : undefined;
  // A malformed body is left to the normaliser, which refuses it with the field named.
  if (typeof fileId !== 'string' || !/^[A-Za-z0-9_.-]{1,200}$/.test(fileId)) return;
  const ctx = batchContext(call, deps, providerName);
  const abort = new CallAbort();
  let upstream;
  try {
    upstream = await sendUpstream({
      primary: ctx.provider,
      registry: deps.providers,
      method: 'GET',
      route: `/v1/files/${fileId}/content`,
      path: `/v1/files/${fileId}/content`,
      search: '',
      incomingHeaders: call.request.headers,
      requestId: call.request.id,
      body: null,
      signal: abort,
    });
  } catch (err) {
    throw isAigovError(err) ? err : upstreamError(ctx.provider.name, err);
  }
  const { response } = upstream;
  if (response.statusCode !== 200) {
    await response.body.dump().catch(() => {});
    if (response.statusCode === 404)
      throw new AigovError('invalid_request', {
        message: `input_file_id ${fileId}: no such file at provider ${ctx.provider.name}`,
      });
    throw new AigovError('upstream_error', {
      message: `Provider ${ctx.provider.name} returned ${response.statusCode} for the batch input file`,
    });
  }
  let summary: BatchSummary;
  try {
    summary = await checkBatchStream(response.body, { ...ctx, redact: 'refuse', out: null });
  } catch (err) {
    response.body.destroy();
    throw err;
  }
  input.batch = summary;
  input.adjust = { model: summary.model, estimate: { tokens: summary.tokens, costUsd: summary.costUsd } };
}

/**
 * The upstream body of a multipart call: text fields as redaction left them, file parts streamed
 * from their spool files (or their rewritten replacements).
 */
export function prepareForm(call: DecidedCall, input: CallInput): StreamedBody {
  const form = input.form!;
  const fields = fieldsOf(form.parts);
  const redacted =
    call.decision.policy.redactions.length > 0
      ? (applyRedactions(fields, call.decision.policy.redactions) as Record<string, unknown>)
      : fields;
  return encodeForm(form.parts, redacted, input.files);
}
