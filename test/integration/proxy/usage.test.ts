import t from 'tap';
import { allDbs } from '../../support/db.js';
import { mockHeader, startProxy } from '../../support/proxy.js';

/**
 * Token usage and cost land in usage_logs for plain and streamed calls of both API families, on
 * every database backend. Unknown usage or an unpriced model is NULL, never 0.
 */
const PROMPT = 11;
const COMPLETION = 7;
const fixed = mockHeader({ usage: { prompt: PROMPT, completion: COMPLETION } });

interface Case {
  name: string;
  path: string;
  body: Record<string, unknown>;
  /** USD per 1M input / output tokens from the built-in pricing table; null = unpriced. */
  price: [number, number] | null;
  completion?: number;
  headers?: Record<string, string>;
  tokens?: 'unknown';
}

const msg = (model: string, stream: boolean): Record<string, unknown> => ({
  model,
  max_tokens: 64,
  stream,
  messages: [{ role: 'user', content: 'hi' }],
});
const chat = (model: string, stream: boolean): Record<string, unknown> => ({
  model,
  stream,
  messages: [{ role: 'user', content: 'hi' }],
});

const CASES: Case[] = [
  { name: 'chat plain, gpt-4o', path: '/v1/chat/completions', body: chat('gpt-4o', false), price: [2.5, 10] },
  { name: 'chat stream, gpt-4o', path: '/v1/chat/completions', body: chat('gpt-4o', true), price: [2.5, 10] },
  {
    name: 'chat stream, client asked for usage',
    path: '/v1/chat/completions',
    body: { ...chat('gpt-4o-mini', true), stream_options: { include_usage: true } },
    price: [0.15, 0.6],
  },
  {
    name: 'responses plain',
    path: '/v1/responses',
    body: { model: 'gpt-4o', input: 'hi' },
    price: [2.5, 10],
  },
  {
    name: 'responses stream',
    path: '/v1/responses',
    body: { model: 'gpt-4o', input: 'hi', stream: true },
    price: [2.5, 10],
  },
  {
    name: 'legacy completions stream',
    path: '/v1/completions',
    body: { model: 'gpt-4o', prompt: 'hi', stream: true },
    price: [2.5, 10],
  },
  {
    name: 'embeddings',
    path: '/v1/embeddings',
    body: { model: 'text-embedding-3-small', input: 'hi' },
    price: [0.02, 0],
    completion: 0,
  },
  {
    name: 'messages plain, claude-sonnet-4-5',
    path: '/v1/messages',
    body: msg('claude-sonnet-4-5', false),
    price: [3, 15],
  },
  {
    name: 'messages stream, claude-sonnet-4-5',
    path: '/v1/messages',
    body: msg('claude-sonnet-4-5', true),
    price: [3, 15],
  },
  { name: 'chat, unknown model', path: '/v1/chat/completions', body: chat('mystery-1', false), price: null },
  {
    name: 'chat stream, unknown model',
    path: '/v1/chat/completions',
    body: chat('mystery-1', true),
    price: null,
  },
  { name: 'messages, unknown model', path: '/v1/messages', body: msg('in-house-llm', true), price: null },
  {
    name: 'chat, provider reports no usage',
    path: '/v1/chat/completions',
    body: chat('gpt-4o', true),
    price: [2.5, 10],
    headers: mockHeader({ omitUsage: true }),
    tokens: 'unknown',
  },
  {
    name: 'messages, provider reports no usage',
    path: '/v1/messages',
    body: msg('claude-sonnet-4-5', false),
    price: [3, 15],
    headers: mockHeader({ omitUsage: true }),
    tokens: 'unknown',
  },
];

t.test('usage and cost in usage_logs', async (t) => {
  for (const tdb of await allDbs()) {
    t.test(tdb.kind, async (t) => {
      const h = await startProxy({ testDb: tdb });
      t.teardown(async () => {
        await h.close();
        await tdb.cleanup();
      });
      for (const c of CASES) {
        const res = await h.send(c.path, { body: c.body, headers: c.headers ?? fixed });
        t.equal(res.status, 200, c.name);
        await res.text();
        const row = (await h.rows(`request_id = '${res.headers.get('x-request-id')}'`))[0];
        t.ok(row, `${c.name}: one audit row`);
        if (!row) continue;
        t.equal(row['stream'], c.body['stream'] === true, `${c.name}: stream flag`);
        if (c.tokens === 'unknown') {
          t.equal(row['prompt_tokens'], null, `${c.name}: unknown is NULL, not 0`);
          t.equal(row['completion_tokens'], null);
          t.equal(row['total_tokens'], null);
          t.equal(row['cost_usd'], null, `${c.name}: no cost without usage`);
          continue;
        }
        const completion = c.completion ?? COMPLETION;
        t.match(
          row,
          { prompt_tokens: PROMPT, completion_tokens: completion, total_tokens: PROMPT + completion },
          `${c.name}: tokens as the provider reported them`,
        );
        if (c.price === null) t.equal(row['cost_usd'], null, `${c.name}: unpriced model costs NULL`);
        else {
          const expected = (PROMPT * c.price[0] + completion * c.price[1]) / 1_000_000;
          t.ok(row['cost_usd'] !== null, `${c.name}: priced`);
          t.ok(
            Math.abs(Number(row['cost_usd']) - expected) < 1e-8,
            `${c.name}: cost ${String(row['cost_usd'])} = ${expected}`,
          );
        }
      }
    });
  }
});
