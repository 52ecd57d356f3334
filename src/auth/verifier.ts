import { hash, timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { KeyIdentity } from './identity.js';
import { KEY_LENGTH, parseKey } from './key-format.js';
import { verifySecret } from './hashing.js';
import { identityOf, type StoredKey } from './key-store.js';
import type { Throttle } from './throttle.js';
import type { JwtVerifier } from './jwt.js';

export type AuthFailure = 'invalid_api_key' | 'key_expired' | 'key_revoked' | 'auth_unavailable';
export type VerifyResult =
  { ok: true; identity: KeyIdentity; cached: boolean } | { ok: false; code: AuthFailure };

export interface KeyVerifierOptions {
  lookup: (id: string) => Promise<StoredKey | null>;
  /** How long a verified key is trusted without looking again: the revocation bound. */
  ttlMs: number;
  negativeTtlMs: number;
  max: number;
  onVerified?: (id: string) => void;
  now?: () => number;
  /** Failed attempts per client IP; over the limit, that IP is refused before any verification. */
  failureThrottle?: Throttle;
  /** Identity providers whose JWTs are accepted instead of an aigov key (auth.jwt). */
  jwt?: JwtVerifier | null;
}

interface Verified {
  identity: KeyIdentity;
  /** The 32-byte digest, compared in constant time on every hit. */
  digest: Buffer;
  /** The bcrypt hash this key was checked against: while the row keeps it, bcrypt need not run again. */
  secretHash: string;
  verifiedAt: number;
}

type Outcome = { identity: KeyIdentity } | { code: AuthFailure };

/**
 * Verification order: format + checksum (no I/O) -> positive cache (SHA-256 of the whole key)
 * -> negative caches -> one lookup by id -> one bcrypt compare in the thread pool.
 * Concurrent misses for the same key share one verification, so a burst never runs bcrypt N times.
 */
export class KeyVerifier {
  private readonly positive: LRUCache<string, Verified>;
  /** Well-formed keys that failed (wrong secret, revoked...): keyed by digest. */
  private readonly negative: LRUCache<string, AuthFailure>;
  /** Ids with no row at all: a flood of random keys costs one lookup per id, then nothing. */
  private readonly unknownIds: LRUCache<string, true>;
  private readonly inflight = new Map<string, Promise<Outcome>>();
  private readonly refreshing = new Set<string>();
  /**
   * Digest -> bcrypt hash it matched, kept far longer than the positive cache: when an entry
   * expires, one lookup that finds the same hash (and no revocation) renews it without bcrypt.
   * Without this every hot key paid a ~200 ms bcrypt every cache TTL, stalling its callers.
   */
  private readonly matched: LRUCache<string, string>;
  private readonly now: () => number;

  readonly failureThrottle: Throttle | undefined;
  readonly jwt: JwtVerifier | null;

  constructor(private readonly options: KeyVerifierOptions) {
    this.failureThrottle = options.failureThrottle;
    this.jwt = options.jwt && options.jwt.size > 0 ? options.jwt : null;
    this.now = options.now ?? Date.now;
    // ttlResolution 0: read the clock on every check (cheap) instead of arming a timer per read.
    const perf = { now: this.now };
    this.positive = new LRUCache({
      max: options.max,
      ttl: options.ttlMs,
      ttlAutopurge: false,
      ttlResolution: 0,
      perf,
    });
    this.negative = new LRUCache({ max: options.max, ttl: options.negativeTtlMs, ttlResolution: 0, perf });
    this.unknownIds = new LRUCache({ max: options.max, ttl: options.negativeTtlMs, ttlResolution: 0, perf });
    this.matched = new LRUCache({ max: options.max, ttl: 3_600_000, ttlResolution: 0, perf });
  }

  async verify(rawKey: string): Promise<VerifyResult> {
    if (rawKey.length !== KEY_LENGTH) return { ok: false, code: 'invalid_api_key' };
    // One-shot hash: no Hash object per request (this runs on every call).
    const digest = hash('sha256', rawKey, 'buffer');
    const cacheKey = digest.toString('base64');

    // A cached key was parsed (format, checksum) when it was first verified: a hit skips that.
    const hit = this.positive.get(cacheKey);
    if (hit && timingSafeEqual(hit.digest, digest)) {
      const expired = this.expiredNow(hit.identity);
      if (expired) return { ok: false, code: 'key_expired' };
      // Hot keys are re-checked in the background before they expire, so their callers never
      // wait on the database; the revocation bound (ttl) still holds because an entry that could
      // not be re-checked simply expires.
      if (this.now() - hit.verifiedAt > this.options.ttlMs / 2) this.refresh(hit.identity.id, cacheKey, hit);
      this.options.onVerified?.(hit.identity.id);
      return { ok: true, identity: hit.identity, cached: true };
    }
    const parsed = parseKey(rawKey);
    if (!parsed) return { ok: false, code: 'invalid_api_key' };
    const known = this.negative.get(cacheKey);
    if (known) return { ok: false, code: known };
    if (this.unknownIds.has(parsed.id)) return { ok: false, code: 'invalid_api_key' };

    let pending = this.inflight.get(cacheKey);
    if (!pending) {
      pending = this.verifySlow(parsed.id, parsed.secret, cacheKey, digest).finally(() =>
        this.inflight.delete(cacheKey),
      );
      this.inflight.set(cacheKey, pending);
    }
    const outcome = await pending;
    if ('code' in outcome) return { ok: false, code: outcome.code };
    this.options.onVerified?.(outcome.identity.id);
    return { ok: true, identity: outcome.identity, cached: false };
  }

  /** Drops every cached verdict for a key id (called on local revoke/rotate). */
  forget(id: string): void {
    for (const [k, v] of this.positive.entries()) if (v.identity.id === id) this.positive.delete(k);
    this.unknownIds.delete(id);
    this.negative.clear();
    this.matched.clear();
  }

  private expiredNow(identity: KeyIdentity): boolean {
    return identity.expiresAt !== null && identity.expiresAt.getTime() <= this.now();
  }

  private refresh(id: string, cacheKey: string, hit: Verified): void {
    if (this.refreshing.has(cacheKey)) return;
    this.refreshing.add(cacheKey);
    this.options
      .lookup(id)
      .then((stored) => {
        if (this.positive.get(cacheKey) !== hit) return; // forgotten or replaced meanwhile
        const failure =
          stored === null ? 'invalid_api_key' : this.failureOf(stored, stored.secretHash === hit.secretHash);
        if (failure || !stored) {
          this.positive.delete(cacheKey);
          if (failure) this.negative.set(cacheKey, failure);
          return;
        }
        this.positive.set(cacheKey, { ...hit, identity: identityOf(stored), verifiedAt: this.now() });
      })
      .catch(() => {
        // The database is unreachable: keep serving until the entry's TTL ends, then callers wait.
      })
      .finally(() => this.refreshing.delete(cacheKey));
  }

  private failureOf(stored: StoredKey, secretMatches: boolean): AuthFailure | null {
    if (!secretMatches) return 'invalid_api_key';
    if (stored.revokedAt && stored.revokedAt.getTime() <= this.now()) return 'key_revoked';
    if (this.expiredNow(stored)) return 'key_expired';
    return null;
  }

  private async verifySlow(id: string, secret: string, cacheKey: string, digest: Buffer): Promise<Outcome> {
    let stored: StoredKey | null;
    try {
      stored = await this.options.lookup(id);
    } catch {
      // Not the caller's fault and not cached: the next attempt looks again.
      return { code: 'auth_unavailable' };
    }
    if (!stored) {
      this.unknownIds.set(id, true);
      return { code: 'invalid_api_key' };
    }
    const knownHash = this.matched.get(cacheKey);
    const matches =
      knownHash !== undefined && knownHash === stored.secretHash
        ? true
        : await verifySecret(secret, stored.secretHash);
    const failure = this.failureOf(stored, matches);
    if (failure) {
      this.negative.set(cacheKey, failure);
      return { code: failure };
    }
    const identity = identityOf(stored);
    this.matched.set(cacheKey, stored.secretHash);
    this.positive.set(cacheKey, { identity, digest, secretHash: stored.secretHash, verifiedAt: this.now() });
    return { identity };
  }
}

/** Keys seen since the last flush; the store is updated in one statement per interval. */
export class LastUsedTracker {
  private seen = new Set<string>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly flushFn: (ids: string[], at: Date) => Promise<void>,
    private readonly intervalMs: number,
    private readonly onError: (err: unknown) => void = () => {},
  ) {}

  mark(id: string): void {
    this.seen.add(id);
  }

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.intervalMs);
    this.timer.unref();
  }

  async flush(): Promise<void> {
    if (this.seen.size === 0) return;
    const ids = [...this.seen];
    this.seen = new Set();
    try {
      await this.flushFn(ids, new Date());
    } catch (err) {
      for (const id of ids) this.seen.add(id);
      this.onError(err);
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }
}
