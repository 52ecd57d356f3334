import t, { type Test } from 'tap';
import { ApiError, GoogleGenAI } from '@google/genai';
import { DEFAULT_REPLY } from '../support/mock-provider.js';
import { mockHeader, startProxy, familyUpstream } from '../support/proxy.js';
import { sdkPolicies } from '../support/sdk-policies.js';

/**
 * @google/genai pointed at the proxy with only its base URL changed and the aigov key as its API
 * key: generateContent, streamGenerateContent (SSE), countTokens, refusals as ApiError with the
 * provider's status, redaction, the aigov key kept from the provider (header, `?key=`, body),
 * bad input, the audit row with cached and thinking tokens priced, and /v1/check.
 */
const GEMINI_KEY = 'gemini-provider-key-00000000000000000000';
const MODEL = 'gemini-2.5-flash';

t.test('the @google/genai client through the proxy', async (t) => {
  const h = await startProxy({
    policies: sdkPolicies(2),
    ...familyUpstream('gemini', GEMINI_KEY),
  });
  t.teardown(() => h.close());
  const ai = new GoogleGenAI({ apiKey: h.key, httpOptions: { baseUrl: h.url } });

  const assertCredentials = (t: Test, since: number): void => {
    const seen = h.mock.requests.slice(since);
    t.ok(seen.length > 0, 'the mock was called');
    for (const req of seen) {
      t.equal(req.headers['x-goog-api-key'], GEMINI_KEY, `${req.path}: Gemini key injected`);
      t.notOk(JSON.stringify(req.headers).includes(h.key), 'aigov key in no header');
      t.notOk(req.url.includes(h.key), 'aigov key not in the query');
      t.notMatch(req.url, /[?&]key=/, 'no key parameter at all');
      t.notOk(req.raw.includes(h.key), 'aigov key not in the body');
    }
  };

  t.test('generateContent, plain', async (t) => {
    const before = h.mock.requests.length;
    const res = await ai.models.generateContent({ model: MODEL, contents: 'Say hello' });
    t.equal(res.text, DEFAULT_REPLY);
    t.match(h.mock.requests.at(-1)?.path, new RegExp(`/models/${MODEL}:generateContent$`));
    assertCredentials(t, before);
  });

  t.test('generateContentStream (SSE), relayed chunk by chunk', async (t) => {
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
    t.match(h.mock.requests.at(-1)?.url, /:streamGenerateContent\?alt=sse$/);
    assertCredentials(t, before);
    const rows = await h.rows(`route LIKE '%streamGenerateContent' AND stream`);
    t.ok(rows.at(-1)?.['prompt_tokens'], 'usage read from the stream');
  });

  t.test('countTokens is governed and free', async (t) => {
    const res = await ai.models.countTokens({ model: MODEL, contents: 'Count me' });
    t.ok(res.totalTokens && res.totalTokens > 0);
  });

  t.test('a policy block raises ApiError 403 naming the rule; nothing forwarded', async (t) => {
    const before = h.mock.requests.length;
    const err = await ai.models.generateContent({ model: MODEL, contents: 'My SSN is 123-45-6789' }).then(
      () => null,
      (e: unknown) => e,
    );
    t.ok(err instanceof ApiError, `raised ${String(err)}`);
    t.equal((err as ApiError).status, 403);
    t.match((err as ApiError).message, /no-ssn/);
    t.match((err as ApiError).message, /PERMISSION_DENIED/);
    const streamErr = await ai.models
      .generateContentStream({ model: MODEL, contents: 'SSN 123-45-6789' })
      .then(
        () => null,
        (e: unknown) => e,
      );
    t.ok(streamErr instanceof ApiError && streamErr.status === 403, 'a blocked stream too');
    t.equal(h.mock.requests.length, before, 'the mock received nothing');
  });

  t.test('redaction rewrites contents, systemInstruction and function responses', async (t) => {
    const res = await ai.models.generateContent({
      model: MODEL,
      contents: [
        { role: 'user', parts: [{ text: 'Write to bob@example.com today' }] },
        { role: 'model', parts: [{ functionCall: { name: 'lookup', args: { who: 'amy@example.com' } } }] },
        {
          role: 'user',
          parts: [{ functionResponse: { name: 'lookup', response: { mail: 'cy@example.com' } } }],
        },
        { role: 'user', parts: [{ text: 'Write to bob@example.com today' }] },
      ],
      config: {
        systemInstruction: 'Reply to dee@example.com',
        httpOptions: { headers: mockHeader({ echo: true }) },
      },
    });
    const sent = h.mock.requests.at(-1)!.raw;
    t.notMatch(sent, /@example\.com/, 'no address reached the provider');
    t.equal((sent.match(/\[REDACTED:EMAIL\]/g) ?? []).length, 5);
    t.equal(res.text, 'Write to [REDACTED:EMAIL] today');
  });

  t.test('a bad key raises ApiError 401, by header and by ?key=; nothing forwarded', async (t) => {
    const before = h.mock.requests.length;
    const bad = new GoogleGenAI({ apiKey: 'aigov_nope', httpOptions: { baseUrl: h.url } });
    const err = await bad.models.generateContent({ model: MODEL, contents: 'hi' }).then(
      () => null,
      (e: unknown) => e,
    );
    t.ok(err instanceof ApiError && err.status === 401, `raised ${String(err)}`);
    t.match((err as ApiError).message, /UNAUTHENTICATED/);
    const viaQuery = await fetch(`${h.url}/v1beta/models/${MODEL}:generateContent?key=${h.key}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }),
    });
    t.equal(viaQuery.status, 200, 'the key in ?key= is accepted');
    t.equal(h.mock.requests.length, before + 1);
    assertCredentials(t, before);
  });

  t.test('bad input is a 400 in Google shape; nothing forwarded', async (t) => {
    const before = h.mock.requests.length;
    const res = await h.send(`/v1beta/models/${MODEL}:generateContent`, {
      headers: { 'x-goog-api-key': h.key },
      auth: false,
      body: { contents: 'not a list' },
    });
    t.equal(res.status, 400);
    t.match(await res.json(), { error: { code: 400, status: 'INVALID_ARGUMENT', message: /contents/ } });
    const unknown = await h.send(`/v1beta/models/${MODEL}:frobnicate`, { body: { contents: [] } });
    t.equal(unknown.status, 404);
    t.match(await unknown.json(), { error: { code: 404, status: 'NOT_FOUND' } });
    t.equal(h.mock.requests.length, before);
  });

  t.test('the audit row: model from the path, tokens, cached and thinking tokens, cost', async (t) => {
    await ai.models.generateContent({
      model: MODEL,
      contents: 'Think',
      config: {
        httpOptions: {
          headers: mockHeader({ usage: { prompt: 2000, completion: 500, cached: 1500, reasoning: 300 } }),
        },
      },
    });
    const rows = await h.rows(`provider = 'gemini' AND prompt_tokens = 2000`);
    t.equal(rows.length, 1);
    const row = rows[0]!;
    t.equal(row['model'], MODEL);
    t.equal(row['route'], '/v1beta/models/{model}:generateContent');
    t.equal(row['completion_tokens'], 500, 'candidates + thoughts');
    t.equal(row['cached_tokens'], 1500);
    t.equal(row['reasoning_tokens'], 300);
    // gemini-2.5-flash: 500 uncached x $0.30 + 1500 cached x $0.03 + 500 output x $2.50, per 1M.
    t.equal(Number(row['cost_usd']), (500 * 0.3 + 1500 * 0.03 + 500 * 2.5) / 1e6);
  });

  t.test('/v1/check for gemini takes a top-level model', async (t) => {
    const res = await h.send('/v1/check', {
      body: {
        provider: 'gemini',
        model: MODEL,
        contents: [{ role: 'user', parts: [{ text: 'mail bob@example.com' }] }],
      },
    });
    t.equal(res.status, 200);
    const body = (await res.json()) as {
      decision: string;
      redacted: { contents: { parts: { text: string }[] }[] };
    };
    t.equal(body.decision, 'redact');
    t.equal(body.redacted.contents[0]!.parts[0]!.text, 'mail [REDACTED:EMAIL]');
    const limited = await h.newKey({ models: ['gemini-2.0-*'] });
    const denied = await h.send('/v1/check', {
      auth: limited,
      body: { provider: 'gemini', model: MODEL, contents: [{ parts: [{ text: 'hi' }] }] },
    });
    t.match(await denied.json(), { allowed: false, reasons: [{ policy: 'model_not_allowed' }] });
  });
});
