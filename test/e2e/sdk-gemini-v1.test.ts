import t, { type Test } from 'tap';
import { ApiError, GoogleGenAI } from '@google/genai';
import { DEFAULT_REPLY } from '../support/mock-provider.js';
import { mockHeader, startProxy, familyUpstream } from '../support/proxy.js';
import { sdkPolicies } from '../support/sdk-policies.js';

/**
 * @google/genai configured for the Gemini API's `v1` (httpOptions.apiVersion 'v1'), only its base
 * URL changed: generateContent, streamGenerateContent (SSE), countTokens and embedContent (which
 * the SDK sends to `:batchEmbedContents`) all go through the proxy's `/v1/models/...` routes, reach
 * the provider at `/v1/...` (never rewritten to v1beta), and are governed like their v1beta twins.
 * The caller's key is accepted as `?key=` too and never forwarded.
 */
const GEMINI_KEY = 'gemini-provider-key-v1-0000000000000000';
const MODEL = 'gemini-2.5-flash';
const EMBED_MODEL = 'gemini-embedding-001';

t.test('@google/genai on apiVersion v1 through the proxy', async (t) => {
  const h = await startProxy({
    policies: sdkPolicies(2),
    ...familyUpstream('gemini', GEMINI_KEY),
  });
  t.teardown(() => h.close());
  const ai = new GoogleGenAI({ apiKey: h.key, httpOptions: { baseUrl: h.url, apiVersion: 'v1' } });

  /** Every upstream call since `since`: a /v1 path, the Gemini key injected, no trace of the aigov key. */
  const assertUpstream = (t: Test, since: number, action: string): void => {
    const seen = h.mock.requests.slice(since);
    t.equal(seen.length, 1, 'exactly one upstream call');
    for (const req of seen) {
      t.match(req.path, new RegExp(`^/v1/models/[^/]+:${action}$`), `${req.path}: still /v1 upstream`);
      t.notMatch(req.path, /v1beta/, 'not rewritten to v1beta');
      t.equal(req.headers['x-goog-api-key'], GEMINI_KEY, 'Gemini key injected');
      t.notOk(JSON.stringify(req.headers).includes(h.key), 'aigov key in no header');
      t.notMatch(req.url, /[?&]key=/, 'no key parameter upstream');
      t.notOk(req.raw.includes(h.key), 'aigov key not in the body');
    }
  };

  t.test('generateContent', async (t) => {
    const before = h.mock.requests.length;
    const res = await ai.models.generateContent({ model: MODEL, contents: 'Say hello' });
    t.equal(res.text, DEFAULT_REPLY);
    assertUpstream(t, before, 'generateContent');
    const rows = await h.rows(`route = '/v1/models/{model}:generateContent'`);
    t.equal(rows.length, 1, 'audited under the v1 route');
    t.equal(rows[0]?.['model'], MODEL);
    t.equal(rows[0]?.['decision'], 'allow');
    t.ok(Number(rows[0]?.['completion_tokens']) > 0, 'usage read');
  });

  t.test('streamGenerateContent?alt=sse', async (t) => {
    const before = h.mock.requests.length;
    const stream = await ai.models.generateContentStream({ model: MODEL, contents: 'Say hello' });
    let text = '';
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.text ?? '';
    }
    t.equal(text, DEFAULT_REPLY);
    t.ok(chunks >= 5, `${chunks} chunks`);
    assertUpstream(t, before, 'streamGenerateContent');
    t.match(h.mock.requests.at(-1)?.url, /:streamGenerateContent\?alt=sse$/, 'alt=sse kept');
    const rows = await h.rows(`route = '/v1/models/{model}:streamGenerateContent'`);
    t.equal(rows.length, 1);
    t.equal(rows[0]?.['stream'], true);
    t.ok(Number(rows[0]?.['prompt_tokens']) > 0, 'usage read from the stream');
  });

  t.test('countTokens', async (t) => {
    const before = h.mock.requests.length;
    const res = await ai.models.countTokens({ model: MODEL, contents: 'Count me please' });
    t.ok(res.totalTokens !== undefined && res.totalTokens > 0, `totalTokens ${String(res.totalTokens)}`);
    assertUpstream(t, before, 'countTokens');
    const rows = await h.rows(`route = '/v1/models/{model}:countTokens'`);
    t.equal(rows.length, 1);
    t.equal(Number(rows[0]?.['total_tokens']), 0, 'counting is free');
  });

  t.test('embedContent (the SDK calls :batchEmbedContents), redacted', async (t) => {
    const before = h.mock.requests.length;
    const res = await ai.models.embedContent({
      model: EMBED_MODEL,
      contents: ['embed mail to bob@example.com', 'and this'],
    });
    t.equal(res.embeddings?.length, 2);
    t.same(res.embeddings?.[0]?.values, [0.1, 0.2, 0.3]);
    assertUpstream(t, before, 'batchEmbedContents');
    const sent = h.mock.requests.at(-1)!.raw;
    t.notMatch(sent, /bob@example\.com/, 'the address never reached the provider');
    t.match(sent, /embed mail to \[REDACTED:EMAIL\]/);
    const rows = await h.rows(`route = '/v1/models/{model}:batchEmbedContents'`);
    t.equal(rows.length, 1);
    t.equal(rows[0]?.['model'], EMBED_MODEL);
    t.equal(rows[0]?.['decision'], 'redact');
    t.same(rows[0]?.['policy_ids'], ['mask-email']);

    // The single-content :embedContent route, as the REST API documents it.
    const single = await h.send(`/v1/models/${EMBED_MODEL}:embedContent`, {
      auth: false,
      headers: { 'x-goog-api-key': h.key },
      body: { content: { parts: [{ text: 'one text' }] } },
    });
    t.equal(single.status, 200);
    t.same(await single.json(), { embedding: { values: [0.1, 0.2, 0.3] } });
    t.equal(h.mock.requests.at(-1)?.path, `/v1/models/${EMBED_MODEL}:embedContent`);
  });

  t.test('a block on /v1 raises ApiError 403 naming the rule, streamed or not', async (t) => {
    const before = h.mock.requests.length;
    for (const call of [
      () => ai.models.generateContent({ model: MODEL, contents: 'My SSN is 123-45-6789' }),
      () => ai.models.generateContentStream({ model: MODEL, contents: 'SSN 123-45-6789' }),
      () => ai.models.embedContent({ model: EMBED_MODEL, contents: 'SSN 123-45-6789' }),
    ]) {
      const err = await call().then(
        () => null,
        (e: unknown) => e,
      );
      t.ok(err instanceof ApiError, `raised ${String(err)}`);
      t.equal((err as ApiError).status, 403);
      t.match((err as ApiError).message, /no-ssn/);
    }
    t.equal(h.mock.requests.length, before, 'nothing forwarded');
  });

  t.test('?key= is accepted on /v1 routes and never forwarded', async (t) => {
    const before = h.mock.requests.length;
    const res = await fetch(`${h.url}/v1/models/${MODEL}:generateContent?key=${h.key}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...mockHeader({ echo: true }) },
      body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi there' }] }] }),
    });
    t.equal(res.status, 200, 'the key in ?key= is accepted');
    t.equal(
      ((await res.json()) as { candidates: { content: { parts: { text: string }[] } }[] }).candidates[0]
        ?.content.parts[0]?.text,
      'hi there',
    );
    assertUpstream(t, before, 'generateContent');

    const sse = await fetch(`${h.url}/v1/models/${MODEL}:streamGenerateContent?alt=sse&key=${h.key}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }),
    });
    t.equal(sse.status, 200);
    t.match(await sse.text(), /Hello/);
    const last = h.mock.requests.at(-1)!;
    t.equal(last.url, `/v1/models/${MODEL}:streamGenerateContent?alt=sse`, 'alt kept, key removed');
    t.notOk(JSON.stringify(last.headers).includes(h.key));

    const bad = await fetch(`${h.url}/v1/models/${MODEL}:generateContent?key=aigov_nope`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ contents: [{ parts: [{ text: 'hi' }] }] }),
    });
    t.equal(bad.status, 401);
    t.match(await bad.json(), { error: { code: 401, status: 'UNAUTHENTICATED' } });
    t.equal(h.mock.requests.length, before + 2, 'the bad key reached nothing');
  });
});
