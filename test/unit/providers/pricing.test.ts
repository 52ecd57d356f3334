import t from 'tap';
import { DEFAULT_PRICING, costUsd, priceFor, type PricingTable } from '../../../src/providers/pricing.js';

t.test('default table: the most specific pattern wins', async (t) => {
  t.match(priceFor('gpt-4o'), { input: 2.5, output: 10 });
  t.match(priceFor('gpt-4o-2024-08-06'), { input: 2.5, output: 10 });
  t.match(priceFor('gpt-4o-mini'), { input: 0.15, output: 0.6 });
  t.match(priceFor('gpt-4o-mini-2024-07-18'), { input: 0.15, output: 0.6 });
  t.match(priceFor('gpt-4.1-nano'), { input: 0.1, output: 0.4 });
  t.match(priceFor('gpt-4.1'), { input: 2, output: 8 });
  t.match(priceFor('o3-mini'), { input: 1.1, output: 4.4 });
  t.match(priceFor('o3'), { input: 2, output: 8 });
  t.match(priceFor('o4-mini'), { input: 1.1, output: 4.4 });
  t.match(priceFor('gpt-5-mini'), { input: 0.25, output: 2 });
  t.match(priceFor('gpt-5'), { input: 1.25, output: 10 });
  t.match(priceFor('text-embedding-3-small'), { input: 0.02, output: 0 });
  t.match(priceFor('claude-opus-4-1-20250805'), { input: 15, output: 75 });
  t.match(priceFor('claude-opus-4-5'), { input: 5, output: 25 });
  t.match(priceFor('claude-sonnet-4-5-20250929'), { input: 3, output: 15 });
  t.match(priceFor('claude-3-7-sonnet-latest'), { input: 3, output: 15 });
  t.match(priceFor('claude-3-5-haiku-20241022'), { input: 0.8, output: 4 });
  t.match(priceFor('claude-haiku-4-5'), { input: 1, output: 5 });
  t.match(priceFor('CLAUDE-HAIKU-4-5'), { input: 1, output: 5 }, 'case-insensitive');
  t.equal(priceFor('llama-3-70b'), null);
  t.equal(priceFor(null), null);
  t.equal(priceFor(''), null);
  t.ok(DEFAULT_PRICING.length >= 15);
});

t.test('custom tables: exact beats glob, ties go to the first entry', async (t) => {
  const table: PricingTable = [
    { model: 'acme-*', input: 1, output: 1 },
    { model: 'acme-?', input: 9, output: 9 },
    { model: 'acme-x', input: 2, output: 2 },
    { model: 'acme-*-pro', input: 3, output: 3 },
    { model: 'acme-*-pr?', input: 4, output: 4 },
  ];
  t.same(priceFor('acme-x', table), { input: 2, output: 2 });
  t.same(priceFor('acme-y', table), { input: 1, output: 1 }, '"acme-*" and "acme-?" tie; first wins');
  t.same(priceFor('acme-big-pro', table), { input: 3, output: 3 });
  t.same(priceFor('acme-big-pro', table), { input: 3, output: 3 }, 'memoised answer is the same');
  t.equal(priceFor('other', table), null);
});

t.test('cost: known tokens and price only; unknown is null, not 0', async (t) => {
  const price = { input: 2.5, output: 10 };
  t.equal(costUsd({ promptTokens: 1_000_000, completionTokens: 100_000, totalTokens: null }, price), 3.5);
  t.equal(costUsd({ promptTokens: 1000, completionTokens: 500, totalTokens: 1500 }, price), 0.0075);
  t.equal(costUsd({ promptTokens: 0, completionTokens: 0, totalTokens: 0 }, price), 0, 'known zero is 0');
  t.equal(costUsd({ promptTokens: 10, completionTokens: null, totalTokens: null }, price), null);
  t.equal(costUsd({ promptTokens: null, completionTokens: 10, totalTokens: null }, price), null);
  t.equal(costUsd({ promptTokens: 10, completionTokens: 10, totalTokens: 20 }, null), null);
  t.equal(
    costUsd({ promptTokens: 1, completionTokens: 2, totalTokens: 3 }, { input: 0.1, output: 0.2 }),
    5e-7,
  );
});
