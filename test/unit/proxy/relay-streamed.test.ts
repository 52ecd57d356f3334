/** relayStreamedStage: events relayed as they come, output rules end the stream, the row tells how it ended. */
import { once } from 'node:events';
import t from 'tap';
import { CallAbort } from '../../../src/proxy/call-abort.js';
import { relayStreamedStage } from '../../../src/proxy/relay-streamed.js';
import {
  anthropicStream,
  chatBody,
  decidedCall,
  deferred,
  openAIStream,
  policy,
  upstreamOf,
} from './fakes.js';

const NONE = policy([]);
const OUT = policy([
  { id: 'out-ssn', on: 'response', when: { detect: ['ssn'] }, action: 'block', message: 'leaked SSN' },
  { id: 'out-email', on: 'response', when: { detect: ['email'] }, action: 'redact' },
]);
const SSE = { 'content-type': 'text/event-stream', 'x-upstream-id': 'up-1', 'content-length': '5' };
const claudeBody = {
  model: 'claude-sonnet-4-5',
  max_tokens: 50,
  stream: true,
  messages: [{ role: 'user', content: 'hi' }],
};

t.test('pass-through: the upstream bytes untouched, headers at once, usage and row filled', async (t) => {
  const { call, reply } = decidedCall({ set: NONE, body: chatBody('hi', { stream: true }) });
  reply.header('x-ratelimit-remaining-requests', '9'); // set by the request policy stage
  const chunks = openAIStream(['Hel', 'lo'], { prompt: 10, completion: 5 });
  const abort = new CallAbort();
  await relayStreamedStage(call, upstreamOf(call.provider, 200, SSE, chunks), true, abort);
  t.equal(reply.hijacked, true);
  t.equal(reply.raw.statusCode, 200);
  t.equal(reply.raw.flushed, true);
  t.match(reply.raw.headersWritten, {
    'content-type': 'text/event-stream',
    'x-upstream-id': 'up-1',
    'x-aigov-decision': 'allow',
    'x-aigov-policies': '',
    'x-ratelimit-remaining-requests': '9',
    'cache-control': 'no-cache',
  });
  t.notOk(reply.raw.headersWritten && 'content-length' in reply.raw.headersWritten);
  t.equal(reply.raw.text(), chunks.join(''), 'byte for byte');
  t.equal(reply.raw.writableEnded, true);
  t.same(call.usage, { promptTokens: 10, completionTokens: 5, totalTokens: 15 });
  t.match(call.row, { statusCode: 200, aborted: false, error: null });
  t.equal(abort.aborted, false);
});

t.test('the usage chunk the proxy asked for is not shown to a client that did not', async (t) => {
  const { call, reply } = decidedCall({ set: NONE, body: chatBody('hi', { stream: true }) });
  const chunks = openAIStream(['Hel', 'lo'], { prompt: 10, completion: 5 });
  await relayStreamedStage(call, upstreamOf(call.provider, 200, SSE, chunks), false, new CallAbort());
  const out = reply.raw.text();
  t.notMatch(out, /"usage"/);
  t.match(out, /"content":"Hel"/);
  t.ok(out.endsWith('data: [DONE]\n\n'));
  t.same(call.usage, { promptTokens: 10, completionTokens: 5, totalTokens: 15 }, 'counted all the same');
});

t.test('anthropic: events relayed, usage from message_start and message_delta', async (t) => {
  const { call, reply } = decidedCall({ set: NONE, route: '/v1/messages', body: claudeBody });
  const chunks = anthropicStream(['Hi ', 'there'], { input: 12, output: 7 });
  await relayStreamedStage(call, upstreamOf(call.provider, 200, SSE, chunks), true, new CallAbort());
  t.equal(reply.raw.text(), chunks.join(''));
  t.same(call.usage, { promptTokens: 12, completionTokens: 7, totalTokens: 19 });
});

t.test('an output rule ends an openai stream with its error event before the offending text', async (t) => {
  const { call, reply } = decidedCall({ set: OUT, body: chatBody('hi', { stream: true }) });
  const abort = new CallAbort();
  const chunks = openAIStream(['Your SSN ', 'is 123-45', '-6789 ok', ' more'], { prompt: 3, completion: 4 });
  await relayStreamedStage(call, upstreamOf(call.provider, 200, SSE, chunks), true, abort);
  const out = reply.raw.text();
  t.match(out, /"content":"is 123-45"/, 'text before the match went out');
  t.notMatch(out, /6789/, 'the event completing the SSN never left');
  t.notMatch(out, /\[DONE\]/);
  t.ok(
    out.endsWith(
      `data: ${JSON.stringify({ error: { message: 'leaked SSN', type: 'permission_error', code: 'out-ssn', param: null } })}\n\n`,
    ),
    `ends with the OpenAI error event: ${out.slice(-160)}`,
  );
  t.equal(abort.aborted, true, 'the upstream call is cancelled');
  t.match(call.row, { statusCode: 403, decision: 'block', error: 'policy_blocked:out-ssn', aborted: false });
  t.same(call.row.policyIds, ['out-ssn']);
  t.equal(reply.raw.statusCode, 200, 'the status line had already gone');
});

t.test('an output redact rule ends an anthropic stream with the anthropic error event', async (t) => {
  const { call, reply } = decidedCall({ set: OUT, route: '/v1/messages', body: claudeBody });
  const chunks = anthropicStream(['write to ', 'eve@example.com', ' today']);
  await relayStreamedStage(call, upstreamOf(call.provider, 200, SSE, chunks), true, new CallAbort());
  const out = reply.raw.text();
  t.notMatch(out, /eve@example/);
  t.ok(
    out.endsWith(
      `event: error\ndata: ${JSON.stringify({
        type: 'error',
        error: { type: 'permission_error', message: 'Sensitive content redacted by policy out-email' },
      })}\n\n`,
    ),
    out.slice(-200),
  );
  t.match(call.row, { statusCode: 403, decision: 'block', error: 'policy_blocked:out-email' });
});

t.test('the upstream failing mid-stream: an error event, the row records the failure', async (t) => {
  const fail = (code: string) =>
    (async function* () {
      yield openAIStream(['partial'])[0]!;
      throw Object.assign(new Error('boom'), { code });
    })();
  const reset = decidedCall({ set: NONE, body: chatBody('hi', { stream: true }) });
  await relayStreamedStage(
    reset.call,
    upstreamOf(reset.call.provider, 200, SSE, fail('ECONNRESET')),
    true,
    new CallAbort(),
  );
  t.match(reset.reply.raw.text(), /"content":"partial"/);
  t.ok(
    reset.reply.raw
      .text()
      .endsWith(
        `data: ${JSON.stringify({ error: { message: 'Provider openai failed: ECONNRESET', type: 'api_error', code: 'upstream_error', param: null } })}\n\n`,
      ),
    reset.reply.raw.text().slice(-160),
  );
  t.match(reset.call.row, {
    statusCode: 502,
    decision: 'error',
    error: 'Provider openai failed: ECONNRESET',
    aborted: false,
  });

  const slow = decidedCall({ set: NONE, body: chatBody('hi', { stream: true }) });
  await relayStreamedStage(
    slow.call,
    upstreamOf(slow.call.provider, 200, SSE, fail('UND_ERR_BODY_TIMEOUT')),
    true,
    new CallAbort(),
  );
  t.match(slow.call.row, {
    statusCode: 504,
    decision: 'error',
    error: 'Provider openai timed out waiting for the next chunk',
  });
});

t.test('the client leaving mid-stream cancels upstream; the row says client_aborted', async (t) => {
  const { call, reply } = decidedCall({ set: NONE, body: chatBody('hi', { stream: true }) });
  const gate = deferred<void>();
  const chunks = openAIStream(['one', 'two', 'three']);
  const body = (async function* () {
    yield chunks[0]!;
    await gate.promise;
    for (const c of chunks.slice(1)) yield c;
  })();
  const abort = new CallAbort();
  const relaying = relayStreamedStage(call, upstreamOf(call.provider, 200, SSE, body), true, abort);
  await once(reply.raw, 'written');
  reply.raw.destroy();
  await once(reply.raw, 'close');
  t.equal(abort.aborted, true, 'upstream cancelled as soon as the client left');
  gate.resolve();
  await relaying;
  t.match(call.row, { aborted: true, error: 'client_aborted', statusCode: 200 });
  t.notMatch(reply.raw.text(), /two/);
});
