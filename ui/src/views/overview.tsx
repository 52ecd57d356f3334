import { useState } from 'preact/hooks';
import { api, type Stats } from '../api.js';
import { BarList, RequestsChart } from '../charts.js';
import { fmtInt, fmtPct, fmtTime, fmtUsd } from '../format.js';
import { Select } from '../fields.js';
import { usePolled } from '../hooks.js';

const RANGES = {
  '24h': { label: 'Last 24 hours', bucket: 'hour', ms: 24 * 3_600_000 },
  '7d': { label: 'Last 7 days', bucket: 'day', ms: 7 * 86_400_000 },
  '30d': { label: 'Last 30 days', bucket: 'day', ms: 30 * 86_400_000 },
} as const;
type Range = keyof typeof RANGES;

function Stat(props: { label: string; value: string; hint?: string; tone?: 'bad' }) {
  return (
    <div class={`stat${props.tone ? ` stat-${props.tone}` : ''}`}>
      <dt>{props.label}</dt>
      <dd>
        {props.value}
        {props.hint ? <span class="muted stat-hint">{props.hint}</span> : null}
      </dd>
    </div>
  );
}

export function Overview() {
  const [range, setRange] = useState<Range>('24h');
  const r = RANGES[range];
  const stats = usePolled(
    () =>
      api<Stats>('GET', '/stats', {
        query: { bucket: r.bucket, from: new Date(Date.now() - r.ms).toISOString(), top: 8 },
      }),
    [range],
    10_000,
  );
  const s = stats.data;
  return (
    <section aria-labelledby="overview-title">
      <div class="page-head">
        <h1 id="overview-title">Overview</h1>
        <div class="toolbar">
          <Select
            label="Range"
            name="range"
            inline
            value={range}
            options={Object.entries(RANGES).map(([k, v]) => [k, v.label] as const)}
            onChange={(v) => setRange(v as Range)}
          />
          <span class="muted" aria-live="off">
            {stats.updatedAt
              ? `Updated ${stats.updatedAt.toLocaleTimeString(undefined, { hour12: false })}`
              : ''}
          </span>
        </div>
      </div>
      {stats.error && (
        <p role="alert" class="error">
          Could not load statistics: {stats.error}
        </p>
      )}
      {!s && !stats.error && <p class="muted">Loading…</p>}
      {s && (
        <>
          <dl class="stats" aria-label="Totals">
            <Stat label="Requests" value={fmtInt(s.totals.requests)} />
            <Stat
              label="Blocked"
              value={fmtInt(s.totals.blocks)}
              hint={fmtPct(s.totals.blocks, s.totals.requests)}
              tone={s.totals.blocks > 0 ? 'bad' : undefined}
            />
            <Stat label="Redacted" value={fmtInt(s.totals.redacts)} />
            <Stat
              label="Tokens"
              value={fmtInt(s.totals.tokens)}
              hint={s.totals.unknown_usage ? `${fmtInt(s.totals.unknown_usage)} unknown` : undefined}
            />
            <Stat label="Spend" value={fmtUsd(s.totals.cost_usd)} />
          </dl>
          <div class="panel">
            <h2>Requests and blocks</h2>
            <RequestsChart
              series={s.series}
              bucket={s.bucket}
              title={`Requests and blocks per ${s.bucket}, ${fmtTime(s.from)} to ${fmtTime(s.to)}`}
            />
          </div>
          <div class="grid3">
            <div class="panel">
              <h2>Top rules</h2>
              <BarList
                label="Rules by matches"
                empty="No rule matched in this range."
                items={s.by_rule.map((x) => ({
                  name: x.rule,
                  value: x.hits,
                  display: `${fmtInt(x.hits)} ${x.hits === 1 ? 'hit' : 'hits'}`,
                  detail: `${fmtInt(x.blocks)} blocked`,
                }))}
              />
            </div>
            <div class="panel">
              <h2>Spend by team</h2>
              <BarList
                label="Spend by team"
                empty="No requests in this range."
                items={s.by_team.map((x) => ({
                  name: x.team ?? '(no team)',
                  value: x.cost_usd || x.requests / 1e9,
                  display: fmtUsd(x.cost_usd),
                  detail: `${fmtInt(x.requests)} requests`,
                }))}
              />
            </div>
            <div class="panel">
              <h2>Spend by model</h2>
              <BarList
                label="Spend by model"
                empty="No requests in this range."
                items={s.by_model.map((x) => ({
                  name: x.model ?? '(no model)',
                  value: x.cost_usd || x.requests / 1e9,
                  display: fmtUsd(x.cost_usd),
                  detail: `${fmtInt(x.tokens)} tokens`,
                }))}
              />
            </div>
          </div>
        </>
      )}
    </section>
  );
}
