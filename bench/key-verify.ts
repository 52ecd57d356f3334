/**
 * Key verification cost: a cache hit (format + checksum + SHA-256 + LRU lookup) against a miss
 * (lookup + one bcrypt compare at the configured cost), and a flood of random well-formed keys.
 *   node --import tsx bench/key-verify.ts [--cost 12]
 */
import { KeyVerifier } from '../src/auth/verifier.js';
import { generateKey } from '../src/auth/key-format.js';
import { storedKeyFixture } from '../test/support/keys.js';

const costArg = process.argv.indexOf('--cost');
const cost = costArg > 0 ? Number(process.argv[costArg + 1]) : 12;

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const { g, stored } = await storedKeyFixture(cost, { owner: 'bench@example.com', team: 'bench' });
  const make = (ttlMs: number) =>
    new KeyVerifier({
      lookup: async (id) => (id === stored.id ? stored : null),
      ttlMs,
      negativeTtlMs: 5_000,
      max: 10_000,
    });

  const hit = make(60_000);
  await hit.verify(g.key);
  for (let i = 0; i < 20_000; i++) await hit.verify(g.key);
  const hits: number[] = [];
  for (let i = 0; i < 100_000; i++) {
    const s = process.hrtime.bigint();
    await hit.verify(g.key);
    hits.push(Number(process.hrtime.bigint() - s) / 1000);
  }
  hits.sort((a, b) => a - b);

  const misses: number[] = [];
  for (let i = 0; i < 20; i++) {
    const v = make(1); // a fresh verifier: every call is a miss
    const s = process.hrtime.bigint();
    await v.verify(g.key);
    misses.push(Number(process.hrtime.bigint() - s) / 1000);
  }
  misses.sort((a, b) => a - b);

  const flood = make(60_000);
  const randomKeys = Array.from({ length: 20_000 }, () => generateKey().key);
  const s = process.hrtime.bigint();
  for (const k of randomKeys) await flood.verify(k);
  const floodUs = Number(process.hrtime.bigint() - s) / 1000 / randomKeys.length;

  console.log(`| case | p50 | p99 |`);
  console.log(`| --- | ---: | ---: |`);
  console.log(`| cache hit | ${pct(hits, 50).toFixed(2)} µs | ${pct(hits, 99).toFixed(2)} µs |`);
  console.log(
    `| miss (lookup + bcrypt cost ${cost}) | ${(pct(misses, 50) / 1000).toFixed(1)} ms | ${(pct(misses, 99) / 1000).toFixed(1)} ms |`,
  );
  console.log(`| random well-formed unknown keys (mean) | ${floodUs.toFixed(2)} µs | |`);
}

await main();
