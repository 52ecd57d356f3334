/**
 * The OpenAI API beyond chat, for the mock provider: images, audio, moderations, files and
 * batches. Multipart bodies are parsed as streams and file parts written to disk (with their
 * size and SHA-256), so a mock receiving a 100 MB upload holds none of it in memory.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Busboy } from '@fastify/busboy';

/** Files at most this large are also kept as text in the recorded request (for assertions). */
const KEEP_TEXT_BYTES = 1024 * 1024;

export interface ReceivedFile {
  name: string;
  filename: string;
  contentType: string;
  size: number;
  sha256: string;
  /** The content as UTF-8, when at most 1 MiB. */
  text: string | null;
  path: string;
}

export interface ReceivedForm {
  fields: Record<string, string>;
  files: ReceivedFile[];
}

export interface StoredFile {
  id: string;
  filename: string;
  purpose: string;
  bytes: number;
  created_at: number;
  path: string;
}

export interface SurfaceState {
  dir: string;
  files: Map<string, StoredFile>;
  batches: Map<string, Record<string, unknown>>;
  close(): void;
}

export function surfaceState(): SurfaceState {
  const dir = mkdtempSync(join(tmpdir(), 'aigov-mock-files-'));
  return {
    dir,
    files: new Map(),
    batches: new Map(),
    close: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export function isMultipart(req: IncomingMessage): boolean {
  return /^multipart\/form-data/i.test(String(req.headers['content-type'] ?? ''));
}

/** Streams a multipart request: fields in memory, files to disk with size and hash. */
export async function readMultipart(req: IncomingMessage, dir: string): Promise<ReceivedForm> {
  const form: ReceivedForm = { fields: {}, files: [] };
  const writes: Promise<void>[] = [];
  const bb = Busboy({ headers: { ...req.headers, 'content-type': String(req.headers['content-type']) } });
  bb.on('field', (name, value) => {
    form.fields[name] = value;
  });
  bb.on('file', (name, stream, filename, _enc, mimeType) => {
    const path = join(dir, `upload-${randomBytes(6).toString('hex')}`);
    const hash = createHash('sha256');
    let size = 0;
    const head: Buffer[] = [];
    const tap = new Transform({
      transform(chunk: Buffer, _e, cb) {
        hash.update(chunk);
        size += chunk.length;
        if (size <= KEEP_TEXT_BYTES) head.push(chunk);
        cb(null, chunk);
      },
    });
    writes.push(
      pipeline(stream, tap, createWriteStream(path)).then(() => {
        form.files.push({
          name,
          filename,
          contentType: mimeType,
          size,
          sha256: hash.digest('hex'),
          text: size <= KEEP_TEXT_BYTES ? Buffer.concat(head).toString('utf8') : null,
          path,
        });
      }),
    );
  });
  await pipeline(req, bb);
  await Promise.all(writes);
  return form;
}

const now = (): number => Math.floor(Date.now() / 1000);

function json(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}

function notFound(res: ServerResponse, what: string): void {
  json(res, 404, {
    error: { message: `No such ${what}`, type: 'invalid_request_error', code: null, param: null },
  });
}

/** Deterministic "audio": byte i is i mod 251, so the client can verify every byte. */
export function speechBytes(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = i % 251;
  return b;
}

export interface SurfaceReply {
  reply: string;
  usage: { prompt: number; completion: number };
  /** Bytes of audio answered by /v1/audio/speech. */
  speechBytes: number;
}

const fileObject = (f: StoredFile): Record<string, unknown> => ({
  id: f.id,
  object: 'file',
  bytes: f.bytes,
  created_at: f.created_at,
  filename: f.filename,
  purpose: f.purpose,
  status: 'processed',
});

/**
 * Answers a surface route; false when the path is not one. `body` is the parsed JSON body, `form`
 * the multipart form (for multipart requests).
 */
export async function handleSurface(
  state: SurfaceState,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  body: Record<string, unknown>,
  form: ReceivedForm | null,
  r: SurfaceReply,
): Promise<boolean> {
  const method = req.method ?? 'GET';
  const usage = {
    input_tokens: r.usage.prompt,
    output_tokens: r.usage.completion,
    total_tokens: r.usage.prompt + r.usage.completion,
  };
  if (method === 'POST' && (path === '/v1/images/generations' || path === '/v1/images/edits')) {
    const prompt = typeof body['prompt'] === 'string' ? body['prompt'] : (form?.fields['prompt'] ?? '');
    json(res, 200, {
      created: now(),
      data: [{ b64_json: Buffer.from(`image of ${prompt}`).toString('base64'), revised_prompt: prompt }],
      usage: { ...usage, input_tokens_details: { text_tokens: r.usage.prompt, image_tokens: 0 } },
    });
    return true;
  }
  if (method === 'POST' && path === '/v1/audio/speech') {
    const audio = speechBytes(r.speechBytes);
    res.writeHead(200, { 'content-type': 'audio/mpeg', 'content-length': audio.length });
    // In pieces, as a real synthesiser streams.
    for (let i = 0; i < audio.length; i += 16 * 1024) res.write(audio.subarray(i, i + 16 * 1024));
    res.end();
    return true;
  }
  if (method === 'POST' && (path === '/v1/audio/transcriptions' || path === '/v1/audio/translations')) {
    if (form?.fields['response_format'] === 'text') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(r.reply);
      return true;
    }
    json(res, 200, { text: r.reply, usage: { type: 'tokens', ...usage } });
    return true;
  }
  if (method === 'POST' && path === '/v1/moderations') {
    const input = body['input'];
    const n = Array.isArray(input) ? input.length : 1;
    json(res, 200, {
      id: `modr-${randomBytes(4).toString('hex')}`,
      model: typeof body['model'] === 'string' ? body['model'] : 'omni-moderation-latest',
      results: Array.from({ length: n }, () => ({ flagged: false, categories: {}, category_scores: {} })),
    });
    return true;
  }
  if (path === '/v1/files' && method === 'POST') {
    const file = form?.files.find((f) => f.name === 'file');
    if (!form || !file) {
      json(res, 400, {
        error: { message: 'missing file', type: 'invalid_request_error', code: null, param: 'file' },
      });
      return true;
    }
    const stored: StoredFile = {
      id: `file-${randomBytes(6).toString('hex')}`,
      filename: file.filename,
      purpose: form.fields['purpose'] ?? '',
      bytes: file.size,
      created_at: now(),
      path: file.path,
    };
    state.files.set(stored.id, stored);
    json(res, 200, fileObject(stored));
    return true;
  }
  if (path === '/v1/files' && method === 'GET') {
    json(res, 200, { object: 'list', data: [...state.files.values()].map(fileObject), has_more: false });
    return true;
  }
  const fileMatch = /^\/v1\/files\/([^/]+)(\/content)?$/.exec(path);
  if (fileMatch) {
    const f = state.files.get(fileMatch[1]!);
    if (!f) {
      notFound(res, 'file');
      return true;
    }
    if (fileMatch[2] && method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': f.bytes });
      await pipeline(createReadStream(f.path), res);
      return true;
    }
    if (method === 'GET') json(res, 200, fileObject(f));
    else if (method === 'DELETE') {
      state.files.delete(f.id);
      json(res, 200, { id: f.id, object: 'file', deleted: true });
    } else return false;
    return true;
  }
  if (path === '/v1/batches' && method === 'POST') {
    const id = `batch_${randomBytes(6).toString('hex')}`;
    const batch = {
      id,
      object: 'batch',
      endpoint: body['endpoint'],
      input_file_id: body['input_file_id'],
      completion_window: body['completion_window'],
      status: 'validating',
      created_at: now(),
      errors: null,
      output_file_id: null,
      error_file_id: null,
      request_counts: { total: 0, completed: 0, failed: 0 },
      metadata: body['metadata'] ?? null,
    };
    state.batches.set(id, batch);
    json(res, 200, batch);
    return true;
  }
  if (path === '/v1/batches' && method === 'GET') {
    json(res, 200, { object: 'list', data: [...state.batches.values()], has_more: false });
    return true;
  }
  if (path.startsWith('/v1/fine_tuning/')) {
    // A route aigov does not govern (passthrough tests): echoes what arrived.
    json(res, 200, { object: 'fine_tuning.job', id: 'ftjob-mock', method, received: body });
    return true;
  }
  const batchMatch = /^\/v1\/batches\/([^/]+)(\/cancel)?$/.exec(path);
  if (batchMatch) {
    const b = state.batches.get(batchMatch[1]!);
    if (!b) {
      notFound(res, 'batch');
      return true;
    }
    if (batchMatch[2] && method === 'POST') b['status'] = 'cancelling';
    json(res, 200, b);
    return true;
  }
  return false;
}

export interface RealtimeSessionRecord {
  url: string;
  headers: IncomingMessage['headers'];
  /** Client events the mock received, parsed. */
  events: Record<string, unknown>[];
}

/**
 * A Realtime upstream on the mock's port: `session.created` on connect, every client event
 * recorded, `response.done` with usage (10 in, 5 out) for each `response.create`.
 */
export function attachRealtime(server: Server, sessions: RealtimeSessionRecord[]): WebSocketServer {
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (p) => (p.has('realtime') ? 'realtime' : false),
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      const record: RealtimeSessionRecord = { url: req.url ?? '', headers: req.headers, events: [] };
      sessions.push(record);
      ws.send(JSON.stringify({ type: 'session.created', event_id: 'ev_1', session: { id: 'sess_1' } }));
      ws.on('message', (data: Buffer) => {
        const ev = JSON.parse(data.toString()) as Record<string, unknown>;
        record.events.push(ev);
        if (ev['type'] === 'response.create')
          ws.send(
            JSON.stringify({
              type: 'response.done',
              event_id: `ev_${record.events.length}`,
              response: {
                id: 'resp_1',
                status: 'completed',
                output: [],
                usage: { total_tokens: 15, input_tokens: 10, output_tokens: 5 },
              },
            }),
          );
      });
    });
  });
  return wss;
}
