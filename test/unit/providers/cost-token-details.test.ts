import t from 'tap';
import { getAdapter } from '../../../src/providers/families.js';
import { costUsd, priceFor } from '../../../src/providers/pricing.js';

/**
 * Cached and reasoning tokens, read from each family's own usage fields and priced as the
 * provider prices them, against costs computed by hand from the list prices (USD per 1M tokens).
 */
const cost = (
  family: Parameters<typeof getAdapter>[0],
  route: string,
  model: string,
  body: unknown,
): number | null => costUsd(getAdapter(family).usageFromBody(route, body), priceFor(model));

t.test('openai: cached_tokens are part of prompt_tokens, reasoning part of completion', async (t) => {
  const body = {
    usage: {
      prompt_tokens: 10_000,
      completion_tokens: 2_000,
      total_tokens: 12_000,
      prompt_tokens_details: { cached_tokens: 8_000 },
      completion_tokens_details: { reasoning_tokens: 1_500 },
    },
  };
  t.match(getAdapter('openai').usageFromBody('/v1/chat/completions', body), {
    promptTokens: 10_000,
    completionTokens: 2_000,
    cachedTokens: 8_000,
    reasoningTokens: 1_500,
  });
  // o4-mini: 2,000 x 1.10 + 8,000 x 0.275 + 2,000 x 4.40 = 2,200 + 2,200 + 8,800 = 13,200 / 1M
  t.equal(cost('openai', '/v1/chat/completions', 'o4-mini', body), 0.0132);
  // responses API: input_tokens_details / output_tokens_details; gpt-5: 1.25 / 0.125 / 10
  const resp = {
    usage: {
      input_tokens: 4_000,
      output_tokens: 1_000,
      total_tokens: 5_000,
      input_tokens_details: { cached_tokens: 4_000 },
      output_tokens_details: { reasoning_tokens: 900 },
    },
  };
  // 0 x 1.25 + 4,000 x 0.125 + 1,000 x 10 = 500 + 10,000 = 10,500 / 1M
  t.equal(cost('openai', '/v1/responses', 'gpt-5', resp), 0.0105);
  t.equal(
    cost('openai', '/v1/chat/completions', 'gpt-4o', {
      usage: { prompt_tokens: 1_000, completion_tokens: 0 },
    }),
    0.0025,
    'no details: all input at the uncached price',
  );
});

t.test('azure: the OpenAI fields at Azure routes', async (t) => {
  const body = {
    usage: {
      prompt_tokens: 1_000,
      completion_tokens: 200,
      prompt_tokens_details: { cached_tokens: 400 },
      completion_tokens_details: { reasoning_tokens: 50 },
    },
  };
  // gpt-4o: 600 x 2.50 + 400 x 1.25 + 200 x 10 = 1,500 + 500 + 2,000 = 4,000 / 1M
  t.equal(cost('azure', '/openai/deployments/{deployment}/chat/completions', 'gpt-4o', body), 0.004);
  t.equal(cost('azure', '/openai/v1/chat/completions', 'gpt-4o', body), 0.004);
});

t.test('anthropic: cache writes at 1.25x, reads at 0.1x, beside input_tokens', async (t) => {
  const body = {
    usage: {
      input_tokens: 100,
      cache_creation_input_tokens: 2_000,
      cache_read_input_tokens: 10_000,
      output_tokens: 500,
    },
  };
  t.match(getAdapter('anthropic').usageFromBody('/v1/messages', body), {
    promptTokens: 12_100,
    cachedTokens: 10_000,
    cacheWriteTokens: 2_000,
  });
  // claude-sonnet-4: 100 x 3 + 2,000 x 3.75 + 10,000 x 0.30 + 500 x 15 = 300 + 7,500 + 3,000 + 7,500
  t.equal(cost('anthropic', '/v1/messages', 'claude-sonnet-4-5', body), 0.0183);
});

t.test('gemini: cachedContentTokenCount inside promptTokenCount, thoughts billed as output', async (t) => {
  const body = {
    usageMetadata: {
      promptTokenCount: 20_000,
      cachedContentTokenCount: 16_000,
      candidatesTokenCount: 1_000,
      thoughtsTokenCount: 3_000,
      totalTokenCount: 24_000,
    },
  };
  t.match(getAdapter('gemini').usageFromBody('/v1beta/models/{model}:generateContent', body), {
    promptTokens: 20_000,
    completionTokens: 4_000,
    cachedTokens: 16_000,
    reasoningTokens: 3_000,
  });
  // gemini-2.5-pro: 4,000 x 1.25 + 16,000 x 0.125 + 4,000 x 10 = 5,000 + 2,000 + 40,000 = 47,000 / 1M
  t.equal(cost('gemini', '/v1beta/models/{model}:generateContent', 'gemini-2.5-pro', body), 0.047);
  t.same(
    getAdapter('gemini').usageFromBody('/v1beta/models/{model}:countTokens', { totalTokens: 9 }),
    { promptTokens: 0, completionTokens: 0, totalTokens: 0 },
    'counting tokens costs nothing',
  );
});

t.test('bedrock: cacheRead/WriteInputTokens beside inputTokens, priced per model', async (t) => {
  const converse = {
    usage: {
      inputTokens: 500,
      outputTokens: 1_000,
      cacheReadInputTokens: 8_000,
      cacheWriteInputTokens: 1_000,
    },
  };
  t.match(getAdapter('bedrock').usageFromBody('/model/{modelId}/converse', converse), {
    promptTokens: 9_500,
    cachedTokens: 8_000,
    cacheWriteTokens: 1_000,
  });
  // Claude 3.7 Sonnet on Bedrock: 500 x 3 + 8,000 x 0.30 + 1,000 x 3.75 + 1,000 x 15
  //   = 1,500 + 2,400 + 3,750 + 15,000 = 22,650 / 1M
  t.equal(
    cost('bedrock', '/model/{modelId}/converse', 'us.anthropic.claude-3-7-sonnet-20250219-v1:0', converse),
    0.02265,
  );
  // Nova Lite: 500 x 0.06 + 8,000 x 0.015 + 1,000 x 0.06 (no write price) + 1,000 x 0.24 = 450 / 1M
  t.equal(cost('bedrock', '/model/{modelId}/converse', 'amazon.nova-lite-v1:0', converse), 0.00045);
  // invoke, Meta Llama body fields
  t.equal(
    cost('bedrock', '/model/{modelId}/invoke', 'meta.llama3-1-70b-instruct-v1:0', {
      generation: 'hi',
      prompt_token_count: 1_000,
      generation_token_count: 1_000,
    }),
    0.00144,
  );
});
