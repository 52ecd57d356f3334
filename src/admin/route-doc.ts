import { describeRoute, type ResponseDoc, type RouteDoc } from '../http/openapi.js';
import { openAIError } from '../http/schemas.js';
import type { AdminRole } from './roles.js';

/** What the admin guard (guard.ts) and the admin error handler answer on any admin route. */
const GUARD_ERRORS: Record<number, ResponseDoc> = {
  401: { description: 'Missing or wrong admin token, or no OIDC session', schema: openAIError },
  403: {
    description: "The caller's role is below the one the route needs, or the x-csrf-token is missing",
    schema: openAIError,
  },
  404: { description: 'Not found, or the admin API is disabled (admin_disabled)', schema: openAIError },
  429: {
    description: 'Too many admin requests or failed sign-ins from this address',
    schema: openAIError,
    headers: { 'retry-after': 'Seconds to wait' },
  },
};

const WRITE_ERRORS: Record<number, ResponseDoc> = {
  503: {
    description: 'The change was applied but admin_events could not record it (audit_unavailable)',
    schema: openAIError,
  },
};

export interface AdminRouteDoc extends Omit<RouteDoc, 'auth' | 'validate' | 'responses' | 'tags'> {
  tag: 'Admin: keys' | 'Admin: logs' | 'Admin: policies' | 'Admin: approvals' | 'Admin: auth';
  /** The role roles.ts requires (stated in the description); `public`: reachable without one. */
  role: AdminRole | 'public';
  /** The answers besides the guard's (401/403/404/429, added here). */
  responses: Record<number, ResponseDoc>;
  /** Audited change: may answer 503 when admin_events cannot record it. */
  audited?: boolean;
}

/** A 400 with the zod issues (the handler's own parse). */
export function badInput(what: string): ResponseDoc {
  return { description: `Invalid ${what} (error.details lists the zod issues)`, schema: openAIError };
}

export function error(description: string): ResponseDoc {
  return { description, schema: openAIError };
}

/**
 * Route options for an admin route: the OpenAPI entry of describeRoute, security ADMIN_TOKEN (or
 * an OIDC session), the role in the description. Validation stays in the handler
 * (`validate: 'handler'`): the guard authenticates and authorises before any input is judged.
 */
export function adminRoute(doc: AdminRouteDoc): ReturnType<typeof describeRoute> {
  const { tag, role, audited, responses, description, ...rest } = doc;
  const who =
    role === 'public'
      ? 'Public (no admin credential needed; still rate limited per IP).'
      : `Role: ${role} or above (viewer < operator < admin). ADMIN_TOKEN as a Bearer token has the admin ` +
        'role; an OIDC session cookie has the role its identity provider grants and must send ' +
        'x-csrf-token on state-changing calls.';
  const guard = role === 'public' ? { 404: GUARD_ERRORS[404]!, 429: GUARD_ERRORS[429]! } : GUARD_ERRORS;
  return describeRoute({
    ...rest,
    tags: [tag],
    description: description ? `${description}\n\n${who}` : who,
    auth: role === 'public' ? 'none' : 'admin',
    validate: 'handler',
    responses: { ...guard, ...(audited ? WRITE_ERRORS : {}), ...responses },
  });
}
