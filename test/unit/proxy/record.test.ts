/** recordStage / recordBeforeAnswer / settleStage: the audit row's last fields, once; limits settled. */
import t from 'tap';
import { AigovError } from '../../../src/errors.js';
import { recordBeforeAnswer, recordStage, settleStage } from '../../../src/proxy/record.js';
import { requestPolicyStage } from '../../../src/proxy/request-policy.js';
import { chatBody, decidedCall, deferred, FakeDeps, key, newCall, policy } from './fakes.js';

const SET = policy([{ id: 'per-key', limit: { requests: 100, per: '1h' } }]);

t.test('usage, cost, timing and content go into the row, handed over once', async (t) => {
  const deps = new FakeDeps();
  const { call } = decidedCall({ set: SET, body: chatBody('hi') });
  call.usage = { promptTokens: 1000, completionTokens: 500, totalTokens: 1500 };
  call.upstreamMs = 12.34567;
  const ok = await recordStage(call, deps);
  t.equal(ok, true);
  t.equal(deps.rows.length, 1);
  const row = deps.rows[0]!;
  t.equal(row, call.row);
  t.match(row, { promptTokens: 1000, completionTokens: 500, totalTokens: 1500 });
  t.equal(row.costUsd, 0.0075, '1000 x $2.5/M + 500 x $10/M');
  t.equal(row.upstreamMs, 12.346, 'rounded to the microsecond');
  t.ok(typeof row.latencyMs === 'number' && row.latencyMs >= 0);
  t.ok(typeof row.overheadMs === 'number' && row.overheadMs >= 0);
  t.equal(row.content, 'gpt-4o:allow', 'audit content from the normalised request and decision');
  t.same(deps.observed, [row], 'metrics observed the row');

  t.equal(await recordStage(call, deps), true, 'a second call is a no-op');
  t.equal(deps.rows.length, 1, 'exactly once');
  t.equal(deps.observed.length, 1);
  t.equal(deps.contentCalls.length, 1);
});

t.test('unknown usage or price: cost null; no upstream time: null; no norm: no content', async (t) => {
  const deps = new FakeDeps();
  const { call } = decidedCall({ set: SET, body: { ...chatBody('hi'), model: 'mystery-model' } });
  call.usage = { promptTokens: 10, completionTokens: 5, totalTokens: 15 };
  await recordStage(call, deps);
  t.equal(call.row.costUsd, null, 'no price for the model');
  t.equal(call.row.upstreamMs, null);

  const early = newCall({ set: SET, body: chatBody('hi') });
  await recordStage(early.call, deps);
  t.equal(early.call.row.content, null);
  t.equal(deps.contentCalls.length, 1, 'auditContent not asked without a normalised request');
  t.equal(early.call.row.promptTokens, null, 'unknown is not 0');
});

t.test('batched: enqueue result returned, recordBeforeAnswer does nothing', async (t) => {
  const deps = new FakeDeps();
  const { call } = decidedCall({ set: SET, body: chatBody('hi') });
  await recordBeforeAnswer(call, deps);
  t.equal(call.recorded, false, 'batched rows are written after the answer');
  t.equal(deps.rows.length, 0);
  deps.enqueueResult = false;
  t.equal(await recordStage(call, deps), false, 'the writer refusing is reported');
  t.equal(deps.durableRows.length, 0);
});

t.test('sync durability: the answer waits for the row; a lost row is audit_unavailable', async (t) => {
  const deps = new FakeDeps();
  deps.durability = 'sync';
  const disk = deferred<boolean>();
  deps.durable = disk.promise;
  const { call } = decidedCall({ set: SET, body: chatBody('hi') });
  let done = false;
  const waiting = recordBeforeAnswer(call, deps).then(() => (done = true));
  const row = await deps.durableCalled.promise;
  t.equal(row, call.row);
  t.equal(done, false, 'still waiting for the fsync');
  disk.resolve(true);
  await waiting;
  t.equal(done, true);
  t.equal(deps.rows.length, 0, 'enqueueDurable, not enqueue');
  t.equal(await recordStage(call, deps), true, 'already recorded');
  t.equal(deps.durableRows.length, 1);

  const lost = new FakeDeps();
  lost.durability = 'sync';
  lost.durable = Promise.resolve(false);
  const other = decidedCall({ set: SET, body: chatBody('hi') });
  await t.rejects(recordBeforeAnswer(other.call, lost), new AigovError('audit_unavailable'));
  t.equal(other.call.recorded, true, 'not retried by the final record');
});

t.test('settle: release when refused before upstream, reconcile otherwise', async (t) => {
  const deps = new FakeDeps();
  const run = async (setup: (c: ReturnType<typeof newCall>['call']) => void) => {
    const made = newCall({ set: SET, body: chatBody('hi'), key: key({ id: 'key_settle' }) });
    await requestPolicyStage(made.call, { ...deps, providers: made.providers }, null);
    setup(made.call);
    await recordStage(made.call, deps);
    await settleStage(made.call, deps);
    return made.call;
  };

  const refused = await run((c) => {
    c.row.statusCode = 403; // e.g. an output rule that never reached upstream, or audit refusal
  });
  t.same(deps.released, [refused.reservation], 'released: nothing was used');
  t.equal(deps.reconciled.length, 0);

  const served = await run((c) => {
    c.usage = { promptTokens: 10, completionTokens: 20, totalTokens: 30 };
    c.upstreamMs = 5;
  });
  t.equal(deps.reconciled.length, 1);
  t.same(deps.reconciled[0], {
    reservation: served.reservation,
    actual: { totalTokens: 30, costUsd: served.row.costUsd },
  });
  t.equal(served.row.costUsd, 0.000225, 'priced from usage');

  const failedUpstream = await run((c) => {
    c.row.statusCode = 502;
    c.upstreamMs = 3; // the provider was reached: its estimate stays counted as used
  });
  t.equal(deps.reconciled.length, 2);
  t.same(deps.reconciled[1], {
    reservation: failedUpstream.reservation,
    actual: { totalTokens: null, costUsd: null },
  });
  t.equal(deps.released.length, 1);

  const none = newCall({ set: SET, body: chatBody('hi') });
  await settleStage(none.call, deps);
  t.equal(deps.released.length + deps.reconciled.length, 3, 'no reservation, nothing to settle');
});
