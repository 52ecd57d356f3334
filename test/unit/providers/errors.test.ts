import t from 'tap';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { AigovError } from '../../../src/errors.js';
import { getAdapter } from '../../../src/providers/families.js';

/** The subtest type, taken from t.test's callback. */
type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

const openai = getAdapter('openai');
const anthropic = getAdapter('anthropic');
const blocked = new AigovError('policy_blocked', {
  message: 'SSNs may not leave the building',
  providerCode: 'no-ssn',
});

t.test('error bodies become the SDKs own exception classes', async (t) => {
  const headers = new Headers({ 'x-request-id': 'r1' });
  const o = OpenAI.APIError.generate(403, openai.errorBody(blocked) as object, undefined, headers);
  t.type(o, OpenAI.PermissionDeniedError);
  t.match(o, {
    status: 403,
    code: 'no-ssn',
    type: 'permission_error',
    message: /SSNs may not leave the building/,
  });

  const limited = new AigovError('rate_limited', { retryAfter: 3 });
  t.type(
    OpenAI.APIError.generate(429, openai.errorBody(limited) as object, undefined, headers),
    OpenAI.RateLimitError,
  );

  const a = Anthropic.APIError.generate(403, anthropic.errorBody(blocked) as object, undefined, headers);
  t.type(a, Anthropic.PermissionDeniedError);
  t.match(a, { status: 403, message: /SSNs may not leave the building/ });
  t.match(a.error, { type: 'error', error: { type: 'permission_error' } });
});

async function sseServer(t: TapTest, payload: string): Promise<string> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(payload);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function caught(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  return null;
}

t.test('openai SDK raises on the stream error event (chat and responses)', async (t) => {
  const chunk =
    'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n';
  const url = await sseServer(t, chunk + openai.streamErrorEvent(blocked));
  const client = new OpenAI({ apiKey: 'k', baseURL: `${url}/v1`, maxRetries: 0 });
  let text = '';
  const err = await caught(async () => {
    const s = await client.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'x' }],
      stream: true,
    });
    for await (const c of s) text += c.choices[0]?.delta.content ?? '';
  });
  t.equal(text, 'Hi', 'content before the error still arrives');
  t.type(err, OpenAI.APIError);
  t.match(err, { message: /SSNs may not leave the building/, code: 'no-ssn' });

  const err2 = await caught(async () => {
    const s = await client.responses.create({ model: 'm', input: 'x', stream: true });
    for await (const _e of s) {
      // drain
    }
  });
  t.type(err2, OpenAI.APIError);
  t.match(err2, { message: /SSNs may not leave the building/ });
});

t.test('anthropic SDK raises on the stream error event', async (t) => {
  const start =
    'event: message_start\ndata: {"type":"message_start","message":{"id":"m","type":"message","role":"assistant","model":"c","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}}\n\n';
  const url = await sseServer(t, start + anthropic.streamErrorEvent(blocked));
  const client = new Anthropic({ apiKey: 'k', baseURL: url, maxRetries: 0 });
  const err = await caught(async () => {
    const s = await client.messages.create({
      model: 'c',
      max_tokens: 5,
      messages: [{ role: 'user', content: 'x' }],
      stream: true,
    });
    for await (const _e of s) {
      // drain
    }
  });
  t.type(err, Anthropic.APIError);
  t.match(err, { message: /SSNs may not leave the building/ });
  t.equal(
    String(anthropic.streamErrorEvent(blocked)).startsWith('event: error\ndata: {"type":"error"'),
    true,
  );
});
