/**
 * Streamed chat (20 content chunks, 2 ms apart at the mock): time to the first body byte and to
 * the end of the stream, baseline A against the proxy, lightly concurrent, interleaved rounds.
 */
import {
  STREAM_BODY,
  chatSpec,
  chatTargets,
  type BenchContext,
  type ScenarioResult,
} from '../lib/context.js';
import { streamed, type StreamResult } from '../lib/load.js';
import { median, round } from '../lib/stats.js';

export const STREAM_CHUNKS = 20;
export const STREAM_CHUNK_DELAY_MS = 2;

export async function streamingScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const { params } = ctx;
  const list = chatTargets(ctx);
  ctx.log(
    `streaming: ${params.streamRequests} streamed requests per target per round, ${params.streamConcurrency} at a time`,
  );
  const opts = { requests: params.streamRequests, concurrency: params.streamConcurrency };
  for (const t of list)
    await streamed(chatSpec(t.child, t.key, STREAM_BODY), {
      ...opts,
      requests: Math.max(2, opts.requests / 5),
    });
  const runs = new Map<string, StreamResult[]>(list.map((t) => [t.id, []]));
  for (let r = 0; r < params.rounds; r++) {
    for (const t of list) {
      const res = await streamed(chatSpec(t.child, t.key, STREAM_BODY), opts);
      runs.get(t.id)!.push(res);
      ctx.log(
        `  round ${r + 1} ${t.label}: TTFB p50 ${res.ttfb.p50.toFixed(3)} ms p99 ${res.ttfb.p99.toFixed(3)} ms, total p50 ${res.total.p50.toFixed(2)} ms` +
          (res.failed ? ` (failed ${res.failed})` : ''),
      );
    }
  }
  const agg = (id: string): Record<string, number> => {
    const rs = runs.get(id)!;
    return {
      ttfbP50: round(median(rs.map((x) => x.ttfb.p50))),
      ttfbP99: round(median(rs.map((x) => x.ttfb.p99))),
      totalP50: round(median(rs.map((x) => x.total.p50))),
      totalP99: round(median(rs.map((x) => x.total.p99))),
      ok: rs.reduce((s, x) => s + x.ok, 0),
      bytesPerStream: round(
        rs.reduce((s, x) => s + x.bytes, 0) /
          Math.max(
            1,
            rs.reduce((s, x) => s + x.ok, 0),
          ),
        0,
      ),
    };
  };
  const a = agg('baselineA');
  const result: ScenarioResult = {
    name: 'streaming',
    measurements: {},
    rows: [
      {
        scenario: `Streamed chat (${STREAM_CHUNKS} chunks): baseline A, time to first byte`,
        rps: null,
        p50: a.ttfbP50!,
        p99: a.ttfbP99!,
        vsBaseline: null,
        target: null,
        met: null,
      },
      {
        scenario: `Streamed chat (${STREAM_CHUNKS} chunks): baseline A, total time`,
        rps: null,
        p50: a.totalP50!,
        p99: a.totalP99!,
        vsBaseline: null,
        target: null,
        met: null,
      },
    ],
    details: Object.fromEntries(
      [...runs].map(([id, rs]) => [
        id,
        rs.map((x) => ({
          ttfbP50: round(x.ttfb.p50),
          ttfbP99: round(x.ttfb.p99),
          headersP50: round(x.headers.p50),
          totalP50: round(x.total.p50),
          failed: x.failed,
        })),
      ]),
    ),
  };
  for (const t of list) {
    const m = agg(t.id);
    result.measurements[t.id] = m;
    if (t.id === 'baselineA') continue;
    const dTtfb = m.ttfbP50! - a.ttfbP50!;
    const dTotal = m.totalP50! - a.totalP50!;
    result.rows.push(
      {
        scenario: `Streamed chat: ${t.label}, time to first byte`,
        rps: null,
        p50: m.ttfbP50!,
        p99: m.ttfbP99!,
        vsBaseline: `${dTtfb >= 0 ? '+' : ''}${dTtfb.toFixed(3)} ms p50`,
        target: '<= +1 ms',
        met: dTtfb <= 1,
      },
      {
        scenario: `Streamed chat: ${t.label}, total time`,
        rps: null,
        p50: m.totalP50!,
        p99: m.totalP99!,
        vsBaseline: `${dTotal >= 0 ? '+' : ''}${dTotal.toFixed(3)} ms p50`,
        target: null,
        met: null,
      },
    );
  }
  return result;
}
