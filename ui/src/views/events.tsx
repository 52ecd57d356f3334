import { api, type AdminEventView } from '../api.js';
import { fmtTime, UNKNOWN } from '../format.js';
import { usePolled } from '../hooks.js';

/** A one-line summary of a before/after object: its keys and short values. */
function summary(value: unknown): string {
  if (value === null || value === undefined) return UNKNOWN;
  if (typeof value !== 'object') return String(value);
  const text = JSON.stringify(value);
  return text.length > 160 ? `${text.slice(0, 157)}...` : text;
}

/** Who changed what in the admin API and when (admin_events, its own hash chain; docs/identity.md). */
export function Events() {
  const list = usePolled(
    () => api<{ data: AdminEventView[] }>('GET', '/events', { query: { limit: 200 } }),
    [],
    10_000,
  );
  return (
    <section aria-labelledby="events-title">
      <div class="page-head">
        <h1 id="events-title">Admin events</h1>
      </div>
      {list.error && (
        <p role="alert" class="error">
          {list.error}
        </p>
      )}
      <div class="panel table-wrap">
        <table class="events">
          <caption class="sr-only">Admin changes and sign-ins, newest first</caption>
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">When</th>
              <th scope="col">Who</th>
              <th scope="col">Action</th>
              <th scope="col">Target</th>
              <th scope="col">Outcome</th>
              <th scope="col">Before</th>
              <th scope="col">After</th>
            </tr>
          </thead>
          <tbody>
            {(list.data?.data ?? []).map((e) => (
              <tr key={e.seq} data-event-seq={e.seq}>
                <th scope="row" class="mono">
                  {e.seq}
                </th>
                <td>{fmtTime(e.created_at)}</td>
                <td>
                  {e.actor}
                  <div class="muted small">
                    {e.actor_role} · {e.auth_method}
                  </div>
                </td>
                <td>{e.action}</td>
                <td class="mono small">{e.target ?? UNKNOWN}</td>
                <td>{e.outcome}</td>
                <td class="mono small">{summary(e.before)}</td>
                <td class="mono small">{summary(e.after)}</td>
              </tr>
            ))}
            {list.data && list.data.data.length === 0 && (
              <tr>
                <td colSpan={8} class="muted">
                  Nothing here.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </section>
  );
}
