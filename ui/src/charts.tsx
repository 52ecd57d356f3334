import { fmtInt, fmtShortTime } from './format.js';

export interface SeriesPoint {
  t: string;
  requests: number;
  blocks: number;
}

/** Requests (bars) with blocks stacked in red, drawn as plain SVG; the numbers are also in a table. */
export function RequestsChart(props: { series: SeriesPoint[]; bucket: 'hour' | 'day'; title: string }) {
  const { series, bucket } = props;
  const width = 1200;
  const height = 240;
  const pad = { top: 12, right: 12, bottom: 28, left: 44 };
  const max = Math.max(1, ...series.map((p) => p.requests));
  const innerW = width - pad.left - pad.right;
  const innerH = height - pad.top - pad.bottom;
  const step = series.length ? innerW / series.length : innerW;
  const barW = Math.max(1, step * 0.7);
  const y = (v: number) => pad.top + innerH - (v / max) * innerH;
  const labelEvery = Math.max(1, Math.ceil(series.length / 8));
  const totalReq = series.reduce((n, p) => n + p.requests, 0);
  const totalBlk = series.reduce((n, p) => n + p.blocks, 0);
  const ticks = [0, Math.round(max / 2), max];
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-labelledby="chart-title chart-desc">
        <title id="chart-title">{props.title}</title>
        <desc id="chart-desc">
          {`${fmtInt(totalReq)} requests and ${fmtInt(totalBlk)} blocks over ${series.length} ${bucket}s.`}
        </desc>
        {ticks.map((v) => (
          <g key={v}>
            <line x1={pad.left} x2={width - pad.right} y1={y(v)} y2={y(v)} class="grid" />
            <text x={pad.left - 6} y={y(v) + 4} class="axis" text-anchor="end">
              {fmtInt(v)}
            </text>
          </g>
        ))}
        {series.map((p, i) => {
          const x = pad.left + i * step + (step - barW) / 2;
          return (
            <g key={p.t}>
              <rect
                x={x}
                y={y(p.requests)}
                width={barW}
                height={innerH + pad.top - y(p.requests)}
                class="bar-req"
              >
                <title>{`${fmtShortTime(p.t, bucket)}: ${p.requests} requests, ${p.blocks} blocked`}</title>
              </rect>
              {p.blocks > 0 && (
                <rect
                  x={x}
                  y={y(p.blocks)}
                  width={barW}
                  height={innerH + pad.top - y(p.blocks)}
                  class="bar-blk"
                />
              )}
              {i % labelEvery === 0 && (
                <text x={x + barW / 2} y={height - 8} class="axis" text-anchor="middle">
                  {fmtShortTime(p.t, bucket)}
                </text>
              )}
            </g>
          );
        })}
      </svg>
      <figcaption>
        <span class="legend legend-req" aria-hidden="true" /> requests{' '}
        <span class="legend legend-blk" aria-hidden="true" /> blocked
      </figcaption>
    </figure>
  );
}

/** A labelled horizontal bar list (top rules, spend by team or model). */
export function BarList(props: {
  label: string;
  items: { name: string; value: number; display: string; detail?: string }[];
  empty: string;
}) {
  const max = Math.max(...props.items.map((i) => i.value), 0);
  if (props.items.length === 0) return <p class="muted">{props.empty}</p>;
  return (
    <ul class="barlist" aria-label={props.label}>
      {props.items.map((item) => (
        <li key={item.name}>
          <div class="barlist-row">
            <span class="barlist-name">{item.name}</span>
            <span class="barlist-value">
              {item.display}
              {item.detail ? <span class="muted"> · {item.detail}</span> : null}
            </span>
          </div>
          <div class="barlist-track" aria-hidden="true">
            <div
              class="barlist-fill"
              style={{ width: `${max > 0 ? Math.max(2, (item.value / max) * 100) : 0}%` }}
            />
          </div>
        </li>
      ))}
    </ul>
  );
}
