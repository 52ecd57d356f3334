/** relayBufferedStage: a whole answer read, usage taken, output rules applied, sent back. */
import t from 'tap';
import { AigovError } from '../../../src/errors.js';
import { relayBufferedStage } from '../../../src/proxy/relay-buffered.js';
import { chatBody, decidedCall, deferred, FakeDeps, policy, upstreamOf } from './fakes.js';

const NONE = policy([]);
const OUT = policy([
  { id: 'watch-iban', when: { detect: ['iban'] }, action: 'block', mode: 'monitor' },
  { id: 'out-ssn', on: 'response', when: { detect: ['ssn'] }, action: 'block', message: 'leaked SSN' },
  { id: 'out-email', on: 'response', when: { detect: ['email'] }, action: 'redact' },
]);

const JSON_HEADERS = {
  'content-type': 'application/json',
  'content-length': '999',
  'x-ratelimit-remaining-requests': '41',
  date: 'yesterday',
};

function completion(content: string, usage = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 }) {
  return JSON.stringify({
    id: 'chatcmpl-1',
    object: 'chat.completion',
    model: 'gpt-4o',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage,
  });
}

async function refusal(p: Promise<unknown>): Promise<AigovError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof AigovError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

t.test('nothing to change: the provider’s bytes, usage, headers', async (t) => {
  const deps = new FakeDeps();
  const { call, reply } = decidedCall({ set: NONE, body: chatBody('hi') });
  const text = completion('Paris.');
  // Split in two chunks: the stage must read the whole body.
  await relayBufferedStage(
    call,
    deps,
    upstreamOf(call.provider, 200, JSON_HEADERS, [text.slice(0, 20), text.slice(20)]),
  );
  t.equal(reply.sent, true);
  t.ok(Buffer.isBuffer(reply.payload), 'bytes, not a re-serialised object');
  t.equal(String(reply.payload), text);
  t.equal(reply.statusCode, 200);
  t.same(call.usage, { promptTokens: 10, completionTokens: 5, totalTokens: 15 });
  t.equal(call.row.statusCode, 200);
  t.equal(call.row.error, null);
  t.ok(call.upstreamMs > 0);
  t.match(reply.stored, {
    'content-type': 'application/json',
    'x-ratelimit-remaining-requests': '41',
    'x-aigov-decision': 'allow',
    'x-aigov-policies': '',
  });
  t.match(reply.stored['x-aigov-overhead-ms'], /^\d+\.\d{3}$/);
  t.notOk('content-length' in reply.stored, 'framing headers are the proxy’s own');
  t.notOk('date' in reply.stored);
  t.equal(deps.rows.length, 0, 'batched: the row is written after the answer');
});

t.test('anthropic usage from its own body shape', async (t) => {
  const deps = new FakeDeps();
  const { call, reply } = decidedCall({
    set: NONE,
    route: '/v1/messages',
    body: { model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] },
  });
  const body = JSON.stringify({
    id: 'msg_1',
    type: 'message',
    role: 'assistant',
    content: [{ type: 'text', text: 'Hello' }],
    usage: { input_tokens: 12, output_tokens: 3 },
  });
  await relayBufferedStage(call, deps, upstreamOf(call.provider, 200, JSON_HEADERS, [body]));
  t.same(call.usage, { promptTokens: 12, completionTokens: 3, totalTokens: 15 });
  t.equal(String(reply.payload), body);
});

t.test('an output redact rule rewrites the answer and the governance headers say so', async (t) => {
  const deps = new FakeDeps();
  const { call, reply } = decidedCall({ set: OUT, body: chatBody('pay DE89 3704 0044 0532 0130 00') });
  await relayBufferedStage(
    call,
    deps,
    upstreamOf(call.provider, 200, JSON_HEADERS, [completion('write to bob@example.com')]),
  );
  t.type(reply.payload, 'string');
  t.match(JSON.parse(String(reply.payload)), {
    choices: [{ message: { content: 'write to [REDACTED:EMAIL]' } }],
    usage: { total_tokens: 15 },
  });
  t.equal(call.row.decision, 'redact');
  t.same(call.row.policyIds, ['watch-iban', 'out-email']);
  t.equal(reply.stored['x-aigov-decision'], 'redact');
  t.equal(reply.stored['x-aigov-policies'], 'watch-iban,out-email');
  t.same(call.usage, { promptTokens: 10, completionTokens: 5, totalTokens: 15 }, 'usage still read');
});

t.test('an output block rule throws its refusal; nothing is sent', async (t) => {
  const deps = new FakeDeps();
  const { call, reply } = decidedCall({ set: OUT, body: chatBody('hi') });
  const err = await refusal(
    relayBufferedStage(
      call,
      deps,
      upstreamOf(call.provider, 200, JSON_HEADERS, [completion('SSN 123-45-6789')]),
    ),
  );
  t.equal(err.code, 'policy_blocked');
  t.equal(err.providerCode, 'out-ssn');
  t.equal(err.message, 'leaked SSN');
  t.equal(reply.sent, false);
  t.equal(call.row.decision, 'block');
  t.same(call.row.policyIds, ['out-ssn']);
  t.same(call.usage, { promptTokens: 10, completionTokens: 5, totalTokens: 15 }, 'the tokens were paid for');
});

t.test('a provider error answer passes back as it is, recorded as upstream_<status>', async (t) => {
  const deps = new FakeDeps();
  const { call, reply } = decidedCall({ set: OUT, body: chatBody('hi') });
  const body = JSON.stringify({ error: { message: 'slow down bob@example.com', type: 'rate_limit_error' } });
  await relayBufferedStage(call, deps, upstreamOf(call.provider, 429, JSON_HEADERS, [body]));
  t.equal(reply.statusCode, 429);
  t.equal(String(reply.payload), body, 'not inspected, not rewritten');
  t.equal(call.row.statusCode, 429);
  t.equal(call.row.error, 'upstream_429');
  t.equal(call.usage.totalTokens, null);
});

t.test('a body that is not JSON goes back untouched, usage unknown', async (t) => {
  const deps = new FakeDeps();
  const { call, reply } = decidedCall({ set: OUT, body: chatBody('hi') });
  await relayBufferedStage(
    call,
    deps,
    upstreamOf(call.provider, 200, { 'content-type': 'text/plain' }, ['SSN 123-45-6789']),
  );
  t.equal(String(reply.payload), 'SSN 123-45-6789');
  t.equal(call.usage.totalTokens, null);
  const broken = decidedCall({ set: OUT, body: chatBody('hi') });
  await relayBufferedStage(
    broken.call,
    deps,
    upstreamOf(broken.call.provider, 200, JSON_HEADERS, ['{"trunc']),
  );
  t.equal(String(broken.reply.payload), '{"trunc', 'invalid JSON is passed back, not refused');
});

t.test('the body failing mid-read is an upstream error naming the provider', async (t) => {
  const deps = new FakeDeps();
  const fail = (code: string) =>
    (async function* () {
      yield '{"id":';
      throw Object.assign(new Error('socket trouble'), { code });
    })();
  const reset = decidedCall({ set: NONE, body: chatBody('hi') });
  const e1 = await refusal(
    relayBufferedStage(
      reset.call,
      deps,
      upstreamOf(reset.call.provider, 200, JSON_HEADERS, fail('ECONNRESET')),
    ),
  );
  t.equal(e1.code, 'upstream_error');
  t.equal(e1.message, 'Provider openai failed: ECONNRESET');
  const slow = decidedCall({ set: NONE, body: chatBody('hi') });
  const e2 = await refusal(
    relayBufferedStage(
      slow.call,
      deps,
      upstreamOf(slow.call.provider, 200, JSON_HEADERS, fail('UND_ERR_BODY_TIMEOUT')),
    ),
  );
  t.equal(e2.code, 'upstream_timeout');
  t.equal(e2.message, 'Provider openai timed out waiting for the next chunk');
  t.equal(reset.reply.sent || slow.reply.sent, false);
});

t.test('sync durability: the answer waits for the row; a lost row refuses the answer', async (t) => {
  const deps = new FakeDeps();
  deps.durability = 'sync';
  const disk = deferred<boolean>();
  deps.durable = disk.promise;
  const { call, reply } = decidedCall({ set: NONE, body: chatBody('hi') });
  const relaying = relayBufferedStage(
    call,
    deps,
    upstreamOf(call.provider, 200, JSON_HEADERS, [completion('ok')]),
  );
  const row = await deps.durableCalled.promise;
  t.equal(row.totalTokens, 15, 'the row is complete before it is written');
  t.equal(reply.sent, false, 'not answered before the row is durable');
  disk.resolve(true);
  await relaying;
  t.equal(reply.sent, true);

  const lost = new FakeDeps();
  lost.durability = 'sync';
  lost.durable = Promise.resolve(false);
  const other = decidedCall({ set: NONE, body: chatBody('hi') });
  const err = await refusal(
    relayBufferedStage(
      other.call,
      lost,
      upstreamOf(other.call.provider, 200, JSON_HEADERS, [completion('ok')]),
    ),
  );
  t.equal(err.code, 'audit_unavailable');
  t.equal(other.reply.sent, false);
});
