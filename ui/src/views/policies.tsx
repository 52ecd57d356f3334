import { useState } from 'preact/hooks';
import { api, type DryRunResult, type PolicySummary } from '../api.js';
import { errorText, fmtTime } from '../format.js';
import { usePolled } from '../hooks.js';
import { DecisionBadge } from './decisions.js';

const EXAMPLE = JSON.stringify(
  {
    model: 'gpt-4o',
    max_tokens: 256,
    messages: [{ role: 'user', content: 'Summarise this contract for me.' }],
  },
  null,
  2,
);

function TryRequest() {
  const [body, setBody] = useState(EXAMPLE);
  const [team, setTeam] = useState('');
  const [tags, setTags] = useState('');
  const [proposed, setProposed] = useState('');
  const [result, setResult] = useState<DryRunResult | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setResult(null);
    let request: unknown;
    try {
      request = JSON.parse(body);
    } catch (err) {
      setError(`The request body is not valid JSON: ${errorText(err)}`);
      return;
    }
    setBusy(true);
    try {
      const key = {
        ...(team.trim() ? { team: team.trim() } : {}),
        ...(tags.trim()
          ? {
              tags: tags
                .split(',')
                .map((s) => s.trim())
                .filter(Boolean),
            }
          : {}),
      };
      setResult(
        await api<DryRunResult>('POST', '/policies/dry-run', {
          body: {
            request,
            ...(Object.keys(key).length ? { key } : {}),
            ...(proposed.trim() ? { policy: proposed } : {}),
          },
        }),
      );
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="panel try" aria-labelledby="try-title" onSubmit={(e) => void submit(e)}>
      <h2 id="try-title">Try a request</h2>
      <p class="muted">
        Evaluates a provider request body as <code>/v1/check</code> would. Nothing is forwarded, recorded or
        counted.
      </p>
      <label>
        Provider request body (JSON)
        <textarea
          name="request"
          rows={9}
          class="mono"
          spellcheck={false}
          value={body}
          onInput={(e) => setBody((e.currentTarget as HTMLTextAreaElement).value)}
        />
      </label>
      <div class="row">
        <label>
          As team
          <input
            name="team"
            value={team}
            onInput={(e) => setTeam((e.currentTarget as HTMLInputElement).value)}
          />
        </label>
        <label>
          With tags (comma separated)
          <input
            name="tags"
            value={tags}
            onInput={(e) => setTags((e.currentTarget as HTMLInputElement).value)}
          />
        </label>
      </div>
      <details>
        <summary>Evaluate against a proposed policy instead of the active set</summary>
        <label>
          Proposed policy (YAML)
          <textarea
            name="policy"
            rows={8}
            class="mono"
            spellcheck={false}
            placeholder={
              'version: 1\nrules:\n  - id: no-secrets\n    when: { detect: [api_secret] }\n    action: block'
            }
            value={proposed}
            onInput={(e) => setProposed((e.currentTarget as HTMLTextAreaElement).value)}
          />
        </label>
      </details>
      <div class="form-actions">
        <button type="submit" disabled={busy}>
          Evaluate
        </button>
      </div>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {result && (
        <div class="result" role="status" aria-live="polite">
          <h3>
            Decision: <DecisionBadge decision={result.decision} />
          </h3>
          <p class="muted">
            {result.policy_source === 'proposed' ? 'Proposed policy' : 'Active policy set'}{' '}
            {result.policy_version}
            {' · '}
            {result.provider} {result.route} · risk {result.risk_score.toFixed(2)}
          </p>
          {result.reasons.length ? (
            <ul class="reasons">
              {result.reasons.map((r, i) => (
                <li key={i}>
                  <strong>{r.policy}</strong> ({r.action}): {r.message}
                </li>
              ))}
            </ul>
          ) : (
            <p>No rule matched.</p>
          )}
          {result.monitor.length > 0 && (
            <>
              <h4>Monitor-mode matches (logged, not enforced)</h4>
              <ul class="reasons">
                {result.monitor.map((r, i) => (
                  <li key={i}>
                    <strong>{r.policy}</strong> ({r.action}): {r.message}
                  </li>
                ))}
              </ul>
            </>
          )}
          {result.limits.length > 0 && <p>Limits that apply: {result.limits.join(', ')}</p>}
          {result.redacted !== undefined && (
            <>
              <h4>Body sent upstream after redaction</h4>
              <pre class="content">{JSON.stringify(result.redacted, null, 2)}</pre>
            </>
          )}
        </div>
      )}
    </form>
  );
}

export function Policies() {
  const policies = usePolled(() => api<PolicySummary>('GET', '/policies'), [], 15_000);
  const [reloadMsg, setReloadMsg] = useState<{ ok: boolean; text: string } | null>(null);
  const p = policies.data;
  const reload = async () => {
    try {
      const r = await api<{ version: string; rule_count: number }>('POST', '/policies/reload', { body: {} });
      setReloadMsg({ ok: true, text: `Reloaded: version ${r.version}, ${r.rule_count} rules.` });
    } catch (err) {
      setReloadMsg({ ok: false, text: errorText(err) });
    }
    policies.reload();
  };
  return (
    <section aria-labelledby="policies-title">
      <div class="page-head">
        <h1 id="policies-title">Policies</h1>
        <div class="toolbar">
          <button type="button" class="secondary" onClick={() => void reload()}>
            Reload from disk
          </button>
        </div>
      </div>
      {reloadMsg && (
        <p role={reloadMsg.ok ? 'status' : 'alert'} class={reloadMsg.ok ? 'ok' : 'error'}>
          {reloadMsg.text}
        </p>
      )}
      {policies.error && (
        <p role="alert" class="error">
          {policies.error}
        </p>
      )}
      {p && (
        <div class="split">
          <div>
            <div class="panel">
              <h2>Active set</h2>
              <dl class="kv">
                <dt>Version</dt>
                <dd class="mono">{p.version}</dd>
                <dt>Files</dt>
                <dd>{p.files.join(', ') || '(none)'}</dd>
                <dt>Loaded</dt>
                <dd>{fmtTime(p.status.loaded_at)}</dd>
                <dt>Reloads</dt>
                <dd>
                  {p.status.reloads} ok, {p.status.failed_reloads} refused
                </dd>
                <dt>Last reload error</dt>
                <dd>
                  {p.status.last_error ? (
                    <pre class="content error">{p.status.last_error}</pre>
                  ) : (
                    <span class="muted">none</span>
                  )}
                </dd>
              </dl>
            </div>
            <div class="panel table-wrap">
              <h2>Rules ({p.rules.length})</h2>
              <table>
                <thead>
                  <tr>
                    <th scope="col">Id</th>
                    <th scope="col">Action</th>
                    <th scope="col">Mode</th>
                    <th scope="col">Description</th>
                    <th scope="col">File</th>
                  </tr>
                </thead>
                <tbody>
                  {p.rules.map((r) => (
                    <tr key={r.id}>
                      <th scope="row" class="mono">
                        {r.id}
                      </th>
                      <td>
                        {r.action}
                        {r.action === 'score' ? ` (${r.risk})` : ''}
                      </td>
                      <td>{r.mode}</td>
                      <td>{r.description ?? ''}</td>
                      <td>{r.file}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {p.limits.length > 0 && (
                <>
                  <h2>Limits ({p.limits.length})</h2>
                  <table>
                    <thead>
                      <tr>
                        <th scope="col">Id</th>
                        <th scope="col">Limit</th>
                        <th scope="col">By</th>
                        <th scope="col">Mode</th>
                      </tr>
                    </thead>
                    <tbody>
                      {p.limits.map((l) => (
                        <tr key={l.id}>
                          <th scope="row" class="mono">
                            {l.id}
                          </th>
                          <td>
                            {l.amount} {l.metric} per {l.per}
                          </td>
                          <td>{l.by}</td>
                          <td>{l.mode}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </>
              )}
            </div>
          </div>
          <TryRequest />
        </div>
      )}
    </section>
  );
}
