/**
 * Baseline C: a minimal governed proxy, the floor under aigov (/work/shared/PERFORMANCE.md). Per
 * call it does what no governance proxy can skip, and nothing else:
 * - Fastify with a content-type parser that keeps the raw buffer and also `JSON.parse`s it;
 * - the key compared against one known value in constant time (what a verifier's cache hit costs);
 * - one detector regex (a US SSN) over every message string; a match is refused with 403;
 * - undici `Pool.request` forwarding the original bytes (nothing is re-serialised);
 * - the answer read whole, `JSON.parse`d once for `usage`, and the original bytes sent back
 *   (an SSE answer is piped through, usage unread);
 * - one audit row object with a SHA-256 chain hash over the previous hash and the row's JSON;
 * - rows queued in memory and written every 200 ms as one
 *   `INSERT ... SELECT * FROM jsonb_to_recordset($1)` with postgres.js, into its own table.
 *
 * Run as a child by bench/run.ts and bench/compare.ts:
 *   UPSTREAM_URL=... DATABASE_URL=... BASELINE_KEY=... node --import tsx bench/baselines/minimal-governed.ts
 * (BASELINE_TABLE, default `baseline_c_audit`, is created if missing). Prints `READY <url>`; on
 * SIGTERM it writes what is still queued, then prints `ROWS <n>` (rows written) and exits.
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import Fastify from 'fastify';
import postgres from 'postgres';
import { Pool } from 'undici';

const upstream = process.env.UPSTREAM_URL;
const databaseUrl = process.env.DATABASE_URL;
const knownKey = process.env.BASELINE_KEY;
if (!upstream || !databaseUrl || !knownKey)
  throw new Error('UPSTREAM_URL, DATABASE_URL and BASELINE_KEY are required');
const table = process.env.BASELINE_TABLE ?? 'baseline_c_audit';
if (!/^[a-z_][a-z0-9_]*$/.test(table)) throw new Error(`BASELINE_TABLE must be a plain identifier: ${table}`);

/** Same pool settings as baseline A (and aigov's provider registry). */
const pool = new Pool(upstream, { connections: 256, pipelining: 1, keepAliveTimeout: 30_000 });
const sql = postgres(databaseUrl, { max: 2, onnotice: () => {} });

const COLUMNS =
  'seq bigint, request_id text, created_at timestamptz, key_id text, route text, model text, ' +
  'decision text, status_code int, latency_ms double precision, prompt_tokens int, ' +
  'completion_tokens int, total_tokens int, prev_hash text, hash text';
await sql.unsafe(`CREATE TABLE IF NOT EXISTS ${table} (${COLUMNS})`);
const INSERT = `INSERT INTO ${table} SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(${COLUMNS})`;

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();
const expected = digest(knownKey);
/** Constant time: both sides are SHA-256 digests, so the lengths always match. */
const keyMatches = (presented: string): boolean => timingSafeEqual(digest(presented), expected);

const SSN = /\b\d{3}-\d{2}-\d{4}\b/;

interface ChatBody {
  model?: unknown;
  messages?: unknown;
}

/** Every string a message carries: `content` as a string or as parts with `text`. */
function detect(body: ChatBody): boolean {
  if (!Array.isArray(body.messages)) return false;
  for (const m of body.messages as unknown[]) {
    const content = (m as { content?: unknown } | null)?.content;
    if (typeof content === 'string') {
      if (SSN.test(content)) return true;
    } else if (Array.isArray(content)) {
      for (const part of content as unknown[]) {
        const text = (part as { text?: unknown } | null)?.text;
        if (typeof text === 'string' && SSN.test(text)) return true;
      }
    }
  }
  return false;
}

/** A type, not an interface: postgres.js's JSON parameter wants an index-signature-compatible shape. */
type Row = {
  seq: number;
  request_id: string;
  created_at: string;
  key_id: string;
  route: string;
  model: string | null;
  decision: 'allow' | 'block';
  status_code: number;
  latency_ms: number;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  total_tokens: number | null;
  prev_hash: string;
  hash?: string;
};

let seq = 0;
let prevHash = '0'.repeat(64);
let queue: Row[] = [];
let written = 0;

/**
 * The row's chain hash covers the previous hash and the row's JSON without its own hash, fields in
 * the table's column order, so a reader can recompute the chain from the table.
 */
function record(row: Omit<Row, 'seq' | 'prev_hash' | 'hash'>): void {
  const full: Row = {
    seq: ++seq,
    request_id: row.request_id,
    created_at: row.created_at,
    key_id: row.key_id,
    route: row.route,
    model: row.model,
    decision: row.decision,
    status_code: row.status_code,
    latency_ms: row.latency_ms,
    prompt_tokens: row.prompt_tokens,
    completion_tokens: row.completion_tokens,
    total_tokens: row.total_tokens,
    prev_hash: prevHash,
  };
  full.hash = createHash('sha256').update(prevHash).update(JSON.stringify(full)).digest('hex');
  prevHash = full.hash;
  queue.push(full);
}

let flushing: Promise<void> | null = null;
async function flush(): Promise<void> {
  if (flushing || queue.length === 0) return;
  const batch = queue;
  queue = [];
  flushing = sql
    .unsafe(INSERT, [sql.json(batch)])
    .then(() => {
      written += batch.length;
    })
    .catch((err: unknown) => {
      process.stderr.write(`audit write failed (${batch.length} rows): ${String(err)}\n`);
    })
    .finally(() => {
      flushing = null;
    });
  await flushing;
}
const timer = setInterval(() => void flush(), 200);

interface Parsed {
  raw: Buffer;
  json: ChatBody;
}

const app = Fastify({ logger: false });
app.removeContentTypeParser('application/json');
app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => {
  try {
    done(null, { raw: body as Buffer, json: JSON.parse((body as Buffer).toString('utf8')) as ChatBody });
  } catch (err) {
    (err as { statusCode?: number }).statusCode = 400;
    done(err as Error, undefined);
  }
});

const ROUTES = ['/v1/chat/completions', '/v1/completions', '/v1/embeddings'];
for (const route of ROUTES) {
  app.post(route, async (request, reply) => {
    const started = performance.now();
    const auth = request.headers.authorization ?? '';
    if (!auth.startsWith('Bearer ') || !keyMatches(auth.slice(7))) {
      return reply.code(401).send({
        error: {
          message: 'invalid key',
          type: 'invalid_request_error',
          code: 'invalid_api_key',
          param: null,
        },
      });
    }
    const { raw, json } = request.body as Parsed;
    const model = typeof json.model === 'string' ? json.model : null;
    const base = { request_id: randomUUID(), key_id: 'bench', route, model };
    if (detect(json)) {
      record({
        ...base,
        created_at: new Date().toISOString(),
        decision: 'block',
        status_code: 403,
        latency_ms: performance.now() - started,
        prompt_tokens: null,
        completion_tokens: null,
        total_tokens: null,
      });
      return reply.code(403).send({
        error: { message: 'blocked: ssn', type: 'invalid_request_error', code: 'no-ssn', param: null },
      });
    }
    const res = await pool.request({
      method: 'POST',
      path: route,
      headers: { 'content-type': 'application/json', authorization: 'Bearer dummy' },
      body: raw,
    });
    const contentType = String(res.headers['content-type'] ?? 'application/json');
    reply.code(res.statusCode).header('content-type', contentType);
    let usage: { prompt_tokens?: number; completion_tokens?: number; total_tokens?: number } = {};
    let answer: Buffer | typeof res.body = res.body;
    if (contentType.includes('text/event-stream')) reply.header('cache-control', 'no-cache');
    else {
      const chunks: Buffer[] = [];
      for await (const chunk of res.body) chunks.push(chunk as Buffer);
      answer = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      try {
        usage = (JSON.parse(answer.toString('utf8')) as { usage?: typeof usage }).usage ?? {};
      } catch {
        // Not JSON: no usage to read; the bytes still go back as they came.
      }
    }
    record({
      ...base,
      created_at: new Date().toISOString(),
      decision: 'allow',
      status_code: res.statusCode,
      latency_ms: performance.now() - started,
      prompt_tokens: usage.prompt_tokens ?? null,
      completion_tokens: usage.completion_tokens ?? null,
      total_tokens: usage.total_tokens ?? null,
    });
    return reply.send(answer);
  });
}

const address = await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`READY ${address}\n`);
const close = (): void => {
  clearInterval(timer);
  void app
    .close()
    .then(async () => {
      if (flushing) await flushing;
      await flush();
      process.stdout.write(`ROWS ${written}\n`);
    })
    .then(() => Promise.all([pool.close(), sql.end({ timeout: 5 })]))
    .finally(() => process.exit(0));
};
process.once('SIGTERM', close);
process.once('SIGINT', close);
