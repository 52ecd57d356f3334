import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { mockHeader, startObservedUpstream, startProxy } from '../../support/proxy.js';

/** SSE pass-through: chunk by chunk, cancelled with the client, usage read on the side. */

const chat = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  model: 'gpt-4o',
  messages: [{ role: 'user', content: 'stream please' }],
  stream: true,
  ...extra,
});

/** Reads a response body, noting when each piece arrived (performance.now()). */
async function readTimed(res: Response): Promise<{ text: string; arrivals: { at: number; text: string }[] }> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const arrivals: { at: number; text: string }[] = [];
  let text = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const piece = decoder.decode(value, { stream: true });
    arrivals.push({ at: performance.now(), text: piece });
    text += piece;
  }
  return { text, arrivals };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    p,
    sleep(ms).then(() => {
      throw new Error(`timed out waiting for ${what}`);
    }),
  ]);
}

t.test('streams', async (t) => {
  const observed = await startObservedUpstream({ chunks: 400, intervalMs: 25 });
  const h = await startProxy({
    extraProviders: [
      { name: 'observed', family: 'openai', base_url: observed.url, api_key_env: 'OPENAI_API_KEY' },
    ],
  });
  t.teardown(async () => {
    await h.close();
    await observed.close();
  });

  t.test('chunks reach the client before the upstream stream ends', async (t) => {
    for (const [path, body] of [
      ['/v1/chat/completions', chat()],
      [
        '/v1/messages',
        {
          model: 'claude-sonnet-4-5',
          max_tokens: 64,
          stream: true,
          messages: [{ role: 'user', content: 'x' }],
        },
      ],
      ['/v1/responses', { model: 'gpt-4o', input: 'x', stream: true }],
    ] as const) {
      const res = await h.send(path, { body, headers: mockHeader({ chunks: 5, chunkDelayMs: 150 }) });
      t.equal(res.status, 200);
      // From the status line on: the proxy relays upstream headers as soon as they arrive.
      const start = performance.now();
      const { arrivals } = await readTimed(res);
      const contentArrivals = arrivals.filter((a) => /delta/.test(a.text));
      t.ok(contentArrivals.length >= 3, `${path}: content arrived in ${contentArrivals.length} pieces`);
      const first = contentArrivals[0]!.at - start;
      const last = contentArrivals.at(-1)!.at - start;
      // Upstream spaces the 5 content chunks 150 ms apart: a buffering proxy would deliver the
      // first together with the last. Ratios only: the machine is shared and noisy.
      t.ok(first < last * 0.5, `${path}: first chunk at ${first.toFixed(0)}ms, last at ${last.toFixed(0)}ms`);
    }
  });

  t.test('a client abort mid-stream cancels the upstream request', async (t) => {
    const res = await h.send('/observed/v1/chat/completions', { body: chat() });
    t.equal(res.status, 200);
    const reader = res.body!.getReader();
    let seen = '';
    while (!seen.includes('w3 ')) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += new TextDecoder().decode(value);
    }
    t.match(seen, /w1 /, 'the first chunks arrived');
    await reader.cancel();
    const stream = observed.streams.at(-1)!;
    await withTimeout(stream.closed, 10_000, 'the upstream connection to close');
    t.ok(stream.closedEarly, 'the upstream saw its connection closed before the stream ended');
    t.ok(stream.written < 400, `upstream stopped after ${stream.written} of 400 chunks`);
    const row = (await h.rows(`route = '/observed/v1/chat/completions'`))[0];
    t.equal(row?.['aborted'], true, 'audit row marks the call aborted');
    t.equal(row?.['stream'], true);
    t.equal(row?.['error'], 'client_aborted');
  });

  t.test('a client that gives up before the first byte cancels the upstream call too', async (t) => {
    const controller = new AbortController();
    const before = h.mock.requests.length;
    const pending = fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${h.key}`,
        'content-type': 'application/json',
        ...mockHeader({ hang: true }),
      },
      body: JSON.stringify(chat({ stream: false })),
      signal: controller.signal,
    }).catch((e: unknown) => e);
    while (h.mock.requests.length === before) await sleep(10);
    controller.abort();
    t.ok((await pending) instanceof Error, 'the client saw its own abort');
    const requestId = await withTimeout(
      (async () => {
        for (;;) {
          const rows = await h.rows(`aborted AND NOT stream`);
          if (rows.length > 0) return rows[0]!;
          await sleep(20);
        }
      })(),
      10_000,
      'the aborted row',
    );
    t.equal(requestId['aborted'], true);
    t.equal(requestId['decision'], 'error');
    t.equal(requestId['error'], 'client_aborted', 'not counted as a provider failure');
  });

  t.test('usage-only chunk: hidden from a client that did not ask, recorded anyway', async (t) => {
    const usage = mockHeader({ usage: { prompt: 11, completion: 7 } });
    const res = await h.send('/v1/chat/completions', { body: chat(), headers: usage });
    const text = await res.text();
    const rid = res.headers.get('x-request-id');
    const events = text.split('\n\n').filter((e) => e.startsWith('data: {'));
    t.ok(events.length >= 5);
    for (const ev of events) {
      const json = JSON.parse(ev.slice(6)) as { choices: unknown[]; usage?: unknown };
      t.not(json.choices.length, 0, 'no chunk without choices');
      t.notOk(json.usage, 'no usage the client did not ask for');
    }
    t.match(text, /data: \[DONE\]\n\n$/, 'the stream still ends with [DONE]');
    const sent = h.mock.requests.at(-1)?.body as { stream_options?: unknown };
    t.same(sent.stream_options, { include_usage: true }, 'the proxy asked the provider for usage');
    const row = (await h.rows(`request_id = '${rid}'`))[0];
    t.match(row, { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18, stream: true });

    const asked = await h.send('/v1/chat/completions', {
      body: chat({ stream_options: { include_usage: true } }),
      headers: usage,
    });
    const askedText = await asked.text();
    t.match(
      askedText,
      /"choices":\[\],"usage":\{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18\}/,
    );
  });
});
