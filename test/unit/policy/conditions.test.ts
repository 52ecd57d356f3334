import t from 'tap';
import { evaluate } from '../../../src/policy/index.js';
import { key, policy, req } from './helpers.js';
import type { KeyIdentity } from '../../../src/auth/identity.js';
import type { NormalizedRequest } from '../../../src/providers/types.js';

/** Does a single block rule with this `when` match the request? */
function matches(when: unknown, r: NormalizedRequest = req(), k: KeyIdentity = key()): boolean {
  const set = policy([{ id: 'r', when, action: 'block' }]);
  return evaluate(set, r, k).decision === 'block';
}

t.test('model: glob string, list, in, not_in', async (t) => {
  t.ok(matches({ model: 'gpt-4o*' }, req('x', { model: 'gpt-4o-mini' })));
  t.notOk(matches({ model: 'gpt-4o*' }, req('x', { model: 'gpt-4.1' })));
  t.ok(matches({ model: ['o3*', 'claude-*'] }, req('x', { model: 'claude-3-5-haiku' })));
  t.ok(matches({ model: { in: ['gpt-4o'] } }, req('x', { model: 'gpt-4o' })));
  t.notOk(
    matches({ model: { in: ['gpt-4o'] } }, req('x', { model: 'gpt-4o-mini' })),
    'exact entries are exact',
  );
  t.ok(matches({ model: { not_in: ['gpt-4o*'] } }, req('x', { model: 'gpt-3.5-turbo' })));
  t.notOk(matches({ model: { not_in: ['gpt-4o*'] } }, req('x', { model: 'gpt-4o' })));
  t.ok(matches({ model: { not_in: ['gpt-4o*'] } }, req('x', { model: null })), 'no model is not in any list');
  t.notOk(matches({ model: { in: ['*'] } }, req('x', { model: null })));
  t.ok(matches({ model: 'meta-*' }, req('x', { model: 'meta-llama/Llama-3-70b' })), '* crosses slashes');
  t.ok(matches({ model: { in: ['gpt-*'], not_in: ['gpt-3*'] } }, req('x', { model: 'gpt-4o' })));
  t.notOk(matches({ model: { in: ['gpt-*'], not_in: ['gpt-3*'] } }, req('x', { model: 'gpt-3.5' })));
});

t.test('provider and route', async (t) => {
  t.ok(matches({ provider: 'anthropic' }, req('x', { provider: 'anthropic' })));
  t.notOk(matches({ provider: 'anthropic' }, req('x')));
  t.ok(matches({ provider: { not_in: ['openai'] } }, req('x', { provider: 'groq' })));
  t.ok(matches({ route: '/v1/embeddings' }, req('x', { route: '/v1/embeddings' })));
  t.ok(matches({ route: { in: ['/v1/*'] } }, req('x')));
  t.notOk(matches({ route: { not_in: ['/v1/chat/completions'] } }, req('x')));
});

t.test('max_tokens comparisons and missing', async (t) => {
  const mt = (n: number | null): NormalizedRequest => req('x', { maxTokens: n });
  t.ok(matches({ max_tokens: { gt: 100 } }, mt(101)));
  t.notOk(matches({ max_tokens: { gt: 100 } }, mt(100)));
  t.ok(matches({ max_tokens: { gte: 100 } }, mt(100)));
  t.ok(matches({ max_tokens: { lt: 10 } }, mt(9)));
  t.notOk(matches({ max_tokens: { lte: 10 } }, mt(11)));
  t.ok(matches({ max_tokens: { gte: 10, lte: 20 } }, mt(15)));
  t.notOk(matches({ max_tokens: { gte: 10, lte: 20 } }, mt(25)));
  t.notOk(matches({ max_tokens: { gt: 100 } }, mt(null)), 'absent never passes a comparison');
  t.ok(matches({ max_tokens: { missing: true } }, mt(null)));
  t.notOk(matches({ max_tokens: { missing: true } }, mt(5)));
  t.ok(matches({ max_tokens: { missing: false } }, mt(5)));
  t.notOk(matches({ max_tokens: { missing: false } }, mt(null)));
  t.ok(matches({ max_tokens: { gt: 4096, missing: true } }, mt(null)), 'too big or unset');
  t.ok(matches({ max_tokens: { gt: 4096, missing: true } }, mt(5000)));
  t.notOk(matches({ max_tokens: { gt: 4096, missing: true } }, mt(10)));
});

t.test('prompt contains / matches / length', async (t) => {
  t.ok(matches({ prompt: { contains: 'Wire Transfer' } }, req('please do a WIRE TRANSFER')));
  t.ok(matches({ prompt: { contains: ['nope', 'secret'] } }, req('top secret')), 'any of the strings');
  t.notOk(matches({ prompt: { contains: ['nope'] } }, req('top secret')));
  t.ok(
    matches({ prompt: { contains: 'secret' } }, req('top s\u200bеcret')),
    'normalised: zero-width and homoglyph',
  );
  t.ok(matches({ prompt: { matches: '(?i)wire\\s+transfer' } }, req('Wire  Transfer')));
  t.notOk(
    matches({ prompt: { matches: 'wire transfer' } }, req('Wire Transfer')),
    'case-sensitive without (?i)',
  );
  t.ok(
    matches({ prompt: { matches: '^acct-\\d+$' } }, req(['hello', 'acct-42'])),
    'each text part separately',
  );
  t.ok(matches({ prompt: { length: { gt: 5 } } }, req('123456')));
  t.notOk(matches({ prompt: { length: { gt: 5 } } }, req('12345')));
  t.ok(matches({ prompt: { length: { gte: 11 } } }, req(['hello', 'world'])), 'length of the joined prompt');
  t.notOk(
    matches({ prompt: { contains: 'secret', length: { lt: 5 } } }, req('top secret')),
    'all parts must hold',
  );
});

t.test('detect', async (t) => {
  t.ok(matches({ detect: ['email'] }, req('mail a@b.com')));
  t.notOk(matches({ detect: ['email'] }, req('no mail here')));
  t.ok(matches({ detect: ['ssn', 'email'] }, req('mail a@b.com')), 'any of the detectors');
  t.ok(matches({ detect: 'email' }, req('mail a@b.com')), 'bare string');
});

t.test('metadata', async (t) => {
  const m = (metadata: Record<string, string>): NormalizedRequest => req('x', { metadata });
  t.ok(matches({ metadata: { env: 'prod' } }, m({ env: 'prod' })));
  t.notOk(matches({ metadata: { env: 'prod' } }, m({ env: 'dev' })));
  t.notOk(matches({ metadata: { env: 'prod' } }, m({})));
  t.ok(matches({ metadata: { env: { in: ['prod', 'staging'] } } }, m({ env: 'staging' })));
  t.ok(matches({ metadata: { env: { not_in: ['prod'] } } }, m({})), 'absent is not in the list');
  t.ok(matches({ metadata: { ticket: { matches: '^JIRA-\\d+$' } } }, m({ ticket: 'JIRA-12' })));
  t.notOk(matches({ metadata: { ticket: { matches: '^JIRA-\\d+$' } } }, m({})));
  t.notOk(matches({ metadata: { env: 'prod', app: 'x' } }, m({ env: 'prod' })), 'every key must match');
  t.notOk(matches({ metadata: { toString: 'x' } }, m({})), 'no prototype keys');
});

t.test('key attributes', async (t) => {
  t.ok(matches({ key: { team: 'eng' } }));
  t.notOk(matches({ key: { team: 'finance' } }));
  t.ok(matches({ key: { team: { not_in: ['finance'] } } }, req(), key({ team: null })));
  t.notOk(matches({ key: { team: { in: ['eng'] } } }, req(), key({ team: null })));
  t.ok(matches({ key: { owner: '*@example.com' } }));
  t.notOk(matches({ key: { owner: '*@corp.com' } }));
  t.ok(matches({ key: { id: 'key_1', name: 'ci' } }));
  t.notOk(matches({ key: { id: 'key_1', name: 'other' } }));
  t.ok(matches({ key: { tags: ['pii-ok', 'x'] } }, req(), key({ tags: ['pii-ok'] })), 'shares a tag');
  t.notOk(matches({ key: { tags: ['pii-ok'] } }, req(), key({ tags: [] })));
  t.ok(matches({ key: { tags: { not_in: ['pii-ok'] } } }, req(), key({ tags: ['a'] })));
  t.notOk(matches({ key: { tags: { not_in: ['pii-ok'] } } }, req(), key({ tags: ['a', 'pii-ok'] })));
});

t.test('stream', async (t) => {
  t.ok(matches({ stream: true }, req('x', { stream: true })));
  t.notOk(matches({ stream: true }, req('x')));
  t.ok(matches({ stream: false }, req('x')));
});

t.test('all / any / not and implicit all', async (t) => {
  const r = req('mail a@b.com', { model: 'gpt-4o', stream: true });
  t.ok(matches({ all: [{ model: 'gpt-4o' }, { stream: true }] }, r));
  t.notOk(matches({ all: [{ model: 'gpt-4o' }, { stream: false }] }, r));
  t.ok(matches({ any: [{ model: 'o3' }, { stream: true }] }, r));
  t.notOk(matches({ any: [{ model: 'o3' }, { stream: false }] }, r));
  t.ok(matches({ not: { model: 'o3' } }, r));
  t.notOk(matches({ not: { detect: ['email'] } }, r));
  t.ok(matches({ model: 'gpt-4o', stream: true, detect: ['email'] }, r), 'several leaves = all');
  t.notOk(matches({ model: 'gpt-4o', stream: true, detect: ['ssn'] }, r));
  t.ok(
    matches(
      {
        any: [
          { all: [{ model: 'o3' }, { stream: true }] },
          { not: { any: [{ detect: ['ssn'] }, { model: 'x' }] } },
        ],
      },
      r,
    ),
    'nested',
  );
  t.ok(
    matches({ model: 'gpt-4o', any: [{ stream: false }, { detect: ['email'] }] }, r),
    'leaves and groups mix',
  );
});

t.test('a rule without when always matches; scope restricts it', async (t) => {
  const set = policy([{ id: 'fin', scope: { teams: ['finance'] }, action: 'block' }]);
  t.equal(evaluate(set, req(), key({ team: 'finance' })).decision, 'block');
  t.equal(evaluate(set, req(), key({ team: 'eng' })).decision, 'allow');
  t.equal(evaluate(set, req(), key({ team: null })).decision, 'allow');
});

t.test('every scope field', async (t) => {
  const scoped = (scope: unknown, r: NormalizedRequest = req(), k: KeyIdentity = key()): boolean =>
    evaluate(policy([{ id: 's', scope, action: 'block' }]), r, k).decision === 'block';
  t.ok(scoped({ keys: ['key_1'] }));
  t.notOk(scoped({ keys: ['key_2'] }));
  t.ok(scoped({ owners: ['alice@example.com'] }));
  t.ok(scoped({ owners: ['*@example.com'] }), 'glob scope (unindexed)');
  t.notOk(scoped({ owners: ['bob@example.com'] }));
  t.ok(scoped({ tags: ['x', 'y'] }, req(), key({ tags: ['y'] })));
  t.notOk(scoped({ tags: ['x'] }, req(), key({ tags: ['y'] })));
  t.ok(scoped({ providers: ['openai'] }));
  t.notOk(scoped({ providers: ['anthropic'] }));
  t.ok(scoped({ routes: ['/v1/chat/*'] }));
  t.notOk(scoped({ routes: ['/v1/messages'] }));
  t.ok(scoped({ models: ['gpt-4o*'] }));
  t.notOk(scoped({ models: ['claude-*'] }));
  t.ok(scoped({ teams: ['eng'], providers: ['openai'] }));
  t.notOk(scoped({ teams: ['eng'], providers: ['anthropic'] }), 'scope fields combine with AND');
  t.ok(scoped({ keys: ['key_1'], teams: ['other'] }) === false, 'indexed by key, still checks teams');
});
