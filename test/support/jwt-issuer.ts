/**
 * A local OIDC-style token issuer for JWT caller tests: discovery document and JWKS over node:http
 * on 127.0.0.1, keys made with jose, tokens signed with jose. rotate() replaces the signing key
 * (new kid) the way an identity provider rotates, so tests see whether aigov picks it up.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';

export interface TestIssuer {
  issuer: string;
  jwksUri: string;
  /** How often the JWKS and the discovery document were fetched. */
  jwksFetches: number;
  discoveryFetches: number;
  /** The current key's id. */
  kid: string;
  /** Signs a token with the current key; `claims` override the defaults (sub, aud, exp 5 min). */
  sign(
    claims?: JWTPayload,
    options?: { alg?: string; kid?: string; expiresIn?: string | number },
  ): Promise<string>;
  /** A new key pair becomes the signing key; `keepOld` leaves the old one published. */
  rotate(options?: { keepOld?: boolean }): Promise<void>;
  /** The current public key as a JWK (for forging tokens in tests). */
  publicJwk(): JWK;
  close(): Promise<void>;
}

interface KeyEntry {
  kid: string;
  privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  publicJwk: JWK;
}

async function newKey(alg: string): Promise<KeyEntry> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = randomBytes(6).toString('hex');
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, privateKey, publicJwk };
}

export async function startTestIssuer(
  options: { alg?: string; audience?: string; path?: string } = {},
): Promise<TestIssuer> {
  const alg = options.alg ?? 'RS256';
  let keys: KeyEntry[] = [await newKey(alg)];
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path === `${options.path ?? ''}/.well-known/openid-configuration`) {
      state.discoveryFetches++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          issuer: state.issuer,
          jwks_uri: state.jwksUri,
          id_token_signing_alg_values_supported: [alg],
        }),
      );
      return;
    }
    if (path === '/jwks') {
      state.jwksFetches++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: keys.map((k) => k.publicJwk) }));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const state: TestIssuer = {
    issuer: `${base}${options.path ?? ''}`,
    jwksUri: `${base}/jwks`,
    jwksFetches: 0,
    discoveryFetches: 0,
    get kid() {
      return keys[0]!.kid;
    },
    async sign(claims = {}, signOptions = {}) {
      const key = keys[0]!;
      const jwt = new SignJWT({ sub: 'workload-1', aud: options.audience ?? 'aigov', ...claims })
        .setProtectedHeader({ alg: signOptions.alg ?? alg, kid: signOptions.kid ?? key.kid, typ: 'JWT' })
        .setIssuedAt()
        .setIssuer(typeof claims.iss === 'string' ? claims.iss : state.issuer);
      if (claims.exp === undefined) jwt.setExpirationTime(signOptions.expiresIn ?? '5m');
      return jwt.sign(key.privateKey);
    },
    async rotate(rotateOptions = {}) {
      const next = await newKey(alg);
      keys = rotateOptions.keepOld ? [next, ...keys] : [next];
    },
    publicJwk() {
      return keys[0]!.publicJwk;
    },
    close() {
      return new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
  return state;
}
