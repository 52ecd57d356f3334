import { useEffect, useRef, useState } from 'preact/hooks';
import { api, downloadCsv, type LogsPage, type LogView, type Query } from '../api.js';
import { errorText, fmtInt, fmtMs, fmtTime, fmtUsd, UNKNOWN } from '../format.js';
import { Select } from '../fields.js';
import { usePolled } from '../hooks.js';

interface Filters {
  decision: string;
  team: string;
  model: string;
  key_id: string;
  policy: string;
  route: string;
  since: string;
}

const EMPTY: Filters = { decision: '', team: '', model: '', key_id: '', policy: '', route: '', since: '' };
const SINCE: Record<string, number> = {
  '15m': 15 * 60_000,
  '1h': 3_600_000,
  '24h': 86_400_000,
  '7d': 7 * 86_400_000,
};
const POLL_MS = 3_000;

export function DecisionBadge(props: { decision: string }) {
  return <span class={`badge badge-${props.decision}`}>{props.decision}</span>;
}

function toQuery(f: Filters): Query {
  const { since, ...rest } = f;
  return {
    ...rest,
    from: since && SINCE[since] ? new Date(Date.now() - SINCE[since]).toISOString() : undefined,
  };
}

function Detail(props: { row: LogView; onClose: () => void }) {
  const { row } = props;
  const heading = useRef<HTMLHeadingElement>(null);
  const [full, setFull] = useState<LogView | null>(null);
  useEffect(() => {
    heading.current?.focus();
    api<LogView>('GET', `/logs/${encodeURIComponent(row.request_id)}`)
      .then(setFull)
      .catch(() => setFull(null));
  }, [row.request_id]);
  const r = full ?? row;
  const reasons = r.reasons ?? [];
  return (
    <aside
      class="panel detail"
      aria-labelledby="detail-title"
      onKeyDown={(e) => {
        if (e.key === 'Escape') props.onClose();
      }}
    >
      <div class="page-head">
        <h2 id="detail-title" tabIndex={-1} ref={heading}>
          Request <code>{r.request_id}</code>
        </h2>
        <button type="button" class="secondary" onClick={props.onClose}>
          Close
        </button>
      </div>
      <p>
        <DecisionBadge decision={r.decision} /> HTTP {r.status_code} · {fmtTime(r.created_at)}
      </p>
      <h3>Reasons</h3>
      {reasons.length === 0 ? (
        <p class="muted">No rule matched.</p>
      ) : (
        <ul class="reasons">
          {reasons.map((x, i) => (
            <li key={i}>
              <strong>{x.policy ?? UNKNOWN}</strong> ({x.action ?? '?'}): {x.message ?? ''}
            </li>
          ))}
        </ul>
      )}
      <dl class="kv">
        <dt>Key</dt>
        <dd>{r.key_id ?? UNKNOWN}</dd>
        <dt>Owner</dt>
        <dd>{r.owner ?? UNKNOWN}</dd>
        <dt>Team</dt>
        <dd>{r.team ?? UNKNOWN}</dd>
        <dt>Route</dt>
        <dd>
          {r.method} {r.route}
        </dd>
        <dt>Provider / model</dt>
        <dd>
          {r.provider ?? UNKNOWN} / {r.model ?? UNKNOWN}
        </dd>
        <dt>Risk score</dt>
        <dd>{r.risk_score === null ? UNKNOWN : r.risk_score.toFixed(2)}</dd>
        <dt>Tokens (prompt / completion / total)</dt>
        <dd>
          {fmtInt(r.prompt_tokens)} / {fmtInt(r.completion_tokens)} / {fmtInt(r.total_tokens)}
        </dd>
        <dt>Of which cached input / cache writes / reasoning</dt>
        <dd>
          {fmtInt(r.cached_tokens)} / {fmtInt(r.cache_write_tokens)} / {fmtInt(r.reasoning_tokens)}
        </dd>
        <dt>Cost</dt>
        <dd>{fmtUsd(r.cost_usd)}</dd>
        <dt>Latency (total / upstream / overhead)</dt>
        <dd>
          {fmtMs(r.latency_ms)} / {fmtMs(r.upstream_ms)} / {fmtMs(r.overhead_ms)}
        </dd>
        <dt>Stream</dt>
        <dd>
          {r.stream ? 'yes' : 'no'}
          {r.aborted ? ' (aborted by the client)' : ''}
        </dd>
        <dt>Error</dt>
        <dd>{r.error ?? UNKNOWN}</dd>
        <dt>Client IP</dt>
        <dd>{r.client_ip ?? UNKNOWN}</dd>
      </dl>
      {full?.content ? (
        <>
          <h3>Stored prompt</h3>
          <pre class="content">{full.content}</pre>
        </>
      ) : null}
    </aside>
  );
}

export function Decisions() {
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const [live, setLive] = useState(true);
  const [older, setOlder] = useState<LogView[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [selected, setSelected] = useState<LogView | null>(null);
  const [message, setMessage] = useState<string | null>(null);

  const first = usePolled(
    () => api<LogsPage>('GET', '/logs', { query: { ...toQuery(filters), limit: 50 } }),
    [filters],
    live ? POLL_MS : undefined,
  );
  useEffect(() => {
    setOlder([]);
    setCursor(null);
  }, [filters]);
  const nextCursor = older.length ? cursor : (first.data?.next_cursor ?? null);
  const firstRows = first.data?.data ?? [];
  const seen = new Set(firstRows.map((r) => r.request_id));
  const rows = [...firstRows, ...older.filter((r) => !seen.has(r.request_id))];

  const loadMore = async () => {
    if (!nextCursor) return;
    try {
      const page = await api<LogsPage>('GET', '/logs', {
        query: { ...toQuery(filters), limit: 50, cursor: nextCursor },
      });
      setOlder((o) => [...o, ...page.data]);
      setCursor(page.next_cursor);
    } catch (err) {
      setMessage(errorText(err));
    }
  };

  const field = (name: keyof Filters, label: string, placeholder = '') => (
    <label>
      {label}
      <input
        name={name}
        value={draft[name]}
        placeholder={placeholder}
        onInput={(e) => setDraft({ ...draft, [name]: (e.currentTarget as HTMLInputElement).value.trim() })}
      />
    </label>
  );

  return (
    <section aria-labelledby="decisions-title">
      <div class="page-head">
        <h1 id="decisions-title">Decisions</h1>
        <div class="toolbar">
          <label class="inline">
            <input type="checkbox" checked={live} onChange={() => setLive(!live)} /> Live (every{' '}
            {POLL_MS / 1000} s)
          </label>
          <span class="muted">
            {first.updatedAt
              ? `Updated ${first.updatedAt.toLocaleTimeString(undefined, { hour12: false })}`
              : ''}
          </span>
          <button
            type="button"
            class="secondary"
            onClick={() => {
              downloadCsv(toQuery(filters)).catch((err: unknown) => setMessage(errorText(err)));
            }}
          >
            Export CSV
          </button>
        </div>
      </div>
      <form
        class="filters panel"
        aria-label="Filter decisions"
        onSubmit={(e) => {
          e.preventDefault();
          setFilters({ ...draft });
          setSelected(null);
        }}
      >
        <Select
          label="Decision"
          name="decision"
          value={draft.decision}
          options={[['', 'Any'], ...['allow', 'block', 'redact', 'error'].map((d) => [d, d] as const)]}
          onChange={(v) => setDraft({ ...draft, decision: v })}
        />
        {field('team', 'Team')}
        {field('model', 'Model', 'gpt-4o')}
        {field('key_id', 'Key id')}
        {field('policy', 'Rule id')}
        {field('route', 'Route', '/v1/chat/completions')}
        <Select
          label="Since"
          name="since"
          value={draft.since}
          options={[['', 'Any time'], ...Object.keys(SINCE).map((k) => [k, `Last ${k}`] as const)]}
          onChange={(v) => setDraft({ ...draft, since: v })}
        />
        <div class="filter-actions">
          <button type="submit">Apply filters</button>
          <button
            type="button"
            class="secondary"
            onClick={() => {
              setDraft(EMPTY);
              setFilters(EMPTY);
            }}
          >
            Clear
          </button>
        </div>
      </form>
      {(first.error || message) && (
        <p role="alert" class="error">
          {first.error ?? message}
        </p>
      )}
      <div class={selected ? 'split' : ''}>
        <div class="panel table-wrap">
          <table class="decisions">
            <caption class="sr-only">Recent requests, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Decision</th>
                <th scope="col">Team</th>
                <th scope="col">Model</th>
                <th scope="col">Route</th>
                <th scope="col">Rules</th>
                <th scope="col" class="num">
                  Status
                </th>
                <th scope="col" class="num">
                  Latency
                </th>
                <th scope="col" class="num">
                  Tokens
                </th>
                <th scope="col" class="num">
                  Cost
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.length === 0 && (
                <tr>
                  <td colSpan={10} class="muted">
                    {first.loading && !first.data ? 'Loading…' : 'No requests match these filters yet.'}
                  </td>
                </tr>
              )}
              {rows.map((r) => (
                <tr
                  key={r.request_id}
                  class={selected?.request_id === r.request_id ? 'selected' : ''}
                  data-request-id={r.request_id}
                >
                  <td>
                    <button
                      type="button"
                      class="linklike"
                      aria-label={`Details of request ${r.request_id} at ${fmtTime(r.created_at)}`}
                      onClick={() => setSelected(r)}
                    >
                      {fmtTime(r.created_at)}
                    </button>
                  </td>
                  <td>
                    <DecisionBadge decision={r.decision} />
                  </td>
                  <td>{r.team ?? UNKNOWN}</td>
                  <td>{r.model ?? UNKNOWN}</td>
                  <td>{r.route}</td>
                  <td>{r.policy_ids.join(', ')}</td>
                  <td class="num">{r.status_code}</td>
                  <td class="num">{fmtMs(r.latency_ms)}</td>
                  <td class="num">{fmtInt(r.total_tokens)}</td>
                  <td class="num">{fmtUsd(r.cost_usd)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {nextCursor && (
            <button type="button" class="secondary more" onClick={() => void loadMore()}>
              Load older
            </button>
          )}
        </div>
        {selected && <Detail row={selected} onClose={() => setSelected(null)} />}
      </div>
    </section>
  );
}
