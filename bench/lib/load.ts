/**
 * Load generators. Closed loop: autocannon (programmatic), with every response's own float
 * latency recorded (autocannon's histogram keeps whole milliseconds, too coarse for sub-ms
 * targets). Open loop at a fixed rate and streamed requests: undici, which can time each request
 * from its scheduled start (no coordinated omission) and see the first body byte.
 */
import autocannon from 'autocannon';
import { Pool } from 'undici';
import { summarise, type LatencySummary } from './stats.js';

export interface RequestSpec {
  /** Origin, e.g. http://127.0.0.1:1234 */
  url: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

export interface LoadResult extends LatencySummary {
  /** 2xx responses per second over the measured duration. */
  rps: number;
  ok: number;
  non2xx: number;
  errors: number;
  durationS: number;
}

export async function closedLoop(
  spec: RequestSpec,
  options: { connections: number; durationS: number },
): Promise<LoadResult> {
  const latencies: number[] = [];
  let ok = 0;
  let non2xx = 0;
  const started = performance.now();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: spec.url + spec.path,
        method: 'POST',
        headers: spec.headers,
        body: spec.body,
        connections: options.connections,
        pipelining: 1,
        duration: options.durationS,
        timeout: 30,
      },
      (err: Error | null, res: autocannon.Result) => (err ? reject(err) : resolve(res)),
    );
    instance.on('response', (_client, status, _bytes, responseTime) => {
      if (status >= 200 && status < 300) {
        ok++;
        latencies.push(responseTime);
      } else non2xx++;
    });
  });
  const durationS = Math.max(0.001, (performance.now() - started) / 1000);
  return {
    ...summarise(latencies),
    rps: ok / durationS,
    ok,
    non2xx,
    errors: result.errors + result.timeouts,
    durationS,
  };
}

/**
 * Sends `rate` requests per second for `durationS`, evenly spaced, whatever the server's speed
 * (open loop). Latency counts from the scheduled send time, so a stalled server cannot hide the
 * requests it delayed.
 */
export async function openLoop(
  spec: RequestSpec,
  options: { rate: number; durationS: number; maxConnections?: number },
): Promise<LoadResult> {
  const pool = new Pool(spec.url, {
    connections: options.maxConnections ?? 256,
    pipelining: 1,
    keepAliveTimeout: 30_000,
  });
  const latencies: number[] = [];
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  const total = Math.max(1, Math.round(options.rate * options.durationS));
  const intervalMs = 1000 / options.rate;
  const inflight = new Set<Promise<void>>();
  const send = (scheduledAt: number): void => {
    const p = pool
      .request({ method: 'POST', path: spec.path, headers: spec.headers, body: spec.body })
      .then(async (res) => {
        await res.body.dump();
        const ms = performance.now() - scheduledAt;
        if (res.statusCode >= 200 && res.statusCode < 300) {
          ok++;
          latencies.push(ms);
        } else non2xx++;
      })
      .catch(() => {
        errors++;
      })
      .finally(() => inflight.delete(p));
    inflight.add(p);
  };
  const started = performance.now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      while (sent < total && started + sent * intervalMs <= now) {
        send(started + sent * intervalMs);
        sent++;
      }
      if (sent >= total) resolve();
      else setTimeout(tick, Math.max(0, Math.min(1, started + sent * intervalMs - performance.now())));
    };
    tick();
  });
  await Promise.all(inflight);
  const durationS = (performance.now() - started) / 1000;
  await pool.close();
  return { ...summarise(latencies), rps: ok / durationS, ok, non2xx, errors, durationS };
}

export interface StreamResult {
  /** Time to response headers, to the first body chunk, and to the end of the stream (ms). */
  headers: LatencySummary;
  ttfb: LatencySummary;
  total: LatencySummary;
  ok: number;
  failed: number;
  bytes: number;
}

/** `requests` streamed requests, `concurrency` at a time, each timed to its first body byte and end. */
export async function streamed(
  spec: RequestSpec,
  options: { requests: number; concurrency: number },
): Promise<StreamResult> {
  const pool = new Pool(spec.url, { connections: options.concurrency, pipelining: 1 });
  const headers: number[] = [];
  const ttfb: number[] = [];
  const total: number[] = [];
  let ok = 0;
  let failed = 0;
  let bytes = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < options.requests) {
      next++;
      const t0 = performance.now();
      try {
        const res = await pool.request({
          method: 'POST',
          path: spec.path,
          headers: spec.headers,
          body: spec.body,
        });
        const tHeaders = performance.now();
        let first = 0;
        let size = 0;
        for await (const chunk of res.body) {
          if (first === 0) first = performance.now();
          size += (chunk as Buffer).length;
        }
        const end = performance.now();
        const isSse = String(res.headers['content-type'] ?? '').includes('text/event-stream');
        if (res.statusCode === 200 && isSse && first > 0) {
          ok++;
          bytes += size;
          headers.push(tHeaders - t0);
          ttfb.push(first - t0);
          total.push(end - t0);
        } else failed++;
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  await pool.close();
  return {
    headers: summarise(headers),
    ttfb: summarise(ttfb),
    total: summarise(total),
    ok,
    failed,
    bytes,
  };
}
