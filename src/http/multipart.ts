/**
 * multipart/form-data bodies (audio, image edits, file uploads), streamed.
 *
 * Text fields are kept (bounded) for the policies; file parts are written to a spool file as they
 * arrive and streamed from there upstream, so memory stays flat whatever the file's size. The
 * decision needs every text field, and SDKs send the file part first as often as last, so the
 * file cannot go upstream before the whole form has been read: spooling to disk is what keeps it
 * out of memory meanwhile. The upstream body is re-encoded with its own boundary and an exact
 * Content-Length.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Busboy, type BusboyInstance } from '@fastify/busboy';
import type { FastifyInstance } from 'fastify';
import { AigovError } from '../errors.js';

export interface FormField {
  kind: 'field';
  name: string;
  value: string;
}

export interface FormFile {
  kind: 'file';
  name: string;
  filename: string;
  contentType: string;
  /** Spool file holding the part's bytes. */
  path: string;
  size: number;
}

export type FormPart = FormField | FormFile;

export interface ParsedForm {
  parts: FormPart[];
  /** Removes the spool files. */
  cleanup(): Promise<void>;
}

export interface FormLimits {
  /** Spool directory root ('' = the OS temporary directory). */
  dir: string;
  /** Total bytes of all file parts. */
  maxFileBytes: number;
  /** Bytes of one text field. */
  maxFieldBytes: number;
  maxParts: number;
}

export const DEFAULT_FIELD_BYTES = 1024 * 1024;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route reads multipart/form-data itself (see http/multipart.ts). */
    multipart?: boolean;
  }
}

/**
 * multipart/form-data is accepted only on routes that read it themselves; the parser leaves the
 * request stream unread for them. Elsewhere it is the same 415 as any other non-JSON type.
 */
export function registerMultipartBody(app: FastifyInstance): void {
  app.addContentTypeParser('multipart/form-data', (request, _payload, done) => {
    if (request.routeOptions.config.multipart === true) done(null, undefined);
    else done(new AigovError('unsupported_media_type'));
  });
}

/** The text fields as an object: what normalisers and redaction see (repeated names as arrays). */
export function fieldsOf(parts: readonly FormPart[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const p of parts) {
    if (p.kind !== 'field') continue;
    const prev = out[p.name];
    if (prev === undefined) out[p.name] = p.value;
    else if (Array.isArray(prev)) prev.push(p.value);
    else out[p.name] = [prev, p.value];
  }
  return out;
}

/** The first text field of that name. */
export function fieldOf(parts: readonly FormPart[], name: string): string | undefined {
  for (const p of parts) if (p.kind === 'field' && p.name === name) return p.value;
  return undefined;
}

/** Counts bytes through and refuses past a ceiling (shared by all file parts of one form). */
function byteBudget(state: { left: number }, limit: number): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      state.left -= chunk.length;
      if (state.left < 0)
        cb(new AigovError('body_too_large', { message: `Uploaded files larger than ${limit} bytes` }));
      else cb(null, chunk);
    },
  });
}

/** Reads a whole form, spooling file parts to disk. Throws a catalogue 400/413 on bad input. */
export async function readForm(
  source: Readable,
  headers: Record<string, string | string[] | undefined>,
  limits: FormLimits,
): Promise<ParsedForm> {
  const contentType = headers['content-type'];
  if (typeof contentType !== 'string' || !/^multipart\/form-data\b/i.test(contentType))
    throw new AigovError('unsupported_media_type', { message: 'Content-Type must be multipart/form-data' });
  const dir = await mkdtemp(join(limits.dir || tmpdir(), 'aigov-form-'));
  const cleanup = (): Promise<void> => rm(dir, { recursive: true, force: true });
  const parts: FormPart[] = [];
  const writes: Promise<void>[] = [];
  const budget = { left: limits.maxFileBytes };
  let failure: unknown = null;
  try {
    let bb: BusboyInstance;
    try {
      bb = Busboy({
        headers: { ...headers, 'content-type': contentType },
        limits: { fieldSize: limits.maxFieldBytes, parts: limits.maxParts, fieldNameSize: 200 },
      });
    } catch (err) {
      throw new AigovError('invalid_request', {
        message: `Malformed multipart body: ${(err as Error).message}`,
      });
    }
    bb.on('field', (name, value, _nameTruncated, valueTruncated) => {
      if (valueTruncated)
        failure ??= new AigovError('body_too_large', {
          message: `Form field ${name} is larger than ${limits.maxFieldBytes} bytes`,
        });
      else parts.push({ kind: 'field', name, value });
    });
    bb.on('file', (name, stream, filename, _encoding, mimeType) => {
      const path = join(dir, `part-${parts.length}`);
      const part: FormFile = { kind: 'file', name, filename, contentType: mimeType, path, size: 0 };
      parts.push(part);
      writes.push(
        pipeline(stream, byteBudget(budget, limits.maxFileBytes), createWriteStream(path))
          .then(async () => {
            part.size = (await stat(path)).size;
          })
          .catch((err: unknown) => {
            failure ??= err;
            stream.resume();
          }),
      );
    });
    bb.on('partsLimit', () => {
      failure ??= new AigovError('invalid_request', { message: `More than ${limits.maxParts} form parts` });
    });
    await pipeline(source, bb).catch((err: unknown) => {
      failure ??= new AigovError('invalid_request', {
        message: `Malformed multipart body: ${err instanceof Error ? err.message : String(err)}`,
      });
    });
    await Promise.all(writes);
    if (failure !== null) throw failure instanceof AigovError ? failure : asUploadError(failure);
    return { parts, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

function asUploadError(err: unknown): AigovError {
  return new AigovError('invalid_request', {
    message: `Could not read the upload: ${err instanceof Error ? err.message : String(err)}`,
  });
}

/** A header value's quotes and line breaks escaped the way browsers do (WHATWG HTML). */
function quoted(v: string): string {
  return v.replace(/\r/g, '%0D').replace(/\n/g, '%0A').replace(/"/g, '%22');
}

export interface EncodedForm {
  contentType: string;
  length: number;
  /** A fresh body stream (called once per upstream attempt). */
  open(): Readable;
}

/**
 * Re-encodes a form for upstream: parts in their original order, text fields from `fields`
 * (redaction may have rewritten them; repeated names consumed in order), file parts streamed
 * from `files` (a replacement spool file for a part, e.g. a batch file with rewritten lines).
 */
export function encodeForm(
  parts: readonly FormPart[],
  fields: Record<string, unknown>,
  files: ReadonlyMap<FormFile, { path: string; size: number }> = new Map(),
): EncodedForm {
  const boundary = `----aigov${randomBytes(12).toString('hex')}`;
  const seen = new Map<string, number>();
  const pieces: (Buffer | { path: string; size: number })[] = [];
  let length = 0;
  const push = (b: Buffer): void => {
    pieces.push(b);
    length += b.length;
  };
  for (const p of parts) {
    if (p.kind === 'field') {
      const i = seen.get(p.name) ?? 0;
      seen.set(p.name, i + 1);
      const v = fields[p.name];
      const value = Array.isArray(v) ? v[i] : i === 0 ? v : undefined;
      const text = typeof value === 'string' ? value : p.value;
      push(
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="${quoted(p.name)}"\r\n\r\n${text}\r\n`,
          'utf8',
        ),
      );
    } else {
      const source = files.get(p) ?? { path: p.path, size: p.size };
      push(
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="${quoted(p.name)}"; ` +
            `filename="${quoted(p.filename)}"\r\nContent-Type: ${p.contentType.replace(/[\r\n]/g, '')}\r\n\r\n`,
          'utf8',
        ),
      );
      pieces.push(source);
      length += source.size;
      push(Buffer.from('\r\n'));
    }
  }
  push(Buffer.from(`--${boundary}--\r\n`));
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    length,
    open: () =>
      Readable.from(
        (async function* () {
          for (const piece of pieces) {
            if (Buffer.isBuffer(piece)) yield piece;
            else for await (const chunk of createReadStream(piece.path)) yield chunk as Buffer;
          }
        })(),
        { objectMode: false },
      ),
  };
}
