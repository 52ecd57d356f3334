import type { Db } from '../db/client.js';
import { AigovError } from '../errors.js';
import { Where } from './logs.js';
import type { StatsQuery } from './schemas.js';

const BUCKET_MS = { hour: 3_600_000, day: 86_400_000 } as const;
const DEFAULT_SPAN_MS = { hour: 24 * 3_600_000, day: 30 * 86_400_000 } as const;
const MAX_BUCKETS = 2_000;

export interface Totals {
  requests: number;
  blocks: number;
  redacts: number;
  errors: number;
  /** Sum of known token counts; rows with unknown usage add nothing (see unknown_usage). */
  tokens: number;
  cost_usd: number;
  /** Rows whose token usage is unknown (null), which are not counted as 0 tokens. */
  unknown_usage: number;
}

export interface StatsResult {
  bucket: 'hour' | 'day';
  from: string;
  to: string;
  totals: Totals;
  series: (Totals & { t: string })[];
  by_team: (Totals & { team: string | null })[];
  by_model: (Totals & { model: string | null })[];
  by_rule: { rule: string; hits: number; blocks: number }[];
}

const AGGREGATES = `count(*)::int AS requests,
  count(*) FILTER (WHERE decision = 'block')::int AS blocks,
  count(*) FILTER (WHERE decision = 'redact')::int AS redacts,
  count(*) FILTER (WHERE decision = 'error')::int AS errors,
  coalesce(sum(total_tokens), 0)::float8 AS tokens,
  coalesce(sum(cost_usd), 0)::float8 AS cost_usd,
  count(*) FILTER (WHERE total_tokens IS NULL)::int AS unknown_usage`;

function totals(r: Record<string, unknown> | undefined): Totals {
  const n = (k: string): number => Number(r?.[k] ?? 0) || 0;
  return {
    requests: n('requests'),
    blocks: n('blocks'),
    redacts: n('redacts'),
    errors: n('errors'),
    tokens: n('tokens'),
    cost_usd: Number(n('cost_usd').toFixed(8)),
    unknown_usage: n('unknown_usage'),
  };
}

function floorTo(ms: number, bucket: 'hour' | 'day'): number {
  return Math.floor(ms / BUCKET_MS[bucket]) * BUCKET_MS[bucket];
}

/** Requests, blocks, tokens and cost over time (UTC buckets), plus the top teams, models and rules. */
export async function queryStats(db: Db, q: StatsQuery, now = Date.now()): Promise<StatsResult> {
  const to = q.to ? Date.parse(q.to) : now;
  const from = q.from ? Date.parse(q.from) : to - DEFAULT_SPAN_MS[q.bucket];
  if (!(from < to)) throw new AigovError('invalid_request', { message: '`from` must be before `to`' });
  const first = floorTo(from, q.bucket);
  const buckets = Math.ceil((to - first) / BUCKET_MS[q.bucket]);
  if (buckets > MAX_BUCKETS)
    throw new AigovError('invalid_request', {
      message: `Range too long: ${buckets} ${q.bucket} buckets (at most ${MAX_BUCKETS}); use bucket=day or a shorter range`,
    });
  const fromIso = new Date(from).toISOString();
  const toIso = new Date(to).toISOString();
  const where = (): Where =>
    new Where()
      .add((p) => `created_at >= ${p}::timestamptz`, fromIso)
      .add((p) => `created_at < ${p}::timestamptz`, toIso)
      .addIf(q.team, (p) => `team = ${p}`)
      .addIf(q.key_id, (p) => `key_id = ${p}`)
      .addIf(q.model, (p) => `model = ${p}`);

  const w = where();
  const top = q.top;
  const [total, series, byTeam, byModel, byRule] = await Promise.all([
    db.query(`SELECT ${AGGREGATES} FROM usage_logs ${w.sql()}`, w.params),
    db.query(
      `SELECT to_char(date_trunc('${q.bucket}', created_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS t,
         ${AGGREGATES} FROM usage_logs ${w.sql()} GROUP BY 1 ORDER BY 1`,
      w.params,
    ),
    db.query(
      `SELECT team, ${AGGREGATES} FROM usage_logs ${w.sql()} GROUP BY team
       ORDER BY cost_usd DESC, requests DESC, team LIMIT ${top}`,
      w.params,
    ),
    db.query(
      `SELECT model, ${AGGREGATES} FROM usage_logs ${w.sql()} GROUP BY model
       ORDER BY cost_usd DESC, requests DESC, model LIMIT ${top}`,
      w.params,
    ),
    db.query(
      `SELECT rule, count(*)::int AS hits, count(*) FILTER (WHERE decision = 'block')::int AS blocks
       FROM (SELECT unnest(policy_ids) AS rule, decision FROM usage_logs ${w.sql()}) r
       GROUP BY rule ORDER BY hits DESC, rule LIMIT ${top}`,
      w.params,
    ),
  ]);

  const byTime = new Map(series.map((r) => [String(r.t), totals(r)]));
  const filled: StatsResult['series'] = [];
  for (let i = 0; i < buckets; i++) {
    const t = new Date(first + i * BUCKET_MS[q.bucket]).toISOString().replace('.000Z', 'Z');
    filled.push({ t, ...(byTime.get(t) ?? totals(undefined)) });
  }
  return {
    bucket: q.bucket,
    from: fromIso,
    to: toIso,
    totals: totals(total[0]),
    series: filled,
    by_team: byTeam.map((r) => ({ team: r.team === null ? null : String(r.team), ...totals(r) })),
    by_model: byModel.map((r) => ({ model: r.model === null ? null : String(r.model), ...totals(r) })),
    by_rule: byRule.map((r) => ({ rule: String(r.rule), hits: Number(r.hits), blocks: Number(r.blocks) })),
  };
}
