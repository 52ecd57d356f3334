import type { AdminRole } from '../config/identity-schema.js';

export type { AdminRole } from '../config/identity-schema.js';

/** Who is calling the admin API, after the guard. */
export interface AdminPrincipal {
  /** Email (or subject) of a signed-in user; `admin-token` for the break-glass ADMIN_TOKEN. */
  actor: string;
  role: AdminRole;
  method: 'token' | 'oidc';
  /** Session id digest (oidc only): the CSRF token is bound to it. */
  session?: string;
}

const RANK: Record<AdminRole, number> = { viewer: 1, operator: 2, admin: 3 };

export function roleAtLeast(role: AdminRole, needed: AdminRole): boolean {
  return RANK[role] >= RANK[needed];
}

/** The highest aigov role among a claim's values (after the configured mapping); null: none. */
export function roleFromClaim(value: unknown, map: Record<string, AdminRole>): AdminRole | null {
  const values = typeof value === 'string' ? value.split(/[\s,]+/) : Array.isArray(value) ? value : [];
  let best: AdminRole | null = null;
  for (const v of values) {
    if (typeof v !== 'string') continue;
    const role = map[v] ?? (v === 'viewer' || v === 'operator' || v === 'admin' ? v : null);
    if (role && (best === null || RANK[role] > RANK[best])) best = role;
  }
  return best;
}

/**
 * The role each admin path needs: viewer reads logs and stats; operator also manages keys and
 * approvals; admin also policies, settings and the admin audit trail. Anything not listed needs
 * admin, so a route added later is closed until someone decides otherwise.
 */
const RULES: { prefix: string; read: AdminRole; write: AdminRole }[] = [
  { prefix: '/admin/auth/', read: 'viewer', write: 'viewer' },
  { prefix: '/admin/logs', read: 'viewer', write: 'admin' },
  { prefix: '/admin/stats', read: 'viewer', write: 'admin' },
  { prefix: '/admin/keys', read: 'operator', write: 'operator' },
  { prefix: '/admin/approvals', read: 'operator', write: 'operator' },
  { prefix: '/admin/policies', read: 'admin', write: 'admin' },
  { prefix: '/admin/events', read: 'admin', write: 'admin' },
];

export function requiredRole(method: string, url: string): AdminRole {
  const path = url.split('?', 1)[0] ?? '';
  const read = method === 'GET' || method === 'HEAD';
  for (const r of RULES)
    if (path === r.prefix || path.startsWith(r.prefix.endsWith('/') ? r.prefix : `${r.prefix}/`))
      return read ? r.read : r.write;
  return 'admin';
}

/** What a role may do, for the dashboard (it hides the rest; the API refuses it regardless). */
export function capabilitiesOf(role: AdminRole): Record<string, boolean> {
  return {
    logs: true,
    stats: true,
    keys: roleAtLeast(role, 'operator'),
    approvals: roleAtLeast(role, 'operator'),
    policies: roleAtLeast(role, 'admin'),
    events: roleAtLeast(role, 'admin'),
  };
}
