import t from 'tap';
import { formatResetDuration, limitHeaders, retryAfterSeconds } from '../../../src/limits/headers.js';
import { estimatePromptTokens, usdToMicro } from '../../../src/limits/estimate.js';

t.test('reset durations use the OpenAI format', async (t) => {
  t.equal(formatResetDuration(20), '20ms');
  t.equal(formatResetDuration(998.2), '999ms');
  t.equal(formatResetDuration(999.2), '1s');
  t.equal(formatResetDuration(1000), '1s');
  t.equal(formatResetDuration(1001), '2s');
  t.equal(formatResetDuration(360_000), '6m0s');
  t.equal(formatResetDuration(3_661_000), '1h1m1s');
  t.equal(formatResetDuration(-5), '0ms');
});

t.test('retry-after is whole seconds, at least 1', async (t) => {
  t.equal(retryAfterSeconds(1), 1);
  t.equal(retryAfterSeconds(0), 1);
  t.equal(retryAfterSeconds(1001), 2);
  t.equal(retryAfterSeconds(60_000), 60);
});

t.test('the tightest counter per metric wins', async (t) => {
  const h = limitHeaders([
    { metric: 'requests', limit: 100, remaining: 50, resetMs: 1000 },
    { metric: 'requests', limit: 10, remaining: 5, resetMs: 2000 },
    { metric: 'tokens', limit: 1000, remaining: 0, resetMs: 3000 },
    { metric: 'tokens', limit: 500, remaining: 0, resetMs: 9000 },
  ]);
  t.same(h, {
    'x-ratelimit-limit-requests': '10',
    'x-ratelimit-remaining-requests': '5',
    'x-ratelimit-reset-requests': '2s',
    'x-ratelimit-limit-tokens': '500',
    'x-ratelimit-remaining-tokens': '0',
    'x-ratelimit-reset-tokens': '9s',
  });
});

t.test('estimates', async (t) => {
  t.equal(estimatePromptTokens(''), 0);
  t.equal(estimatePromptTokens('abcde'), 2);
  t.equal(usdToMicro(0.07), 70_000, 'no float artefact rounds up a micro-dollar');
  t.equal(usdToMicro(0.0000001), 1, 'a fraction of a micro-dollar still counts');
  t.equal(usdToMicro(-1), 0);
});
