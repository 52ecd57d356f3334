import { z } from 'zod';
import { parseDurationMs } from './duration.js';

/** Milliseconds from "30s" or a number of milliseconds; zero allowed (e.g. no clock tolerance). */
const durationMs = z.union([z.number().int().nonnegative(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  if (v.trim() === '0') return 0;
  const ms = parseDurationMs(v);
  if (ms === null) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a duration (e.g. 500ms, 30s, 5m)` });
    return z.NEVER;
  }
  return ms;
});

/**
 * Signature algorithms a JWT caller may use. Asymmetric only: `none` and the HMAC family (HS256,
 * which a confused verifier would check against a *public* key) cannot even be configured.
 */
export const JWT_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;

const httpsOrLoopback = z.url({ protocol: /^https?$/ }).refine((u) => {
  const url = new URL(u);
  return url.protocol === 'https:' || ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
}, 'must be https (plain http only on 127.0.0.1 / localhost)');

/** A claim name; dots walk into objects (`kubernetes.io.namespace`), longest literal key first. */
const claimPath = z.string().min(1).max(200);

export const jwtIssuerSchema = z
  .object({
    /** Must equal the token's `iss` exactly. */
    issuer: z.string().min(1).max(500),
    /** The token's `aud` must contain one of these. */
    audiences: z.array(z.string().min(1)).min(1),
    /** Where the signing keys are; null: `jwks_uri` of the issuer's OIDC discovery document. */
    jwks_uri: httpsOrLoopback.nullable().default(null),
    algorithms: z.array(z.enum(JWT_ALGORITHMS)).min(1).default(['RS256', 'ES256', 'PS256', 'EdDSA']),
    /** Which claims become the caller's owner, team and tags. */
    claims: z
      .object({
        owner: claimPath.default('email'),
        team: claimPath.nullable().default(null),
        tags: claimPath.nullable().default(null),
      })
      .strict()
      .prefault({}),
    /** Model globs every caller of this issuer may use; empty: any model (policies still apply). */
    models: z.array(z.string().min(1)).default([]),
    clock_tolerance: durationMs.default(30_000),
    /** After a fetch, an unknown `kid` triggers another JWKS fetch only after this long. */
    jwks_cooldown: durationMs.default(30_000),
    /** Keys are refetched at most this old even without an unknown kid. */
    jwks_max_age: durationMs.default(600_000),
    jwks_timeout: durationMs.default(5_000),
    /** PEM file of the CA that signs the issuer's TLS certificate (the cluster CA in Kubernetes). */
    ca_file: z.string().min(1).nullable().default(null),
    /** Bearer token file sent when fetching discovery and JWKS (the Kubernetes API server wants one). */
    token_file: z.string().min(1).nullable().default(null),
  })
  .strict();

export type JwtIssuerConfig = z.infer<typeof jwtIssuerSchema>;

export const ADMIN_ROLES = ['viewer', 'operator', 'admin'] as const;
export type AdminRole = (typeof ADMIN_ROLES)[number];

export const adminOidcSchema = z
  .object({
    issuer: httpsOrLoopback,
    client_id: z.string().min(1),
    /** The client secret; or `client_secret_env` naming the variable that holds it. */
    client_secret: z.string().min(1).nullable().default(null),
    client_secret_env: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/)
      .nullable()
      .default(null),
    /** Claim (dot path) holding the role or roles; values other than viewer/operator/admin are ignored. */
    roles_claim: claimPath.default('roles'),
    /** Maps IdP values (group names, app roles) to aigov roles, e.g. {"aigov-admins": "admin"}. */
    role_map: z.record(z.string(), z.enum(ADMIN_ROLES)).default({}),
    /** Default: <origin of the request>/admin/auth/callback. */
    redirect_uri: z
      .url({ protocol: /^https?$/ })
      .nullable()
      .default(null),
    scopes: z.array(z.string().min(1)).default(['openid', 'email', 'profile']),
    session_ttl: durationMs.default(8 * 3_600_000),
    ca_file: z.string().min(1).nullable().default(null),
  })
  .strict();

export type AdminOidcConfig = z.infer<typeof adminOidcSchema>;
