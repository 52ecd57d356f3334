/**
 * Admin sign-in against a real OpenID Connect provider (the `oidc-provider` package on 127.0.0.1),
 * driven in Chromium: authorization code + PKCE, state and nonce, a session cookie, roles from the
 * `roles` claim enforced by the API, CSRF refusal, sign-out, and each step in admin_events.
 */
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import Provider from 'oidc-provider';
import { startProxy, type ProxyHarness } from '../support/proxy.js';
import { IN_CI } from '../support/db.js';
import { buildUi } from '../../scripts/build-ui.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const TOKEN = 'break-glass-admin-token-0123456789';
const SECRET = 'oidc-client-secret-for-tests-0123456789';
const ROLES: Record<string, string[]> = {
  vera: ['viewer'],
  otto: ['operator'],
  ada: ['aigov-admins'], // mapped to admin by admin.oidc.role_map
  nora: ['nobody'],
};

async function startIdp(): Promise<{ issuer: string; server: Server; attach(redirectUri: string): void }> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const attach = (redirectUri: string): void => {
    const provider = new Provider(issuer, {
      clients: [
        {
          client_id: 'aigov',
          client_secret: SECRET,
          redirect_uris: [redirectUri],
          grant_types: ['authorization_code'],
          response_types: ['code'],
          token_endpoint_auth_method: 'client_secret_basic',
        },
      ],
      claims: { openid: ['sub'], email: ['email'], profile: ['name'], roles: ['roles'] },
      scopes: ['openid', 'email', 'profile', 'roles'],
      conformIdTokenClaims: false,
      findAccount: (_ctx: unknown, id: string) => ({
        accountId: id,
        claims: () => ({
          sub: id,
          email: `${id}@example.com`,
          name: id.toUpperCase(),
          roles: ROLES[id] ?? [],
        }),
      }),
    });
    server.on('request', provider.callback());
  };
  return { issuer, server, attach };
}

if (!existsSync(CHROMIUM)) {
  if (IN_CI) t.fail(`CI=true but Chromium is missing at ${CHROMIUM}: apt-get install -y chromium`);
  else t.test('admin OIDC', { skip: `no Chromium at ${CHROMIUM}` }, async () => {});
} else {
  t.test('OIDC sign-in with each role, role enforcement, CSRF, sign-out, audit trail', async (t) => {
    await buildUi({ typecheck: false }); // the dashboard as it is now
    // The proxy needs the issuer, the IdP's client needs the proxy's callback URL: listen first.
    const idp = await startIdp();
    const h: ProxyHarness = await startProxy({
      overrides: {
        admin: {
          token: TOKEN,
          oidc: {
            issuer: idp.issuer,
            client_id: 'aigov',
            client_secret: SECRET,
            roles_claim: 'roles',
            role_map: { 'aigov-admins': 'admin' },
            scopes: ['openid', 'email', 'profile', 'roles'],
          },
        },
      },
    });
    const proxy = h;
    idp.attach(`${proxy.url}/admin/auth/callback`);
    t.teardown(async () => {
      await proxy.close();
      idp.server.closeAllConnections();
      await new Promise<void>((r) => idp.server.close(() => r()));
    });
    const browser: Browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    t.teardown(() => browser.close());

    const signIn = async (
      user: string,
    ): Promise<{ context: BrowserContext; me: Record<string, unknown> }> => {
      const context = await browser.newContext();
      const page = await context.newPage();
      page.setDefaultTimeout(15_000);
      await page.goto(`${proxy.url}/admin/auth/login?return_to=/admin/auth/me`);
      await page.locator('input[name="login"]').fill(user);
      await page.locator('input[name="password"]').fill('any-password');
      await page.locator('button[type="submit"]').click();
      // Consent on first use of the client.
      await page.waitForURL((u) => u.href.startsWith(proxy.url) || /interaction/.test(u.pathname));
      if (!page.url().startsWith(proxy.url)) {
        await page.locator('button[type="submit"]').click();
        await page.waitForURL((u) => u.href.startsWith(proxy.url));
      }
      const text = (await page.locator('body').innerText()).trim();
      let me: Record<string, unknown> = {};
      try {
        me = JSON.parse(text) as Record<string, unknown>;
      } catch {
        me = { page: text };
      }
      return { context, me };
    };

    const call = async (
      context: BrowserContext,
      method: 'GET' | 'POST' | 'PATCH',
      path: string,
      options: { csrf?: string | null; body?: unknown } = {},
    ): Promise<number> => {
      const res = await context.request.fetch(`${proxy.url}${path}`, {
        method,
        headers: {
          ...(options.csrf ? { 'x-csrf-token': options.csrf } : {}),
          ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(options.body !== undefined ? { data: JSON.stringify(options.body) } : {}),
      });
      return res.status();
    };

    const expected = {
      vera: { role: 'viewer', logs: 200, keys: 403, createKey: 403, policies: 403 },
      otto: { role: 'operator', logs: 200, keys: 200, createKey: 201, policies: 403 },
      ada: { role: 'admin', logs: 200, keys: 200, createKey: 201, policies: 200 },
    } as const;
    for (const [user, want] of Object.entries(expected)) {
      const { context, me } = await signIn(user);
      t.equal(me.actor, `${user}@example.com`, `${user}: signed in`);
      t.equal(me.role, want.role, `${user}: role from the claim`);
      const cookies = await context.cookies(proxy.url);
      const session = cookies.find((c) => c.name === 'aigov_session');
      t.ok(session?.httpOnly, `${user}: session cookie is HttpOnly`);
      t.equal(session?.sameSite, 'Lax');
      const csrf = me.csrf_token as string;
      t.equal(await call(context, 'GET', '/admin/logs'), want.logs, `${user}: logs`);
      t.equal(await call(context, 'GET', '/admin/keys'), want.keys, `${user}: list keys`);
      t.equal(
        await call(context, 'POST', '/admin/keys', { csrf, body: { owner: `${user}-made@example.com` } }),
        want.createKey,
        `${user}: create a key`,
      );
      t.equal(await call(context, 'GET', '/admin/policies'), want.policies, `${user}: policies`);
      if (want.createKey === 201)
        t.equal(
          await call(context, 'POST', '/admin/keys', { body: { owner: 'csrf@example.com' } }),
          403,
          `${user}: a state-changing call without the CSRF token is refused`,
        );
      // The dashboard says who is signed in and hides what the role may not do.
      const page = await context.newPage();
      page.setDefaultTimeout(15_000);
      await page.goto(`${proxy.url}/ui/`);
      const who = page.getByLabel('Signed in as');
      await who.waitFor();
      t.match(
        await who.innerText(),
        new RegExp(`${user.toUpperCase()}\\s*\\(${want.role}\\)`),
        `${user}: shown`,
      );
      const nav = await page.getByRole('navigation', { name: 'Main' }).innerText();
      t.match(nav, /Decisions/);
      t.equal(/Keys/.test(nav), want.keys === 200, `${user}: Keys tab only when allowed`);
      t.equal(/Policies/.test(nav), want.policies === 200, `${user}: Policies tab only when allowed`);
      t.equal(/Admin events/.test(nav), want.policies === 200, `${user}: Admin events tab for admins only`);
      if (want.policies === 200) {
        await page.getByRole('link', { name: 'Admin events' }).click();
        await page.getByRole('heading', { name: 'Admin events' }).waitFor();
        await page.locator('tr[data-event-seq]').first().waitFor();
        t.match(
          await page.locator('table.events tbody').innerText(),
          new RegExp(user),
          `${user}: the dashboard lists the admin trail, this sign-in included`,
        );
      }
      // Sign out from the dashboard (a POST with the CSRF token): back to the sign-in page.
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('link', { name: 'Sign in with single sign-on' }).waitFor();
      t.equal(await call(context, 'GET', '/admin/logs'), 401, `${user}: the session is gone`);
      await context.close();
    }

    // A user without an aigov role is refused and the refusal is recorded.
    const { context: nobody, me } = await signIn('nora');
    t.match(String(me.page), /no aigov role/, 'a user without a role is refused');
    t.equal(await call(nobody, 'GET', '/admin/logs'), 401);
    await nobody.close();

    // The audit trail, read with the break-glass token (admin role).
    const res = await fetch(`${proxy.url}/admin/events?limit=100`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    const events = ((await res.json()) as { data: Record<string, unknown>[] }).data.reverse();
    const summary = events.map((e) => `${e.actor} ${e.action} ${e.outcome}`);
    t.same(summary, [
      'vera@example.com signin ok',
      'vera@example.com signout ok',
      'otto@example.com signin ok',
      'otto@example.com key.create ok',
      'otto@example.com signout ok',
      'ada@example.com signin ok',
      'ada@example.com key.create ok',
      'ada@example.com signout ok',
      'nora@example.com signin refused',
    ]);
    const created = events.find((e) => e.action === 'key.create')!;
    t.equal(created.actor_role, 'operator');
    t.ok(created.request_id, 'with the request id');
    t.same((created.after as Record<string, unknown>).owner, 'otto-made@example.com');
  });
}
