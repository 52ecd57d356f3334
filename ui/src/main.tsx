import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, clearToken, getToken, setCsrf, setToken, SIGNED_OUT_EVENT, type Me } from './api.js';
import { errorText } from './format.js';
import { Decisions } from './views/decisions.js';
import { Keys } from './views/keys.js';
import { Overview } from './views/overview.js';
import { Policies } from './views/policies.js';
import { Approvals } from './views/approvals.js';
import { Events } from './views/events.js';

const VIEWS = {
  overview: { label: 'Overview', view: Overview, needs: 'stats' },
  decisions: { label: 'Decisions', view: Decisions, needs: 'logs' },
  keys: { label: 'Keys', view: Keys, needs: 'keys' },
  policies: { label: 'Policies', view: Policies, needs: 'policies' },
  approvals: { label: 'Approvals', view: Approvals, needs: 'approvals' },
  events: { label: 'Admin events', view: Events, needs: 'events' },
} as const;
type ViewName = keyof typeof VIEWS;

function currentView(): ViewName {
  const name = location.hash.replace(/^#\/?/, '');
  return name in VIEWS ? (name as ViewName) : 'overview';
}

function SignIn(props: { onSignedIn: () => void; notice: string | null; sso: boolean }) {
  const [token, setTokenText] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api('GET', '/policies', { token: token.trim() });
      setToken(token.trim());
      props.onSignedIn();
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 401
          ? 'That admin token was not accepted.'
          : err instanceof ApiError && err.code === 'admin_disabled'
            ? 'The admin API is disabled on this server: set ADMIN_TOKEN and restart it.'
            : errorText(err),
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="main" class="signin">
      <form class="panel" aria-labelledby="signin-title" onSubmit={(e) => void submit(e)}>
        <h1 id="signin-title">aigov dashboard</h1>
        <p class="muted">
          Sign in with the server's admin token (ADMIN_TOKEN). It is kept only for this tab.
        </p>
        {props.notice && <p role="status">{props.notice}</p>}
        {props.sso && (
          <p>
            <a class="button" href="/admin/auth/login?return_to=/ui/">
              Sign in with single sign-on
            </a>
          </p>
        )}
        <label>
          Admin token
          <input
            ref={input}
            type="password"
            name="token"
            autocomplete="current-password"
            required
            minLength={16}
            value={token}
            onInput={(e) => setTokenText((e.currentTarget as HTMLInputElement).value)}
          />
        </label>
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}

function App() {
  const [signedIn, setSignedIn] = useState(getToken() !== null);
  const [me, setMe] = useState<Me | null>(null);
  const [sso, setSso] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const [view, setView] = useState<ViewName>(currentView());
  const main = useRef<HTMLElement>(null);

  // Who is signed in (token or single sign-on session), with what role; and is SSO offered.
  useEffect(() => {
    if (signedIn || getToken() === null)
      // token '': no Authorization header and no "session ended" notice when nobody is signed in yet.
      api<Me>('GET', '/auth/me', getToken() === null ? { token: '' } : {})
        .then((m) => {
          setCsrf(m.csrf_token);
          setMe(m);
          setSignedIn(true);
        })
        .catch(() => setMe(null));
    if (!signedIn)
      api<{ oidc: boolean }>('GET', '/auth/config', { token: '' })
        .then((c) => setSso(c.oidc))
        .catch(() => setSso(false));
  }, [signedIn]);

  useEffect(() => {
    const onHash = () => {
      setView(currentView());
      main.current?.focus();
    };
    const onSignedOut = () => {
      setSignedIn(false);
      setNotice('Your session ended: the admin token was refused. Sign in again.');
    };
    window.addEventListener('hashchange', onHash);
    window.addEventListener(SIGNED_OUT_EVENT, onSignedOut);
    return () => {
      window.removeEventListener('hashchange', onHash);
      window.removeEventListener(SIGNED_OUT_EVENT, onSignedOut);
    };
  }, []);

  useEffect(() => {
    document.title = signedIn ? `${VIEWS[view].label} · aigov` : 'Sign in · aigov';
  }, [view, signedIn]);

  if (!signedIn)
    return (
      <SignIn
        sso={sso}
        notice={notice}
        onSignedIn={() => {
          setNotice(null);
          setSignedIn(true);
        }}
      />
    );

  const allowed = (name: ViewName): boolean => me === null || me.capabilities[VIEWS[name].needs];
  const View = allowed(view) ? VIEWS[view].view : VIEWS.overview.view;
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), main.current?.focus())}>
        Skip to content
      </a>
      <header class="top">
        <span class="brand">aigov</span>
        <nav aria-label="Main">
          <ul>
            {(Object.keys(VIEWS) as ViewName[]).filter(allowed).map((name) => (
              <li key={name}>
                <a href={`#/${name}`} aria-current={view === name ? 'page' : undefined}>
                  {VIEWS[name].label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        {me && (
          <span class="who" aria-label="Signed in as">
            {me.name ?? me.actor} <span class="muted">({me.role})</span>
          </span>
        )}
        <button
          type="button"
          class="secondary signout"
          onClick={() => {
            const done = () => {
              clearToken();
              setCsrf(null);
              setMe(null);
              setNotice('Signed out.');
              setSignedIn(false);
            };
            if (me?.method === 'oidc') void api('POST', '/auth/logout').finally(done);
            else done();
          }}
        >
          Sign out
        </button>
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        <View />
      </main>
    </>
  );
}

const root = document.getElementById('app');
if (root) {
  root.textContent = '';
  render(<App />, root);
}
