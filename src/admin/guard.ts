import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { AigovError } from '../errors.js';
import { CSRF_HEADER, readCookie, safeEqual, SESSION_COOKIE, type OidcSignIn } from './oidc.js';
import { requiredRole, roleAtLeast, type AdminPrincipal } from './roles.js';

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * Compares the presented token with the admin token in constant time: both sides are hashed
 * first, so neither the content nor the length of the real token leaks through timing.
 */
export function tokenMatches(presented: string, expected: Buffer): boolean {
  return timingSafeEqual(digest(presented), expected);
}

/** Only `Authorization: Bearer <ADMIN_TOKEN>`; x-api-key / api-key (where aigov keys go) are ignored. */
export function bearerToken(request: FastifyRequest): string | null {
  const auth = request.headers.authorization;
  if (typeof auth !== 'string' || auth.length <= 7 || auth.slice(0, 7).toLowerCase() !== 'bearer ')
    return null;
  return auth.slice(7).trim();
}

export interface BucketOptions {
  /** Tokens a new client starts with (the burst). */
  capacity: number;
  /** Tokens added per second. */
  refillPerSecond: number;
  /** Clients tracked at most; the oldest is dropped beyond it. */
  maxClients?: number;
  now?: () => number;
}

/** A token bucket per client (IP address), in memory: the admin API is low volume. */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly now: () => number;
  private readonly maxClients: number;

  constructor(private readonly options: BucketOptions) {
    this.now = options.now ?? Date.now;
    this.maxClients = options.maxClients ?? 10_000;
  }

  /** Seconds until the client has a token again (0 when it has one now); takes nothing. */
  waitFor(client: string): number {
    const prev = this.buckets.get(client);
    if (!prev) return 0;
    const { capacity, refillPerSecond } = this.options;
    const tokens = Math.min(capacity, prev.tokens + ((this.now() - prev.at) / 1000) * refillPerSecond);
    return tokens >= 1 ? 0 : (1 - tokens) / refillPerSecond;
  }

  /** Takes one token; returns 0 when allowed, else the seconds until one is available. */
  take(client: string): number {
    const now = this.now();
    const { capacity, refillPerSecond } = this.options;
    const prev = this.buckets.get(client);
    let tokens = prev
      ? Math.min(capacity, prev.tokens + ((now - prev.at) / 1000) * refillPerSecond)
      : capacity;
    if (prev) this.buckets.delete(client); // re-inserted below: Map order is least recently used first
    if (tokens < 1) {
      this.buckets.set(client, { tokens, at: now });
      return (1 - tokens) / refillPerSecond;
    }
    tokens -= 1;
    this.buckets.set(client, { tokens, at: now });
    if (this.buckets.size > this.maxClients) {
      const oldest = this.buckets.keys().next();
      if (!oldest.done) this.buckets.delete(oldest.value);
    }
    return 0;
  }
}

/** Admin rate limits per client IP: every request, and (much tighter) failed sign-ins. */
export const ADMIN_RATE = { capacity: 300, refillPerSecond: 5 } as const;
export const ADMIN_AUTH_FAILURES = { capacity: 20, refillPerSecond: 0.2 } as const;

export interface AdminGuard {
  /** Throws the catalogue error the request deserves, or returns who is calling. */
  check(request: FastifyRequest): AdminPrincipal;
}

const TOKEN_PRINCIPAL: AdminPrincipal = { actor: 'admin-token', role: 'admin', method: 'token' };

/** Paths that start or finish a sign-in: reachable without a session (still rate limited). */
export function isPublicAdminPath(url: string): boolean {
  const path = url.split('?', 1)[0] ?? '';
  return path === '/admin/auth/login' || path === '/admin/auth/callback' || path === '/admin/auth/config';
}

/**
 * Order: disabled (neither ADMIN_TOKEN nor admin.oidc: 404) -> per-IP rate limit -> lockout after
 * failures -> the break-glass token (Bearer, role admin) or an OIDC session cookie (role from the
 * IdP; state-changing calls must carry the session's CSRF token) -> the role the path needs (403).
 */
export function createAdminGuard(token: string | null, oidc: OidcSignIn | null = null): AdminGuard {
  const expected = token === null ? null : digest(token);
  const all = new TokenBuckets(ADMIN_RATE);
  const failures = new TokenBuckets(ADMIN_AUTH_FAILURES);
  const limited = (wait: number, message: string): AigovError =>
    new AigovError('rate_limited', { message, retryAfter: Math.max(1, Math.ceil(wait)) });
  const authorise = (request: FastifyRequest, who: AdminPrincipal): AdminPrincipal => {
    const needed = requiredRole(request.method, request.url);
    if (!roleAtLeast(who.role, needed))
      throw new AigovError('admin_forbidden', {
        message: `The ${who.role} role may not ${request.method} ${request.url.split('?', 1)[0]} (needs ${needed})`,
      });
    return who;
  };
  return {
    check(request) {
      if (expected === null && oidc === null) throw new AigovError('admin_disabled');
      const ip = request.ip || 'unknown';
      const wait = all.take(ip);
      if (wait > 0) throw limited(wait, 'Too many admin API requests from this address');
      if (isPublicAdminPath(request.url)) return { actor: 'anonymous', role: 'viewer', method: 'oidc' };
      // While an address is locked out even the right token is refused, so guessing learns nothing.
      const lockedOut = failures.waitFor(ip);
      if (lockedOut > 0)
        throw limited(lockedOut, 'Too many failed admin sign-ins from this address; wait and retry');
      const presented = bearerToken(request);
      if (presented !== null) {
        if (expected !== null && tokenMatches(presented, expected))
          return authorise(request, TOKEN_PRINCIPAL);
        failures.take(ip);
        throw new AigovError('admin_unauthorized');
      }
      const sid = oidc ? readCookie(request.headers.cookie, SESSION_COOKIE) : null;
      const session = sid && oidc ? oidc.session(sid) : null;
      if (!session) {
        if (sid) failures.take(ip);
        throw new AigovError('admin_unauthorized', {
          message: oidc ? 'Sign in first (or present the admin token)' : undefined,
        });
      }
      // Cookies ride along on cross-site requests; a forged form or fetch cannot read the token.
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        const header = request.headers[CSRF_HEADER];
        if (typeof header !== 'string' || !safeEqual(header, session.csrf))
          throw new AigovError('csrf_failed');
      }
      return authorise(request, session);
    },
  };
}
