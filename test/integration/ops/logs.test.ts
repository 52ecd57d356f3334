import t from 'tap';
import { Writable } from 'node:stream';
import { createLogger, scrubSecrets } from '../../../src/logger.js';
import { OPENAI_PROVIDER_KEY, ANTHROPIC_PROVIDER_KEY, startProxy } from '../../support/proxy.js';

const PROMPT_SECRET = 'sk-proj-PromptLeak0123456789abcdefghijkl';
const POLICIES = `version: 1
rules:
  - id: no-ssn
    when: { detect: [ssn] }
    action: block
`;

t.test('no credential or secret reaches the logs, at trace level, on every outcome', async (t) => {
  const h = await startProxy({ policies: POLICIES });
  t.teardown(() => h.close());
  // Fastify logs through a child of services.logger made at start-up: set the level there.
  h.app.log.level = 'trace';
  // The real key with its last character changed: the shape of a key, still a secret.
  const nearKey = h.key.slice(0, -1) + (h.key.endsWith('A') ? 'B' : 'A');
  const chat = (headers: Record<string, string>, content: string) =>
    fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content }] }),
    });

  const allowed = await chat({ authorization: `Bearer ${h.key}` }, `keep this: ${PROMPT_SECRET}`);
  t.equal(allowed.status, 200, 'allowed');
  await allowed.text();
  const viaXApiKey = await chat({ 'x-api-key': h.key }, `again ${PROMPT_SECRET}`);
  t.equal(viaXApiKey.status, 200, 'allowed via x-api-key');
  await viaXApiKey.text();
  const blocked = await chat({ 'api-key': h.key }, `ssn 123-45-6789 and ${PROMPT_SECRET}`);
  t.equal(blocked.status, 403, 'blocked by policy');
  await blocked.text();
  const stream = await fetch(`${h.url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': h.key, 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({
      model: 'claude-3-5-haiku',
      max_tokens: 50,
      stream: true,
      messages: [{ role: 'user', content: PROMPT_SECRET }],
    }),
  });
  t.equal(stream.status, 200, 'streamed');
  await stream.text();
  h.mock.setBehavior({ fail: { status: 500 } });
  const failed = await chat({ authorization: `Bearer ${h.key}` }, PROMPT_SECRET);
  t.equal(failed.status, 502, 'upstream 500');
  await failed.text();
  h.mock.resetBehavior();
  const badKey = await chat({ authorization: `Bearer ${nearKey}` }, PROMPT_SECRET);
  t.equal(badKey.status, 401, 'bad key');
  await badKey.text();
  const badJson = await fetch(`${h.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${h.key}` },
    body: `{"model":"gpt-4o","messages":[{"content":"${PROMPT_SECRET}"`,
  });
  t.equal(badJson.status, 400, 'malformed JSON');
  await badJson.text();
  const check = await fetch(`${h.url}/v1/check?key=${encodeURIComponent(nearKey)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${h.key}` },
    body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: PROMPT_SECRET }] }),
  });
  t.equal(check.status, 200, '/v1/check with a key in the query string');
  await check.text();
  await h.services.audit.drain(10_000);

  const text = h.logs.text();
  t.ok(h.logs.lines.length >= 16, `trace and debug lines were written (${h.logs.lines.length})`);
  for (const [name, secret] of [
    ['aigov key', h.key],
    ['near-miss aigov key', nearKey],
    ['OpenAI provider key', OPENAI_PROVIDER_KEY],
    ['Anthropic provider key', ANTHROPIC_PROVIDER_KEY],
    ['secret in the prompt', PROMPT_SECRET],
    ['secret part of the aigov key', h.key.slice(-20)],
  ] as const)
    t.notOk(text.includes(secret), `${name} never logged`);

  const lines = h.logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  const seen = lines.filter((l) => l.msg === 'request');
  t.ok(seen.length >= 8, 'every request logged at trace');
  t.ok(
    seen.some((l) => (l.headers as Record<string, string>)['authorization'] === '[REDACTED]'),
    'authorization censored',
  );
  t.ok(
    seen.some((l) => (l.headers as Record<string, string>)['x-api-key'] === '[REDACTED]'),
    'x-api-key censored',
  );
  t.ok(
    seen.some((l) => (l.headers as Record<string, string>)['api-key'] === '[REDACTED]'),
    'api-key censored',
  );
  t.ok(
    seen.some((l) => String(l.url).includes('key=[REDACTED]')),
    'credential query parameter censored',
  );
  const done = lines.filter((l) => l.msg === 'request completed');
  t.ok(
    done.every((l) => typeof l.reqId === 'string' && l.reqId.length > 0),
    'JSON lines carry the request id',
  );
  t.ok(
    done.some((l) => l.reqId === allowed.headers.get('x-request-id') && l.statusCode === 200),
    'the request id is the one the client saw',
  );
});

t.test('scrubSecrets and the redact paths', async (t) => {
  const out: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out.push(chunk.toString('utf8'));
      cb();
    },
  });
  const log = createLogger('info', sink);
  log.info(
    {
      req: { headers: { authorization: 'Bearer abc', cookie: 'sid=1' } },
      upstream: { headers: { 'x-api-key': 'k1', 'api-key': 'k2', 'proxy-authorization': 'Basic x' } },
      apiKey: 'plain',
      nested: { token: 't0k3n' },
    },
    'headers',
  );
  log.error({ err: new Error(`provider said: bad key ${OPENAI_PROVIDER_KEY}`) }, 'failed');
  log.warn(`body was {"content":"line\\n${PROMPT_SECRET}"}`);
  const all = out.join('');
  for (const leaked of [
    'abc',
    'sid=1',
    'k1',
    'k2',
    'Basic x',
    'plain',
    't0k3n',
    OPENAI_PROVIDER_KEY,
    PROMPT_SECRET,
  ])
    t.notOk(all.includes(leaked), `${leaked} censored`);
  for (const line of out) t.doesNotThrow(() => JSON.parse(line), 'still valid JSON');

  t.equal(scrubSecrets('{"a":"AKIAABCDEFGHIJKLMNOP"}'), '{"a":"[REDACTED]"}');
  t.equal(
    scrubSecrets('{"u":"/x?token=abc&ok=1","h":"Bearer abcdefgh12"}'),
    '{"u":"/x?token=[REDACTED]&ok=1","h":"Bearer [REDACTED]"}',
  );
  t.equal(
    scrubSecrets('{"m":"task-abcdefghijklmnopqrstuvwxyz"}'),
    '{"m":"task-abcdefghijklmnopqrstuvwxyz"}',
    'words ending in sk- are not secrets',
  );
  t.equal(scrubSecrets('{"m":"no secrets here"}'), '{"m":"no secrets here"}');
});
