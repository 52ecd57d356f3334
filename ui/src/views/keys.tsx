import { useEffect, useRef, useState } from 'preact/hooks';
import { api, type KeyView } from '../api.js';
import { errorText, fmtTime, UNKNOWN } from '../format.js';
import { Select } from '../fields.js';
import { usePolled } from '../hooks.js';

type NewKey = KeyView & { key: string };

function list(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** The secret, shown exactly once, with a copy button. */
function CopyOnce(props: { created: NewKey; verb: string; onDone: () => void }) {
  const input = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState(false);
  useEffect(() => {
    input.current?.focus();
    input.current?.select();
  }, []);
  return (
    <div class="panel copy-once" role="status" aria-labelledby="copy-once-title">
      <h2 id="copy-once-title">
        Key {props.verb}: {props.created.name ?? props.created.id}
      </h2>
      <p>
        <strong>Copy it now: this is the only time it is shown.</strong> Only a hash is stored.
      </p>
      <div class="copy-row">
        <label class="sr-only" for="new-key-value">
          New API key
        </label>
        <input
          id="new-key-value"
          ref={input}
          readOnly
          value={props.created.key}
          class="mono"
          spellcheck={false}
        />
        <button
          type="button"
          onClick={() => {
            input.current?.select();
            navigator.clipboard
              ?.writeText(props.created.key)
              .then(() => setCopied(true))
              .catch(() => setCopied(false));
          }}
        >
          {copied ? 'Copied' : 'Copy'}
        </button>
        <button type="button" class="secondary" onClick={props.onDone}>
          I have stored it
        </button>
      </div>
    </div>
  );
}

function KeyActions(props: { k: KeyView; onChanged: (created?: NewKey, verb?: string) => void }) {
  const [confirm, setConfirm] = useState<'revoke' | 'rotate' | null>(null);
  const [grace, setGrace] = useState('24h');
  const [error, setError] = useState<string | null>(null);
  const label = props.k.name ?? props.k.id;
  if (props.k.status === 'revoked') return <span class="muted">revoked</span>;
  const run = async () => {
    try {
      if (confirm === 'revoke') {
        await api('POST', `/keys/${encodeURIComponent(props.k.id)}/revoke`, { body: {} });
        props.onChanged();
      } else if (confirm === 'rotate') {
        const created = await api<NewKey>('POST', `/keys/${encodeURIComponent(props.k.id)}/rotate`, {
          body: { grace },
        });
        props.onChanged(created, 'rotated');
      }
      setConfirm(null);
    } catch (err) {
      setError(errorText(err));
    }
  };
  if (confirm)
    return (
      <div class="confirm" role="group" aria-label={`Confirm ${confirm} of ${label}`}>
        {confirm === 'rotate' && (
          <Select
            label="Old key keeps working for"
            name={`grace-${props.k.id}`}
            inline
            value={grace}
            options={[
              ['1m', '1 minute'],
              ['1h', '1 hour'],
              ['24h', '24 hours'],
              ['7d', '7 days'],
            ]}
            onChange={setGrace}
          />
        )}
        <button type="button" class={confirm === 'revoke' ? 'danger' : ''} onClick={() => void run()}>
          Confirm {confirm}
        </button>
        <button type="button" class="secondary" onClick={() => setConfirm(null)}>
          Cancel
        </button>
        {error && (
          <span role="alert" class="error">
            {error}
          </span>
        )}
      </div>
    );
  return (
    <div class="actions">
      <button
        type="button"
        class="secondary"
        aria-label={`Rotate ${label}`}
        onClick={() => setConfirm('rotate')}
      >
        Rotate
      </button>
      <button
        type="button"
        class="danger"
        aria-label={`Revoke ${label}`}
        onClick={() => setConfirm('revoke')}
      >
        Revoke
      </button>
    </div>
  );
}

export function Keys() {
  const keys = usePolled(() => api<{ data: KeyView[] }>('GET', '/keys'), [], 15_000);
  const [form, setForm] = useState({ owner: '', name: '', team: '', tags: '', models: '', expires_in: '' });
  const [created, setCreated] = useState<{ key: NewKey; verb: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const create = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const key = await api<NewKey>('POST', '/keys', {
        body: {
          owner: form.owner.trim(),
          ...(form.name.trim() ? { name: form.name.trim() } : {}),
          ...(form.team.trim() ? { team: form.team.trim() } : {}),
          ...(form.tags.trim() ? { tags: list(form.tags) } : {}),
          ...(form.models.trim() ? { models: list(form.models) } : {}),
          ...(form.expires_in ? { expires_in: form.expires_in } : {}),
        },
      });
      setCreated({ key, verb: 'created' });
      setForm({ owner: '', name: '', team: '', tags: '', models: '', expires_in: '' });
      keys.reload();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  const input = (name: keyof typeof form, label: string, extra: Record<string, unknown> = {}) => (
    <label>
      {label}
      <input
        name={name}
        value={form[name]}
        onInput={(e) => setForm({ ...form, [name]: (e.currentTarget as HTMLInputElement).value })}
        {...extra}
      />
    </label>
  );

  return (
    <section aria-labelledby="keys-title">
      <div class="page-head">
        <h1 id="keys-title">API keys</h1>
      </div>
      {created && <CopyOnce created={created.key} verb={created.verb} onDone={() => setCreated(null)} />}
      <form class="panel form-grid" aria-labelledby="create-key-title" onSubmit={(e) => void create(e)}>
        <h2 id="create-key-title">Create a key</h2>
        {input('owner', 'Owner email', { type: 'email', required: true, autocomplete: 'off' })}
        {input('name', 'Name')}
        {input('team', 'Team')}
        {input('tags', 'Tags (comma separated)')}
        {input('models', 'Allowed models (globs, comma separated)', { placeholder: 'gpt-4o*, claude-*' })}
        <Select
          label="Expires"
          name="expires_in"
          value={form.expires_in}
          options={[
            ['', 'Never'],
            ['7d', 'in 7 days'],
            ['30d', 'in 30 days'],
            ['90d', 'in 90 days'],
            ['365d', 'in a year'],
          ]}
          onChange={(v) => setForm({ ...form, expires_in: v })}
        />
        <div class="form-actions">
          <button type="submit" disabled={busy}>
            Create key
          </button>
          {error && (
            <span role="alert" class="error">
              {error}
            </span>
          )}
        </div>
      </form>
      {keys.error && (
        <p role="alert" class="error">
          {keys.error}
        </p>
      )}
      <div class="panel table-wrap">
        <table class="keys">
          <caption class="sr-only">API keys, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Name / id</th>
              <th scope="col">Owner</th>
              <th scope="col">Team</th>
              <th scope="col">Tags</th>
              <th scope="col">Models</th>
              <th scope="col">Status</th>
              <th scope="col">Created</th>
              <th scope="col">Last used</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {(keys.data?.data ?? []).map((k) => (
              <tr key={k.id} data-key-id={k.id}>
                <th scope="row">
                  {k.name ?? <span class="muted">(unnamed)</span>}
                  <div class="mono muted small">{k.id}</div>
                </th>
                <td>{k.owner}</td>
                <td>{k.team ?? UNKNOWN}</td>
                <td>{k.tags.join(', ') || UNKNOWN}</td>
                <td>{k.models.join(', ') || 'any'}</td>
                <td>
                  <span class={`badge badge-key-${k.status}`}>{k.status}</span>
                  {k.expires_at && k.status === 'active' ? (
                    <div class="muted small">expires {fmtTime(k.expires_at)}</div>
                  ) : null}
                </td>
                <td>{fmtTime(k.created_at)}</td>
                <td>{fmtTime(k.last_used_at)}</td>
                <td>
                  <KeyActions
                    k={k}
                    onChanged={(c, verb) => {
                      if (c) setCreated({ key: c, verb: verb ?? 'rotated' });
                      keys.reload();
                    }}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
