import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  createRemoteJWKSet,
  customFetch,
  jwtVerify,
  type FetchImplementation,
  type JWTVerifyGetKey,
} from 'jose';
import { LRUCache } from 'lru-cache';
import type { AdminOidcConfig } from '../config/identity-schema.js';
import { claimAt } from '../auth/claims.js';
import { discover, httpUrl, IdpHttp, IdpHttpError } from '../auth/http-fetch.js';
import { roleFromClaim, type AdminPrincipal, type AdminRole } from './roles.js';

/**
 * Admin sign-in with an OpenID Connect provider: authorization code flow with PKCE (S256), state
 * bound to the browser by a cookie, nonce checked in the ID token (verified by jose against the
 * provider's JWKS). Sessions live in this process's memory: an opaque id in an HttpOnly cookie,
 * its SHA-256 as the key, and a CSRF token that state-changing admin calls must echo in
 * `x-csrf-token`.
 */

export const SESSION_COOKIE = 'aigov_session';
export const STATE_COOKIE = 'aigov_oidc_state';
export const CSRF_HEADER = 'x-csrf-token';

const b64 = (buf: Buffer): string => buf.toString('base64url');
const sha256 = (text: string): string => createHash('sha256').update(text).digest('base64url');

export function safeEqual(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y);
}

interface Pending {
  verifier: string;
  nonce: string;
  redirectUri: string;
  returnTo: string;
}

export interface Session extends AdminPrincipal {
  csrf: string;
  expiresAt: number;
  name: string | null;
}

interface Endpoints {
  authorization: string;
  token: string;
  endSession: string | null;
  keys: JWTVerifyGetKey;
}

export class SignInError extends Error {
  override name = 'SignInError';
  constructor(
    message: string,
    readonly actor: string | null = null,
  ) {
    super(message);
  }
}

export class OidcSignIn {
  private readonly http: IdpHttp;
  private endpoints: Promise<Endpoints> | null = null;
  private readonly pending = new LRUCache<string, Pending>({ max: 10_000, ttl: 10 * 60_000 });
  private readonly sessions: LRUCache<string, Session>;

  constructor(
    private readonly config: AdminOidcConfig,
    private readonly clientSecret: string | null,
  ) {
    this.http = new IdpHttp({ caFile: config.ca_file });
    this.sessions = new LRUCache({ max: 10_000, ttl: config.session_ttl });
  }

  private resolve(): Promise<Endpoints> {
    this.endpoints ??= (async () => {
      const doc = await discover(this.http, this.config.issuer);
      const jwksUri = httpUrl(doc.jwks_uri, 'jwks_uri');
      const fetchImpl: FetchImplementation = async (url, init) => {
        if (url !== jwksUri) throw new IdpHttpError(`refusing to fetch keys from ${url}`);
        const res = await this.http.send(url, { signal: init.signal });
        return new Response(new Uint8Array(res.body), { status: res.status });
      };
      return {
        authorization: httpUrl(doc.authorization_endpoint, 'authorization_endpoint'),
        token: httpUrl(doc.token_endpoint, 'token_endpoint'),
        endSession:
          typeof doc.end_session_endpoint === 'string'
            ? httpUrl(doc.end_session_endpoint, 'end_session_endpoint')
            : null,
        keys: createRemoteJWKSet(new URL(jwksUri), { [customFetch]: fetchImpl }),
      };
    })().catch((err: unknown) => {
      this.endpoints = null;
      throw err;
    });
    return this.endpoints;
  }

  redirectUri(origin: string): string {
    return this.config.redirect_uri ?? `${origin}/admin/auth/callback`;
  }

  /** Where to send the browser, and the state to bind to it (as a cookie). */
  async start(origin: string, returnTo: string): Promise<{ url: string; state: string }> {
    const ep = await this.resolve();
    const state = b64(randomBytes(32));
    const nonce = b64(randomBytes(32));
    const verifier = b64(randomBytes(32));
    const redirectUri = this.redirectUri(origin);
    this.pending.set(sha256(state), { verifier, nonce, redirectUri, returnTo });
    const url = new URL(ep.authorization);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('client_id', this.config.client_id);
    url.searchParams.set('redirect_uri', redirectUri);
    url.searchParams.set('scope', this.config.scopes.join(' '));
    url.searchParams.set('state', state);
    url.searchParams.set('nonce', nonce);
    url.searchParams.set('code_challenge', createHash('sha256').update(verifier).digest('base64url'));
    url.searchParams.set('code_challenge_method', 'S256');
    return { url: url.toString(), state };
  }

  /**
   * The provider sent the browser back: the state must be one we issued to this very browser
   * (cookie), used once; the code is exchanged with the PKCE verifier; the ID token must verify
   * and carry our nonce; the role comes from the configured claim.
   */
  async finish(params: {
    code: string | undefined;
    state: string | undefined;
    cookieState: string | null;
    error?: string | undefined;
  }): Promise<{ sessionId: string; session: Session; returnTo: string }> {
    if (params.error) throw new SignInError(`The identity provider refused the sign-in: ${params.error}`);
    if (!params.state || !params.code) throw new SignInError('The sign-in answer has no code or state');
    if (!params.cookieState || !safeEqual(params.state, params.cookieState))
      throw new SignInError('The sign-in state does not belong to this browser (state mismatch)');
    const key = sha256(params.state);
    const pending = this.pending.get(key);
    this.pending.delete(key);
    if (!pending) throw new SignInError('The sign-in state is unknown or expired; start again');
    const ep = await this.resolve();
    const body = new URLSearchParams({
      grant_type: 'authorization_code',
      code: params.code,
      redirect_uri: pending.redirectUri,
      code_verifier: pending.verifier,
      client_id: this.config.client_id,
    });
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
    if (this.clientSecret !== null)
      headers.authorization = `Basic ${Buffer.from(
        `${encodeURIComponent(this.config.client_id)}:${encodeURIComponent(this.clientSecret)}`,
      ).toString('base64')}`;
    const res = await this.http.send(ep.token, { method: 'POST', headers, body: body.toString() });
    let tokens: { id_token?: unknown };
    try {
      tokens = JSON.parse(res.body.toString('utf8')) as { id_token?: unknown };
    } catch {
      throw new SignInError(`The token endpoint answered ${res.status} without JSON`);
    }
    if (res.status !== 200 || typeof tokens.id_token !== 'string')
      throw new SignInError(`The token endpoint refused the code (${res.status})`);
    let claims: Record<string, unknown>;
    try {
      ({ payload: claims } = await jwtVerify(tokens.id_token, ep.keys, {
        issuer: this.config.issuer,
        audience: this.config.client_id,
        algorithms: ['RS256', 'PS256', 'ES256', 'EdDSA'],
        requiredClaims: ['sub', 'exp', 'nonce'],
      }));
    } catch (err) {
      throw new SignInError(`The ID token does not verify: ${(err as Error).message}`);
    }
    if (typeof claims.nonce !== 'string' || !safeEqual(claims.nonce, pending.nonce))
      throw new SignInError('The ID token nonce does not match (replayed token?)');
    const actor =
      (typeof claims.email === 'string' && claims.email) ||
      (typeof claims.preferred_username === 'string' && claims.preferred_username) ||
      String(claims.sub);
    const role: AdminRole | null = roleFromClaim(
      claimAt(claims, this.config.roles_claim),
      this.config.role_map,
    );
    if (!role)
      throw new SignInError(`${actor} has no aigov role in the "${this.config.roles_claim}" claim`, actor);
    const sessionId = b64(randomBytes(32));
    const session: Session = {
      actor,
      role,
      method: 'oidc',
      session: sha256(sessionId),
      csrf: b64(randomBytes(32)),
      expiresAt: Date.now() + this.config.session_ttl,
      name: typeof claims.name === 'string' ? claims.name : null,
    };
    this.sessions.set(session.session!, session);
    return { sessionId, session, returnTo: pending.returnTo };
  }

  session(sessionId: string): Session | null {
    const s = this.sessions.get(sha256(sessionId));
    if (!s || s.expiresAt <= Date.now()) return null;
    return s;
  }

  end(sessionId: string): Session | null {
    const key = sha256(sessionId);
    const s = this.sessions.get(key) ?? null;
    this.sessions.delete(key);
    return s;
  }

  async close(): Promise<void> {
    await this.http.close();
  }
}

/** `name=value` pairs of a Cookie header. */
export function readCookie(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return null;
}

export function cookie(
  name: string,
  value: string,
  options: { secure: boolean; maxAgeSeconds: number; path?: string },
): string {
  return [
    `${name}=${value}`,
    `Path=${options.path ?? '/'}`,
    'HttpOnly',
    'SameSite=Lax',
    `Max-Age=${options.maxAgeSeconds}`,
    ...(options.secure ? ['Secure'] : []),
  ].join('; ');
}
