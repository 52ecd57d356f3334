import t from 'tap';
import { applyRedactions, compilePolicies, evaluate } from '../../../src/policy/index.js';
import { EvalContext } from '../../../src/policy/context.js';
import { key, policy, req } from './helpers.js';

t.test('no rules: allow with an empty decision', async (t) => {
  const d = evaluate(policy([]), req(), key());
  t.same(d, {
    decision: 'allow',
    allowed: true,
    riskScore: 0,
    reasons: [],
    monitor: [],
    matchedPolicyIds: [],
    blockedBy: null,
    redactions: [],
  });
});

t.test('block wins over redact, score and allow; first blocking rule in file order', async (t) => {
  const set = policy([
    { id: 'allow-all', action: 'allow' },
    { id: 'mask', when: { detect: ['email'] }, action: 'redact' },
    { id: 'risk', action: 'score', risk: 0.1 },
    { id: 'b1', when: { detect: ['ssn'] }, action: 'block', message: 'ssn for {{team}}' },
    { id: 'b2', action: 'block' },
  ]);
  const d = evaluate(set, req('a@b.com 123-45-6789'), key());
  t.equal(d.decision, 'block');
  t.equal(d.allowed, false);
  t.equal(d.blockedBy, 'b1');
  t.same(d.matchedPolicyIds, ['allow-all', 'mask', 'risk', 'b1', 'b2']);
  t.same(
    d.reasons.map((r) => r.policy),
    ['allow-all', 'mask', 'risk', 'b1', 'b2'],
  );
  t.equal(d.reasons[3]?.message, 'ssn for eng');
  t.same(d.redactions, [], 'no redactions when blocked');
  t.equal(d.redactedPrompt, undefined);
});

t.test('scores that sum to the threshold exactly block (no float rounding below it)', async (t) => {
  const set = policy(
    [
      { id: 'a', action: 'score', risk: 0.1 },
      { id: 'b', action: 'score', risk: 0.7 },
    ],
    { block_threshold: 0.8 },
  );
  const d = evaluate(set, req('x'), key());
  t.equal(d.blockedBy, 'risk_threshold', '0.1 + 0.7 reaches 0.8');
  t.equal(d.riskScore, 0.8, 'reported as 0.8, not 0.7999999999999999');
  const three = policy(
    [
      { id: 'a', action: 'score', risk: 0.6 },
      { id: 'b', action: 'score', risk: 0.3 },
    ],
    { block_threshold: 0.95 },
  );
  const e = evaluate(three, req('x'), key());
  t.equal(e.riskScore, 0.9, '0.6 + 0.3 is 0.9');
  t.equal(e.blockedBy, null);
});

t.test('scores add up, cap at 1, block at the threshold', async (t) => {
  const set = policy(
    [
      { id: 's1', when: { prompt: { contains: 'one' } }, action: 'score', risk: 0.5 },
      { id: 's2', when: { prompt: { contains: 'two' } }, action: 'score', risk: 0.3 },
      { id: 's3', when: { prompt: { contains: 'three' } }, action: 'score', risk: 0.9 },
    ],
    { block_threshold: 0.8 },
  );
  const one = evaluate(set, req('one'), key());
  t.equal(one.decision, 'allow');
  t.equal(one.riskScore, 0.5);
  t.equal(one.blockedBy, null);
  const both = evaluate(set, req('one two'), key());
  t.equal(both.decision, 'block', '0.5 + 0.3 >= 0.8');
  t.equal(both.blockedBy, 'risk_threshold');
  t.ok(Math.abs(both.riskScore - 0.8) < 1e-9);
  const all = evaluate(set, req('one two three'), key());
  t.equal(all.riskScore, 1, 'capped');
  const lenient = policy([{ id: 's', action: 'score', risk: 0.9 }], { block_threshold: 1 });
  t.equal(evaluate(lenient, req(), key()).decision, 'allow');
  const zero = policy([{ id: 'x', when: { stream: true }, action: 'score', risk: 0.5 }], {
    block_threshold: 0,
  });
  t.equal(evaluate(zero, req(), key()).decision, 'allow', 'threshold 0 needs a score to match');
});

t.test('monitor rules are reported but never change the outcome', async (t) => {
  const set = policy([
    { id: 'm-block', action: 'block', mode: 'monitor' },
    { id: 'm-score', action: 'score', risk: 1, mode: 'monitor' },
    { id: 'm-redact', when: { detect: ['email'] }, action: 'redact', mode: 'monitor' },
  ]);
  const d = evaluate(set, req('a@b.com'), key());
  t.equal(d.decision, 'allow');
  t.equal(d.riskScore, 0);
  t.same(d.reasons, []);
  t.same(
    d.monitor.map((m) => [m.policy, m.mode]),
    [
      ['m-block', 'monitor'],
      ['m-score', 'monitor'],
      ['m-redact', 'monitor'],
    ],
  );
  t.same(d.matchedPolicyIds, ['m-block', 'm-score', 'm-redact']);
  t.same(d.redactions, []);
});

t.test('allow-list mode: defaults.decision block', async (t) => {
  const set = policy(
    [
      { id: 'approved', when: { model: ['gpt-4o*'] }, action: 'allow' },
      { id: 'no-ssn', when: { detect: ['ssn'] }, action: 'block' },
      { id: 'watch', when: { model: 'o3' }, action: 'allow', mode: 'monitor' },
    ],
    { decision: 'block' },
  );
  t.equal(evaluate(set, req('x', { model: 'gpt-4o' }), key()).decision, 'allow');
  const other = evaluate(set, req('x', { model: 'claude-3' }), key());
  t.equal(other.decision, 'block');
  t.equal(other.blockedBy, 'default_deny');
  t.equal(
    evaluate(set, req('x', { model: 'o3' }), key()).decision,
    'block',
    'a monitor allow does not allow',
  );
  const both = evaluate(set, req('123-45-6789', { model: 'gpt-4o' }), key());
  t.equal(both.decision, 'block', 'a block beats an allow');
  t.equal(both.blockedBy, 'no-ssn');
  t.equal(
    evaluate(set, req('x', { model: 'o3' }), key(), 'response').decision,
    'allow',
    'responses are not allow-listed',
  );
});

t.test('redact rewrites only detector spans, in every slot, at original offsets', async (t) => {
  const set = policy([{ id: 'mask', when: { detect: ['email', 'phone'] }, action: 'redact' }]);
  const texts = ['mail bob@x.io or call 555-123-4567', 'nothing here', 'ｍａｉｌ: c\u200bd@y.org!'];
  const r = req(texts);
  const d = evaluate(set, r, key());
  t.equal(d.decision, 'redact');
  t.equal(d.allowed, true);
  t.same(d.redactions, [
    { path: ['messages', 0, 'content'], text: 'mail [REDACTED:EMAIL] or call [REDACTED:PHONE]' },
    { path: ['messages', 2, 'content'], text: 'ｍａｉｌ: [REDACTED:EMAIL]!' },
  ]);
  t.equal(
    d.redactedPrompt,
    'mail [REDACTED:EMAIL] or call [REDACTED:PHONE]\nnothing here\nｍａｉｌ: [REDACTED:EMAIL]!',
  );
  const body = { model: 'gpt-4o', messages: texts.map((content) => ({ role: 'user', content })) };
  const out = applyRedactions(body, d.redactions) as typeof body;
  t.equal(out.messages[0]?.content, 'mail [REDACTED:EMAIL] or call [REDACTED:PHONE]');
  t.equal(out.messages[1], body.messages[1], 'unchanged parts are shared, not copied');
  t.equal(body.messages[0]?.content, texts[0], 'input body untouched');
});

t.test('redact: only the rule detectors, prompt.matches spans, redact_with, overlaps', async (t) => {
  const set = policy([
    { id: 'mask-email', when: { detect: ['email'], stream: false }, action: 'redact' },
    {
      id: 'mask-codes',
      when: { prompt: { matches: '(?i)project-[a-z]+' } },
      action: 'redact',
      redact_with: '***',
    },
  ]);
  const d = evaluate(set, req('Project-Apollo by a@b.com, call 555-123-4567'), key());
  t.equal(d.redactedPrompt, '*** by [REDACTED:EMAIL], call 555-123-4567', 'phone not listed: kept');
  const overlap = policy([
    { id: 'a', when: { detect: ['email'] }, action: 'redact' },
    { id: 'b', when: { prompt: { matches: 'x@y' } }, action: 'redact' },
  ]);
  t.equal(evaluate(overlap, req('to ax@yy.com now'), key()).redactedPrompt, 'to [REDACTED:EMAIL] now');
  const negated = policy([
    { id: 'n', when: { detect: ['email'], not: { detect: ['phone'] } }, action: 'redact' },
  ]);
  t.equal(evaluate(negated, req('a@b.com'), key()).redactedPrompt, '[REDACTED:EMAIL]');
});

t.test('redact without text paths still reports the redacted prompt', async (t) => {
  const set = policy([{ id: 'mask', when: { detect: ['email'] }, action: 'redact' }]);
  const r = req('x', { texts: [], prompt: 'a@b.com' });
  const d = evaluate(set, r, key());
  t.equal(d.decision, 'redact');
  t.same(d.redactions, []);
  t.equal(d.redactedPrompt, '[REDACTED:EMAIL]');
});

t.test('response phase uses only on: response rules', async (t) => {
  const set = policy([
    { id: 'req-block', when: { detect: ['api_secret'] }, action: 'block' },
    { id: 'resp-mask', on: 'response', when: { detect: ['api_secret'] }, action: 'redact' },
  ]);
  t.equal(set.rules.length, 1);
  t.equal(set.responseRules.length, 1);
  const r = req('token AKIAIOSFODNN7EXAMPLE');
  t.equal(evaluate(set, r, key()).blockedBy, 'req-block');
  const resp = evaluate(set, r, key(), 'response');
  t.equal(resp.decision, 'redact');
  t.same(resp.matchedPolicyIds, ['resp-mask']);
  t.equal(resp.redactedPrompt, 'token [REDACTED:API_SECRET]');
});

t.test('messages: placeholders and defaults', async (t) => {
  const set = policy([
    {
      id: 'm',
      action: 'block',
      message: '{{rule}}: {{model}} via {{provider}} {{route}} for {{team}}/{{owner}}/{{key_id}}',
    },
    { id: 'd', action: 'score', risk: 0.1 },
  ]);
  const d = evaluate(set, req('x', { model: null }), key({ team: null }));
  t.equal(
    d.reasons[0]?.message,
    'm: unknown via openai /v1/chat/completions for none/alice@example.com/key_1',
  );
  t.equal(d.reasons[1]?.message, 'Risk added by policy d');
});

t.test('detectors run lazily, only when a candidate rule needs them', async (t) => {
  const set = policy([
    { id: 'a', when: { model: 'nope', detect: ['email'] }, action: 'block' },
    { id: 'b', when: { any: [{ detect: ['email'] }, { detect: ['ssn'] }] }, action: 'score', risk: 0.1 },
  ]);
  const [a, b] = set.rules;
  const cheap = new EvalContext(req('a@b.com'), key());
  t.notOk(a!.matchesWhen(cheap));
  t.same(cheap.detectorsRun(), [], 'model checked first; the detector never ran');
  const ctx = new EvalContext(req('a@b.com'), key());
  t.ok(b!.matchesWhen(ctx));
  t.same(ctx.detectorsRun(), ['email'], 'ssn never ran: the any short-circuited on email');
  const scoped = policy([
    { id: 's', scope: { teams: ['finance'] }, when: { detect: ['email'] }, action: 'block' },
  ]);
  t.equal(
    evaluate(scoped, req('a@b.com'), key()).decision,
    'allow',
    'rule for another team: no detector needed',
  );
});

t.test('memoised findings are reused (same array instance)', async (t) => {
  const set = policy([{ id: 'b', when: { detect: ['email'] }, action: 'block' }]);
  const ctx = new EvalContext(req('a@b.com'), key());
  const { detectors } = await import('../../../src/policy/index.js');
  const first = ctx.findingsOf(detectors.email!);
  t.equal(ctx.findingsOf(detectors.email!), first);
  t.ok(set.rules[0]!.matchesWhen(ctx));
  t.equal(ctx.findingsOf(detectors.email!), first);
});

t.test('scope index: rules for other teams/keys/owners/providers are not even tested', async (t) => {
  const rules: unknown[] = [];
  for (let i = 0; i < 50; i++) rules.push({ id: `team-${i}`, scope: { teams: [`t${i}`] }, action: 'block' });
  rules.push({ id: 'mine', scope: { teams: ['eng'] }, action: 'score', risk: 0.1 });
  rules.push({ id: 'k', scope: { keys: ['key_1'] }, action: 'score', risk: 0.1 });
  rules.push({ id: 'o', scope: { owners: ['alice@example.com'] }, action: 'score', risk: 0.1 });
  rules.push({ id: 'p', scope: { providers: ['openai'] }, action: 'score', risk: 0.1 });
  rules.push({ id: 'p2', scope: { providers: ['anthropic'] }, action: 'block' });
  const set = policy(rules);
  t.equal(set.requestIndex.byTeam.size, 51);
  t.equal(set.requestIndex.always.length, 0);
  const d = evaluate(set, req(), key());
  t.same(d.matchedPolicyIds, ['mine', 'k', 'o', 'p'], 'file order restored across buckets');
  t.equal(d.decision, 'allow');
  t.equal(evaluate(set, req(), key({ team: 't7' })).blockedBy, 'team-7');
});

t.test('compilePolicies merges several documents in order', async (t) => {
  const set = compilePolicies([
    {
      file: 'a.yaml',
      doc: {
        version: 1,
        defaults: { block_threshold: 0.5 },
        rules: [{ id: 'x', action: 'score', risk: 0.3 }],
      },
    },
    { file: 'b.yaml', doc: { version: 1, rules: [{ id: 'y', action: 'score', risk: 0.3 }] } },
  ]);
  t.equal(set.defaults.block_threshold, 0.5);
  t.equal(set.defaults.decision, 'allow');
  t.equal(set.ruleCount, 2);
  t.same(set.sources, ['a.yaml', 'b.yaml']);
  t.match(set.version, /^[0-9a-f]{12}$/);
  t.equal(evaluate(set, req(), key()).blockedBy, 'risk_threshold');
});
