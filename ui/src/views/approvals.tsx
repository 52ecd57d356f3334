import { useState } from 'preact/hooks';
import { api, type ApprovalView } from '../api.js';
import { errorText, fmtTime, UNKNOWN } from '../format.js';
import { Select } from '../fields.js';
import { usePolled } from '../hooks.js';

const STATES: [string, string][] = [
  ['pending', 'Pending'],
  ['approved', 'Approved, not yet used'],
  ['used', 'Used'],
  ['denied', 'Denied'],
  ['expired', 'Expired'],
  ['', 'All'],
];

/** Approve or deny one pending tool call; the agent's next identical call then passes once. */
function Decide(props: { a: ApprovalView; onDone: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const decide = async (action: 'approve' | 'deny') => {
    setBusy(true);
    setError(null);
    try {
      await api('POST', `/approvals/${encodeURIComponent(props.a.id)}/${action}`, { body: {} });
      props.onDone();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  if (props.a.state !== 'pending') return <span class="muted">{UNKNOWN}</span>;
  return (
    <div class="actions">
      <button
        type="button"
        disabled={busy}
        aria-label={`Approve ${props.a.tool} (${props.a.id})`}
        onClick={() => void decide('approve')}
      >
        Approve
      </button>
      <button
        type="button"
        class="secondary"
        disabled={busy}
        aria-label={`Deny ${props.a.tool} (${props.a.id})`}
        onClick={() => void decide('deny')}
      >
        Deny
      </button>
      {error && (
        <span role="alert" class="error">
          {error}
        </span>
      )}
    </div>
  );
}

/** Tool calls waiting for a human (docs/mcp.md), polled so new requests show up. */
export function Approvals() {
  const [state, setState] = useState('pending');
  const list = usePolled(
    () => api<{ data: ApprovalView[] }>('GET', '/approvals', { query: { state, limit: 200 } }),
    [state],
    5_000,
  );
  return (
    <section aria-labelledby="approvals-title">
      <div class="page-head">
        <h1 id="approvals-title">Tool-call approvals</h1>
        <Select label="Show" name="state" value={state} options={STATES} onChange={setState} />
      </div>
      {list.error && (
        <p role="alert" class="error">
          {list.error}
        </p>
      )}
      <div class="panel table-wrap">
        <table class="approvals">
          <caption class="sr-only">Tool-call approvals, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Tool</th>
              <th scope="col">Arguments</th>
              <th scope="col">Caller</th>
              <th scope="col">Rules</th>
              <th scope="col">State</th>
              <th scope="col">Requested</th>
              <th scope="col">Expires</th>
              <th scope="col">Decision</th>
            </tr>
          </thead>
          <tbody>
            {(list.data?.data ?? []).map((a) => (
              <tr key={a.id} data-approval-id={a.id}>
                <th scope="row">
                  {a.server} / {a.tool}
                  <div class="mono muted small">{a.id}</div>
                </th>
                <td class="mono small">
                  {a.arguments ?? <span class="muted">sha256 {a.arguments_sha256.slice(0, 12)}</span>}
                </td>
                <td>
                  {a.owner ?? UNKNOWN}
                  <div class="muted small">
                    {a.team ?? 'no team'} · {a.key_id}
                  </div>
                </td>
                <td>{a.rule_ids.join(', ')}</td>
                <td>
                  <span class={`badge badge-approval-${a.state}`}>{a.state}</span>
                  {a.decided_by && <div class="muted small">by {a.decided_by}</div>}
                </td>
                <td>{fmtTime(a.created_at)}</td>
                <td>{fmtTime(a.expires_at)}</td>
                <td>
                  <Decide a={a} onDone={list.reload} />
                </td>
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
