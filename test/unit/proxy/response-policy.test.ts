/** inspectResponse / streamInspector: output-side rules on whole answers and on stream windows. */
import t from 'tap';
import { AigovError } from '../../../src/errors.js';
import { inspectResponse, STREAM_WINDOW_CHARS, streamInspector } from '../../../src/proxy/response-policy.js';
import { chatBody, decidedCall, policy } from './fakes.js';

const OUT = [
  { id: 'no-email-in', when: { detect: ['email'] }, action: 'redact' },
  { id: 'out-ssn', on: 'response', when: { detect: ['ssn'] }, action: 'block', message: 'leaked SSN' },
  { id: 'out-email', on: 'response', when: { detect: ['email'] }, action: 'redact' },
  { id: 'out-iban', on: 'response', when: { detect: ['iban'] }, action: 'block', mode: 'monitor' },
];
const SET = policy(OUT);
const NO_OUTPUT_RULES = policy(OUT.slice(0, 1));

const completion = (content: string): Record<string, unknown> => ({
  id: 'chatcmpl-1',
  object: 'chat.completion',
  model: 'gpt-4o',
  choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
});

t.test('inspectResponse: nothing to do without output rules or texts', async (t) => {
  const plain = decidedCall({ set: NO_OUTPUT_RULES, body: chatBody('hi') });
  const json = completion('SSN 123-45-6789');
  const r = inspectResponse(plain.call, json);
  t.equal(r.body, json);
  t.equal(r.changed, false);
  const emb = decidedCall({
    set: SET,
    route: '/v1/embeddings',
    body: { model: 'text-embedding-3-small', input: 'x' },
  });
  const vectors = { object: 'list', data: [{ object: 'embedding', index: 0, embedding: [0.1] }] };
  t.same(inspectResponse(emb.call, vectors), { body: vectors, changed: false }, 'no text in embeddings');
  t.same(emb.call.row.policyIds, []);
});

t.test('inspectResponse: redact rewrites the text and notes the rule', async (t) => {
  const { call } = decidedCall({ set: SET, body: chatBody('mail me at a@example.com') });
  t.same(call.row.policyIds, ['no-email-in'], 'request side first');
  call.row.reasons = [{ policy: 'no-email-in' }];
  const r = inspectResponse(call, completion('write to bob@example.com'));
  t.equal(r.changed, true);
  t.match(r.body, { choices: [{ message: { content: 'write to [REDACTED:EMAIL]' } }] });
  t.equal(call.row.decision, 'redact');
  t.same(call.row.policyIds, ['no-email-in', 'out-email']);
  t.match(call.row.reasons, [{ policy: 'no-email-in' }, { policy: 'out-email', action: 'redact' }]);
});

t.test('inspectResponse: block throws the refusal and marks the row', async (t) => {
  const { call } = decidedCall({ set: SET, body: chatBody('hi') });
  t.throws(
    () => inspectResponse(call, completion('his SSN is 123-45-6789')),
    new AigovError('policy_blocked', { providerCode: 'out-ssn', message: 'leaked SSN' }),
  );
  t.equal(call.row.decision, 'block');
  t.same(call.row.policyIds, ['out-ssn']);
});

t.test('inspectResponse: a monitor output rule is noted, nothing changes', async (t) => {
  const { call } = decidedCall({ set: SET, body: chatBody('hi') });
  const r = inspectResponse(call, completion('pay DE89 3704 0044 0532 0130 00'));
  t.equal(r.changed, false);
  t.equal(call.row.decision, 'allow');
  t.same(call.row.policyIds, ['out-iban']);
  t.match(call.row.reasons, [{ policy: 'out-iban', mode: 'monitor' }]);
});

t.test('streamInspector: null without output rules', async (t) => {
  const { call } = decidedCall({ set: NO_OUTPUT_RULES, body: chatBody('hi', { stream: true }) });
  t.equal(streamInspector(call), null);
});

t.test('streamInspector: clean text passes, the row untouched', async (t) => {
  const { call } = decidedCall({ set: SET, body: chatBody('hi', { stream: true }) });
  const inspect = streamInspector(call)!;
  t.equal(inspect('Hello there'), null);
  t.same(call.row.policyIds, []);
  t.equal(call.row.decision, 'allow');
});

t.test('streamInspector: a redact rule ends a stream (sent text cannot be unsent)', async (t) => {
  const { call } = decidedCall({ set: SET, body: chatBody('hi', { stream: true }) });
  const err = streamInspector(call)!('reach me at eve@example.com');
  t.ok(err);
  t.equal(err?.code, 'policy_blocked');
  t.equal(err?.providerCode, 'out-email');
  t.equal(err?.message, 'Sensitive content redacted by policy out-email');
  t.equal(call.row.decision, 'block');
  t.same(call.row.policyIds, ['out-email']);
});

t.test('streamInspector: only the last STREAM_WINDOW_CHARS are judged', async (t) => {
  const { call } = decidedCall({ set: SET, body: chatBody('hi', { stream: true }) });
  const inspect = streamInspector(call)!;
  const ssn = 'SSN 123-45-6789 ';
  const pad = 'x'.repeat(STREAM_WINDOW_CHARS);
  t.equal(inspect(ssn + pad), null, 'an SSN that left the window is not seen');
  t.same(call.row.policyIds, []);
  const inside = 'y'.repeat(STREAM_WINDOW_CHARS - ssn.length) + ssn;
  t.equal(inside.length, STREAM_WINDOW_CHARS);
  t.equal(inspect(pad + inside)?.providerCode, 'out-ssn', 'the window ends at the newest text');
});
