import {
  createRemoteJWKSet,
  customFetch,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type FetchImplementation,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import type { JwtIssuerConfig } from '../config/identity-schema.js';
import type { KeyIdentity } from './identity.js';
import { discover, httpUrl, IdpHttp, IdpHttpError } from './http-fetch.js';
import { claimAt } from './claims.js';

/**
 * Callers that present a JWT from a configured identity provider instead of an aigov key
 * (docs/identity.md). Verification is jose's; keys come from the issuer's JWKS (explicit or by
 * OIDC discovery), cached by jose and refetched on an unknown `kid` at most once per cooldown, so
 * a key rotation at the issuer is picked up without a restart and random kids cannot make aigov
 * hammer the issuer.
 */

export type JwtFailure =
  | 'token_malformed'
  | 'token_unknown_issuer'
  | 'token_expired'
  | 'token_not_yet_valid'
  | 'token_wrong_audience'
  | 'token_bad_signature'
  | 'token_alg_not_allowed'
  | 'token_missing_claim';

export type JwtResult =
  | { ok: true; identity: KeyIdentity; issuer: string }
  | { ok: false; reason: JwtFailure; message: string }
  /** The issuer's keys could not be fetched: not the caller's fault, not cached. */
  | { ok: false; reason: 'unavailable'; message: string };

const JWT_RE = /^[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*$/;
const MAX_TOKEN_LENGTH = 16 * 1024;

/** A compact JWS (three base64url parts); an aigov key never matches (it has no dots). */
export function looksLikeJwt(value: string): boolean {
  return value.length <= MAX_TOKEN_LENGTH && JWT_RE.test(value);
}

/** The audit and limits identity of a JWT caller: stable per issuer and subject. */
export function jwtKeyId(issuer: string, subject: string): string {
  return `jwt:${issuer}#${subject}`;
}

function stringClaim(v: unknown): string | null {
  if (typeof v === 'string' && v.length > 0) return v;
  if (Array.isArray(v)) {
    const first = (v as unknown[]).find((x) => typeof x === 'string' && x.length > 0);
    return typeof first === 'string' ? first : null;
  }
  return null;
}

function listClaim(v: unknown): string[] {
  const raw = typeof v === 'string' ? v.split(/[\s,]+/) : Array.isArray(v) ? (v as unknown[]) : [];
  return raw
    .filter((x): x is string => typeof x === 'string' && x.length > 0 && x.length <= 128)
    .slice(0, 32);
}

class IssuerKeys {
  private keys: JWTVerifyGetKey | null = null;
  private pending: Promise<JWTVerifyGetKey> | null = null;
  private readonly http: IdpHttp;

  constructor(readonly config: JwtIssuerConfig) {
    this.http = new IdpHttp({
      caFile: config.ca_file,
      tokenFile: config.token_file,
      timeoutMs: config.jwks_timeout,
    });
  }

  /** The JWKS resolver; the discovery document is fetched once, again only after a failure. */
  get(): Promise<JWTVerifyGetKey> {
    if (this.keys) return Promise.resolve(this.keys);
    this.pending ??= this.resolve().then(
      (k) => {
        this.keys = k;
        this.pending = null;
        return k;
      },
      (err: unknown) => {
        this.pending = null;
        throw err;
      },
    );
    return this.pending;
  }

  private async resolve(): Promise<JWTVerifyGetKey> {
    const jwksUri =
      this.config.jwks_uri ?? httpUrl((await discover(this.http, this.config.issuer)).jwks_uri, 'jwks_uri');
    // jose asks for exactly this URL; anything else (it never should) is refused, and redirects are
    // never followed, so key material only ever comes from where the config (or the issuer) says.
    const fetchImpl: FetchImplementation = async (url, init) => {
      if (url !== jwksUri) throw new IdpHttpError(`refusing to fetch keys from ${url}`);
      const res = await this.http.send(url, { signal: init.signal });
      return new Response(new Uint8Array(res.body), {
        status: res.status,
        headers: { 'content-type': res.contentType },
      });
    };
    return createRemoteJWKSet(new URL(jwksUri), {
      timeoutDuration: this.config.jwks_timeout,
      cooldownDuration: this.config.jwks_cooldown,
      cacheMaxAge: this.config.jwks_max_age,
      [customFetch]: fetchImpl,
    });
  }

  close(): Promise<void> {
    return this.http.close();
  }
}

function failure(reason: JwtFailure, message: string): JwtResult {
  return { ok: false, reason, message };
}

/** jose's errors as the precise 401 reasons the caller sees. */
function classify(err: unknown, issuer: string): JwtResult {
  if (err instanceof errors.JWTExpired)
    return failure('token_expired', `The token has expired (${err.message})`);
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf' || err.claim === 'iat')
      return failure('token_not_yet_valid', `The token is not valid yet (${err.message})`);
    if (err.claim === 'aud')
      return failure('token_wrong_audience', 'The token was not issued for this audience (aud)');
    if (err.claim === 'iss') return failure('token_unknown_issuer', `The token's issuer is not ${issuer}`);
    if (err.reason === 'missing')
      return failure('token_missing_claim', `The token has no "${err.claim}" claim`);
    return failure('token_malformed', `The token's "${err.claim}" claim is invalid`);
  }
  if (err instanceof errors.JOSEAlgNotAllowed)
    return failure('token_alg_not_allowed', 'The token is signed with an algorithm this issuer may not use');
  if (err instanceof errors.JWSSignatureVerificationFailed)
    return failure('token_bad_signature', 'The token signature does not verify');
  if (err instanceof errors.JWKSNoMatchingKey)
    return failure('token_bad_signature', "No signing key of the issuer matches the token's kid");
  if (err instanceof errors.JWKSMultipleMatchingKeys)
    return failure('token_bad_signature', 'The token does not name which of the issuer keys signed it (kid)');
  if (err instanceof errors.JWKSTimeout)
    return { ok: false, reason: 'unavailable', message: "Timed out fetching the issuer's signing keys" };
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid)
    return failure('token_malformed', 'The token is not a well-formed signed JWT');
  if (err instanceof errors.JOSENotSupported)
    return failure('token_alg_not_allowed', 'The token uses an unsupported algorithm or key type');
  // Discovery or JWKS fetch failures (network, status, JSON): the issuer's side, retried next call.
  return { ok: false, reason: 'unavailable', message: "The issuer's signing keys could not be fetched" };
}

export interface JwtVerifierOptions {
  /** Called when the issuer's keys cannot be fetched (for a log line). */
  onUnavailable?: (issuer: string, err: unknown) => void;
}

export class JwtVerifier {
  private readonly issuers = new Map<string, IssuerKeys>();

  constructor(
    configs: readonly JwtIssuerConfig[],
    private readonly options: JwtVerifierOptions = {},
  ) {
    for (const c of configs) this.issuers.set(c.issuer, new IssuerKeys(c));
  }

  get size(): number {
    return this.issuers.size;
  }

  async verify(token: string): Promise<JwtResult> {
    if (!looksLikeJwt(token)) return failure('token_malformed', 'The token is not a well-formed signed JWT');
    let alg: unknown;
    let payload: JWTPayload;
    try {
      alg = decodeProtectedHeader(token).alg;
      payload = decodeJwt(token);
    } catch {
      return failure('token_malformed', 'The token is not a well-formed signed JWT');
    }
    const issuer = typeof payload.iss === 'string' ? this.issuers.get(payload.iss) : undefined;
    if (!issuer)
      return failure(
        'token_unknown_issuer',
        typeof payload.iss === 'string'
          ? `The token's issuer ${JSON.stringify(payload.iss.slice(0, 200))} is not configured (auth.jwt)`
          : 'The token has no issuer (iss)',
      );
    const cfg = issuer.config;
    // Refused before any key is fetched: `none`, HS256 against a public key, anything not listed.
    if (typeof alg !== 'string' || !(cfg.algorithms as readonly string[]).includes(alg))
      return failure(
        'token_alg_not_allowed',
        `The token's algorithm ${JSON.stringify(typeof alg === 'string' ? alg : null)} is not allowed for this issuer (${cfg.algorithms.join(', ')})`,
      );
    let verified: JWTPayload;
    try {
      const keys = await issuer.get();
      ({ payload: verified } = await jwtVerify(token, keys, {
        issuer: cfg.issuer,
        audience: cfg.audiences,
        algorithms: cfg.algorithms,
        clockTolerance: Math.round(cfg.clock_tolerance / 1000),
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (err) {
      const result = classify(err, cfg.issuer);
      if (!result.ok && result.reason === 'unavailable') this.options.onUnavailable?.(cfg.issuer, err);
      return result;
    }
    const sub = verified.sub!;
    const owner = stringClaim(claimAt(verified, cfg.claims.owner)) ?? sub;
    const team = cfg.claims.team ? stringClaim(claimAt(verified, cfg.claims.team)) : null;
    const tags = cfg.claims.tags ? listClaim(claimAt(verified, cfg.claims.tags)) : [];
    return {
      ok: true,
      issuer: cfg.issuer,
      identity: {
        id: jwtKeyId(cfg.issuer, sub),
        owner,
        name: typeof verified.name === 'string' ? verified.name : null,
        team,
        tags,
        models: [...cfg.models],
        expiresAt: new Date((verified.exp ?? 0) * 1000),
      },
    };
  }

  async close(): Promise<void> {
    await Promise.all([...this.issuers.values()].map((i) => i.close()));
  }
}
