import t from 'tap';
import { KeyVerifier } from '../../../src/auth/verifier.js';
import { formatKey, generateKey } from '../../../src/auth/key-format.js';
import { hashSecret } from '../../../src/auth/hashing.js';
import type { StoredKey } from '../../../src/auth/key-store.js';
import { storedKeyFixture } from '../../support/keys.js';

async function fixture(overrides: Partial<StoredKey> = {}) {
  const { g, stored } = await storedKeyFixture(4, { team: 'finance', tags: ['a'], ...overrides });
  let clock = 1_000_000;
  const lookups: string[] = [];
  const verified: string[] = [];
  const verifier = new KeyVerifier({
    lookup: async (id) => {
      lookups.push(id);
      return id === stored.id ? stored : null;
    },
    ttlMs: 5_000,
    negativeTtlMs: 5_000,
    max: 100,
    now: () => clock,
    onVerified: (id) => verified.push(id),
  });
  return {
    g,
    stored,
    verifier,
    lookups,
    verified,
    advance: (ms: number) => {
      clock += ms;
    },
    now: () => clock,
  };
}

t.test('miss then hit: one lookup, one bcrypt, then served from cache', async (t) => {
  const f = await fixture();
  const first = await f.verifier.verify(f.g.key);
  t.match(first, { ok: true, cached: false, identity: { id: f.g.id, team: 'finance' } });
  const second = await f.verifier.verify(f.g.key);
  t.match(second, { ok: true, cached: true });
  t.equal(f.lookups.length, 1);
  t.same(f.verified, [f.g.id, f.g.id], 'last-used marked on every success');
});

t.test('the cached identity never carries the secret hash', async (t) => {
  const f = await fixture();
  const r = await f.verifier.verify(f.g.key);
  t.ok(r.ok);
  if (r.ok) t.notOk('secretHash' in r.identity);
});

t.test('cache expires after the TTL and a revocation is then seen', async (t) => {
  const f = await fixture();
  t.match(await f.verifier.verify(f.g.key), { ok: true });
  f.stored.revokedAt = new Date(f.now() - 1);
  f.advance(4_000);
  t.match(await f.verifier.verify(f.g.key), { ok: true, cached: true }, 'still cached within the TTL');
  f.advance(1_500);
  t.match(await f.verifier.verify(f.g.key), { ok: false, code: 'key_revoked' }, 'revoked after the TTL');
  t.equal(f.lookups.length, 2);
});

t.test('expired keys are refused, also from cache', async (t) => {
  const f = await fixture();
  f.stored.expiresAt = new Date(f.now() + 1_000);
  t.match(await f.verifier.verify(f.g.key), { ok: true });
  f.advance(1_001);
  t.match(await f.verifier.verify(f.g.key), { ok: false, code: 'key_expired' });
});

t.test('wrong secret for a known id fails and is negatively cached', async (t) => {
  const f = await fixture();
  const other = generateKey();
  // Same id, different secret: rebuild a well-formed key by swapping the id in.
  const forged = formatKey(f.g.id, other.secret);
  t.match(await f.verifier.verify(forged), { ok: false, code: 'invalid_api_key' });
  t.match(await f.verifier.verify(forged), { ok: false, code: 'invalid_api_key' });
  t.equal(f.lookups.length, 1, 'second failure served from the negative cache');
});

t.test('unknown ids cost one lookup, then none', async (t) => {
  const f = await fixture();
  const stranger = generateKey();
  for (let i = 0; i < 5; i++)
    t.match(await f.verifier.verify(stranger.key), { ok: false, code: 'invalid_api_key' });
  t.equal(f.lookups.length, 1);
});

t.test('malformed keys never reach the lookup', async (t) => {
  const f = await fixture();
  t.match(await f.verifier.verify('aigov_nope'), { ok: false, code: 'invalid_api_key' });
  t.match(await f.verifier.verify(f.g.key.slice(0, -1) + (f.g.key.endsWith('a') ? 'b' : 'a')), { ok: false });
  t.equal(f.lookups.length, 0);
});

t.test('concurrent misses for one key share a single verification', async (t) => {
  const f = await fixture();
  const results = await Promise.all(Array.from({ length: 50 }, () => f.verifier.verify(f.g.key)));
  t.ok(results.every((r) => r.ok));
  t.equal(f.lookups.length, 1);
});

t.test('forget() drops a cached key at once (local revoke)', async (t) => {
  const f = await fixture();
  t.match(await f.verifier.verify(f.g.key), { ok: true });
  f.stored.revokedAt = new Date(f.now() - 1);
  f.verifier.forget(f.g.id);
  t.match(await f.verifier.verify(f.g.key), { ok: false, code: 'key_revoked' });
});

t.test('hot keys are re-checked in the background before they expire', async (t) => {
  const f = await fixture();
  t.match(await f.verifier.verify(f.g.key), { ok: true, cached: false });
  f.advance(3_000); // past ttl/2: this hit triggers one background lookup
  t.match(await f.verifier.verify(f.g.key), { ok: true, cached: true });
  await new Promise((r) => setImmediate(r));
  t.equal(f.lookups.length, 2, 'one background lookup');
  f.advance(3_000); // 6 s after the first verification: the renewed entry is still valid
  t.match(await f.verifier.verify(f.g.key), { ok: true, cached: true }, 'renewed, no caller waited');
  await new Promise((r) => setImmediate(r)); // let that hit's own re-check finish
  f.stored.revokedAt = new Date(f.now() - 1);
  f.advance(3_000);
  t.match(await f.verifier.verify(f.g.key), { ok: true, cached: true }, 'served while the re-check runs');
  await new Promise((r) => setImmediate(r));
  t.match(
    await f.verifier.verify(f.g.key),
    { ok: false, code: 'key_revoked' },
    'the re-check saw the revocation',
  );
});

t.test('an expired cache entry is renewed with a lookup but without bcrypt', async (t) => {
  const { g, stored } = await storedKeyFixture(11);
  let clock = 1_000_000; // lru-cache treats a start time of 0 as 'no TTL'
  const v = new KeyVerifier({
    lookup: async () => stored,
    ttlMs: 1_000,
    negativeTtlMs: 1_000,
    max: 10,
    now: () => clock,
  });
  let s = performance.now();
  t.match(await v.verify(g.key), { ok: true, cached: false });
  const first = performance.now() - s;
  clock += 10_000; // entry expired, nobody refreshed it
  s = performance.now();
  t.match(await v.verify(g.key), { ok: true, cached: false });
  const second = performance.now() - s;
  t.ok(second * 5 < first, `renewal ${second.toFixed(1)} ms vs first verification ${first.toFixed(1)} ms`);
  stored.secretHash = await hashSecret('another secret entirely', 4);
  clock += 10_000;
  t.match(await v.verify(g.key), { ok: false, code: 'invalid_api_key' }, 'a changed hash means bcrypt again');
});

t.test('a key store outage is reported as such, not as a bad key, and not cached', async (t) => {
  const g = generateKey();
  let down = true;
  const v = new KeyVerifier({
    lookup: async () => {
      if (down) throw new Error('connection refused');
      return null;
    },
    ttlMs: 5_000,
    negativeTtlMs: 5_000,
    max: 10,
  });
  t.match(await v.verify(g.key), { ok: false, code: 'auth_unavailable' });
  down = false;
  t.match(
    await v.verify(g.key),
    { ok: false, code: 'invalid_api_key' },
    'looked up again once the store is back',
  );
});
