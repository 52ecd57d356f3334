import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Config } from '../config/schema.js';
import { AigovError } from '../errors.js';
import type { AdminEventLog } from '../audit/admin-events.js';
import type { Services } from '../services.js';
import { cookie, OidcSignIn, readCookie, SESSION_COOKIE, SignInError, STATE_COOKIE } from './oidc.js';
import { capabilitiesOf, type AdminPrincipal } from './roles.js';
import { adminRoute, error } from './route-doc.js';
import { authCallbackQuery, authConfigView, authLoginQuery, authMeView, logoutView } from './schemas.js';

const REDIRECT = { location: 'Where the browser goes next' };

/** The OIDC sign-in of admin.oidc, or null when only ADMIN_TOKEN (or nothing) is configured. */
export function signInFromConfig(config: Config, env: NodeJS.ProcessEnv = process.env): OidcSignIn | null {
  const oidc = config.admin.oidc;
  if (!oidc) return null;
  const secret =
    oidc.client_secret ?? (oidc.client_secret_env ? (env[oidc.client_secret_env] ?? null) : null);
  return new OidcSignIn(oidc, secret);
}

function isSecure(config: Config, request: FastifyRequest): boolean {
  return config.server.tls_cert !== null || request.protocol === 'https';
}

/** Only same-site paths after sign-in: an open redirect would hand the session to anyone. */
function safeReturnTo(value: unknown): string {
  return typeof value === 'string' && /^\/(?!\/)[\w\-./#?=&%]*$/.test(value) && !value.includes('\\')
    ? value
    : '/ui/';
}

const PAGE = (title: string, text: string): string =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head>` +
  `<body><main><h1>${title}</h1><p>${text.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`)}</p>` +
  '<p><a href="/ui/">Back to the dashboard</a></p></main></body></html>';

/**
 * /admin/auth/*: config (public: is OIDC sign-in offered), login and callback (public: the
 * authorization code flow), me (who am I, my role, what I may do, my CSRF token) and logout.
 * Sign-ins, refused sign-ins and sign-outs are admin_events rows.
 */
export function registerAdminAuthRoutes(
  admin: FastifyInstance,
  services: Services,
  signIn: OidcSignIn | null,
  events: AdminEventLog,
  principalOf: (request: FastifyRequest) => AdminPrincipal | undefined,
): void {
  const { config } = services;
  const event = (
    request: FastifyRequest,
    who: { actor: string; role: string; method: string },
    action: string,
    outcome: 'ok' | 'refused',
    after: unknown,
  ): Promise<unknown> =>
    events
      .append({
        ...who,
        action,
        target: null,
        outcome,
        requestId: request.id,
        clientIp: request.ip,
        before: null,
        after,
      })
      .catch((err: unknown) => services.logger.error({ err, action }, 'admin event not recorded'));

  admin.get(
    '/auth/config',
    adminRoute({
      summary: 'Which sign-in methods this instance offers',
      tag: 'Admin: auth',
      role: 'public',
      responses: { 200: { description: 'The methods', schema: authConfigView } },
    }),
    async () => ({ oidc: signIn !== null, token: config.admin.token !== null }),
  );

  admin.get(
    '/auth/login',
    adminRoute({
      summary: 'Start an OIDC sign-in (authorization code flow)',
      description: 'Redirects to the identity provider and sets a short-lived state cookie.',
      tag: 'Admin: auth',
      role: 'public',
      querystring: authLoginQuery,
      responses: {
        302: { description: 'To the identity provider', headers: REDIRECT },
        404: error('OIDC sign-in is not configured (admin.oidc), or the admin API is disabled'),
        500: error("The identity provider's discovery document could not be fetched"),
      },
    }),
    async (request, reply: FastifyReply) => {
      if (!signIn)
        throw new AigovError('not_found', { message: 'OIDC sign-in is not configured (admin.oidc)' });
      const origin = `${request.protocol}://${request.host}`;
      const returnTo = safeReturnTo((request.query as Record<string, unknown> | undefined)?.return_to);
      const { url, state } = await signIn.start(origin, returnTo);
      reply.header(
        'set-cookie',
        cookie(STATE_COOKIE, state, {
          secure: isSecure(config, request),
          maxAgeSeconds: 600,
          path: '/admin/auth/',
        }),
      );
      return reply.redirect(url, 302);
    },
  );

  admin.get(
    '/auth/callback',
    adminRoute({
      summary: 'Finish an OIDC sign-in',
      description:
        "The identity provider's redirect. On success sets the session cookie and redirects to " +
        'return_to; a refused sign-in (state mismatch, no role, IdP error) is an HTML page.',
      tag: 'Admin: auth',
      role: 'public',
      querystring: authCallbackQuery,
      responses: {
        302: { description: 'Signed in: to return_to (default /ui/)', headers: REDIRECT },
        403: {
          description: 'Sign-in refused (an HTML page saying why)',
          schema: z.string(),
          contentType: 'text/html',
        },
        404: error('OIDC sign-in is not configured (admin.oidc), or the admin API is disabled'),
        503: error('The identity provider could not be reached'),
      },
    }),
    async (request, reply) => {
      if (!signIn)
        throw new AigovError('not_found', { message: 'OIDC sign-in is not configured (admin.oidc)' });
      const q = (request.query ?? {}) as Record<string, unknown>;
      const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
      const secure = isSecure(config, request);
      const clearState = cookie(STATE_COOKIE, '', { secure, maxAgeSeconds: 0, path: '/admin/auth/' });
      try {
        const done = await signIn.finish({
          code: str(q.code),
          state: str(q.state),
          error: str(q.error),
          cookieState: readCookie(request.headers.cookie, STATE_COOKIE),
        });
        await event(request, done.session, 'signin', 'ok', {
          name: done.session.name,
          role: done.session.role,
        });
        reply.header('set-cookie', [
          clearState,
          cookie(SESSION_COOKIE, done.sessionId, {
            secure,
            maxAgeSeconds: Math.floor(config.admin.oidc!.session_ttl / 1000),
          }),
        ]);
        return reply.redirect(done.returnTo, 302);
      } catch (err) {
        if (!(err instanceof SignInError)) {
          request.log.error({ err, requestId: request.id }, 'admin sign-in failed');
          throw new AigovError('auth_unavailable', { message: 'The identity provider could not be reached' });
        }
        await event(
          request,
          { actor: err.actor ?? 'unknown', role: 'none', method: 'oidc' },
          'signin',
          'refused',
          {
            reason: err.message,
          },
        );
        return reply
          .code(403)
          .header('set-cookie', clearState)
          .type('text/html; charset=utf-8')
          .send(PAGE('Sign-in refused', err.message));
      }
    },
  );

  admin.get(
    '/auth/me',
    adminRoute({
      summary: 'Who is calling: actor, role, capabilities and the CSRF token',
      tag: 'Admin: auth',
      role: 'viewer',
      responses: { 200: { description: 'The caller', schema: authMeView } },
    }),
    async (request) => {
      const who = principalOf(request)!;
      const session =
        who.method === 'oidc' && signIn
          ? signIn.session(readCookie(request.headers.cookie, SESSION_COOKIE) ?? '')
          : null;
      return {
        actor: who.actor,
        role: who.role,
        method: who.method,
        name: session?.name ?? null,
        capabilities: capabilitiesOf(who.role),
        csrf_token: session?.csrf ?? null,
        expires_at: session ? new Date(session.expiresAt).toISOString() : null,
      };
    },
  );

  admin.post(
    '/auth/logout',
    adminRoute({
      summary: 'Sign out (ends the OIDC session)',
      tag: 'Admin: auth',
      role: 'viewer',
      responses: { 200: { description: 'Signed out; the session cookie is cleared', schema: logoutView } },
    }),
    async (request, reply) => {
      const who = principalOf(request)!;
      const sid = readCookie(request.headers.cookie, SESSION_COOKIE);
      if (sid && signIn) signIn.end(sid);
      await event(request, who, 'signout', 'ok', null);
      reply.header(
        'set-cookie',
        cookie(SESSION_COOKIE, '', { secure: isSecure(config, request), maxAgeSeconds: 0 }),
      );
      return { signed_out: true };
    },
  );
}
