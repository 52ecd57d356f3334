import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import {
  compilePolicies,
  loadPolicies,
  PolicyLoadError,
  validatePolicies,
  type PolicyProblem,
} from '../../../src/policy/index.js';

function dir(files: Record<string, string>): string {
  const d = mkdtempSync(join(tmpdir(), 'aigov-pol-'));
  for (const [name, text] of Object.entries(files)) {
    const p = join(d, name);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, text);
  }
  return d;
}

async function problemsOf(files: Record<string, string>): Promise<PolicyProblem[]> {
  return validatePolicies(dir(files));
}

const GOOD = `version: 1
rules:
  - id: a
    when: { detect: [email] }
    action: redact
`;

t.test('loads a folder: sorted, skips test files and sub-folders, merges rules', async (t) => {
  const d = dir({
    'b.yaml': 'version: 1\nrules:\n  - { id: b, action: block, when: { model: x } }\n',
    'a.yml': GOOD,
    'notes.txt': 'ignored',
    'a.test.yaml': 'cases: []',
    'tests/cases.yaml': 'cases: []',
  });
  const set = await loadPolicies(d);
  t.same(
    set.rules.map((r) => r.id),
    ['a', 'b'],
  );
  t.same(set.sources, [join(d, 'a.yml'), join(d, 'b.yaml')]);
  t.match(set.version, /^[0-9a-f]{12}$/);
  const again = await loadPolicies(d);
  t.equal(again.version, set.version, 'same bytes, same version');
  writeFileSync(join(d, 'b.yaml'), 'version: 1\nrules: []\n');
  t.not((await loadPolicies(d)).version, set.version, 'content change -> new version');
  const single = await loadPolicies(join(d, 'a.yml'));
  t.equal(single.ruleCount, 1);
});

t.test('the shipped default policy set loads', async (t) => {
  const set = await loadPolicies('policies');
  t.ok(set.rules.length >= 8);
  t.equal(set.limitRules.length, 1);
  t.equal(set.responseRules.length, 1);
});

t.test('missing path is a load error naming it', async (t) => {
  await t.rejects(loadPolicies('/nonexistent/policies'), PolicyLoadError);
  const p = await validatePolicies('/nonexistent/policies');
  t.equal(p[0]?.file, '/nonexistent/policies');
});

t.test('every problem is reported with file, rule id and field path', async (t) => {
  const problems = await problemsOf({
    'one.yaml': `version: 1
rules:
  - id: bad-field
    action: block
    colour: red
  - id: bad-detector
    when: { detect: [email, dna] }
    action: block
  - id: unsafe-regex
    when: { prompt: { matches: "(a+)+$" } }
    action: block
  - id: bad-regex
    when: { prompt: { matches: "([a-z" } }
    action: block
  - id: no-risk
    action: score
  - id: both
    action: block
    limit: { requests: 1, per: 1m }
  - id: bad-limit
    limit: { requests: 1, tokens: 2, per: 60 }
  - id: nested-unknown
    when: { all: [ { model: { in: [a], regex: x } } ] }
    action: block
  - id: bad placeholder
    action: block
    message: "hi {{user}}"
`,
    'two.yaml': `version: 1
rules:
  - id: BAD-FIELD
    action: allow
  - id: redact-nothing
    when: { model: x }
    action: redact
`,
  });
  const find = (ruleId: string | null, path: string): PolicyProblem | undefined =>
    problems.find((p) => p.ruleId === ruleId && p.path === path);
  t.match(find('bad-field', 'rules[0]'), { file: /one\.yaml$/, message: /unknown field.*colour/ });
  t.match(find('bad-detector', 'rules[1].when.detect[1]'), { message: /unknown detector "dna"/ });
  t.match(find('unsafe-regex', 'rules[2].when.prompt.matches'), { message: /unsafe/ });
  t.match(find('bad-regex', 'rules[3].when.prompt.matches'), { message: /invalid regular expression/ });
  t.match(find('no-risk', 'rules[4].risk'), { message: /need "risk"/ });
  t.match(find('both', 'rules[5]'), { message: /exactly one of "action" or "limit"/ });
  t.match(find('bad-limit', 'rules[6].limit'), { message: /exactly one of requests, tokens, cost_usd/ });
  t.ok(
    problems.some((p) => p.ruleId === 'bad-limit' && p.path === 'rules[6].limit.per'),
    'per: 60 refused',
  );
  t.match(find('nested-unknown', 'rules[7].when.all[0].model'), { message: /unknown field.*regex/ });
  t.match(find('bad placeholder', 'rules[8].id'), { message: /rule id must match/ });
  t.match(find('bad placeholder', 'rules[8].message'), { message: /unknown placeholder \{\{user\}\}/ });
  t.match(find('BAD-FIELD', 'rules[0].id'), {
    file: /two\.yaml$/,
    message: /duplicate rule id \(first defined in .*one\.yaml rules\[0\]\)/,
  });
  t.match(find('redact-nothing', 'rules[1].when'), { message: /redact rules need/ });
  t.ok(problems.length >= 13, `all problems listed (${problems.length})`);

  const err = await loadPolicies(
    dir({ 'x.yaml': 'version: 1\nrules:\n  - { id: a, action: nope, extra: 1 }\n' }),
  ).then(
    () => null,
    (e: unknown) => e,
  );
  t.ok(err instanceof PolicyLoadError);
  if (err instanceof PolicyLoadError) {
    t.equal(err.problems.length, 2, 'both the bad action and the unknown field');
    t.match(err.message, /^2 policy problems:\n {2}- .*x\.yaml: rule "a" at rules\[0\]/);
  }
});

t.test('file-level problems: YAML syntax, version, defaults twice, top-level unknown', async (t) => {
  const p = await problemsOf({
    'a.yaml': 'version: 1\ndefaults: { decision: allow }\nrules: []\n',
    'b.yaml': 'version: 1\ndefaults: { decision: block }\nrules: []\n',
    'c.yaml': 'version: 2\nrules: []\nextra: true\n',
    'd.yaml': 'version: 1\nrules: [ { id: a\n',
    'e.yaml': 'version: 1\nrules: []\nrules: []\n',
    'f.yaml': 'version: 1\ndefaults: { decision: maybe, block_threshold: 2 }\n',
  });
  t.ok(p.some((x) => x.file.endsWith('b.yaml') && x.path === 'defaults' && /one file only/.test(x.message)));
  t.ok(p.some((x) => x.file.endsWith('c.yaml') && x.path === 'version'));
  t.ok(p.some((x) => x.file.endsWith('c.yaml') && /unknown field.*extra/.test(x.message)));
  t.ok(p.some((x) => x.file.endsWith('d.yaml') && /^YAML: .*line/.test(x.message)));
  t.ok(
    p.some((x) => x.file.endsWith('e.yaml') && /YAML/.test(x.message)),
    'duplicate keys refused',
  );
  t.ok(p.some((x) => x.file.endsWith('f.yaml') && x.path === 'defaults.decision'));
  t.ok(p.some((x) => x.file.endsWith('f.yaml') && x.path === 'defaults.block_threshold'));
});

t.test('valid set validates clean', async (t) => {
  t.same(await problemsOf({ 'a.yaml': GOOD }), []);
  t.same(await validatePolicies('policies'), []);
});

t.test('compilePolicies throws PolicyLoadError on in-memory docs', async (t) => {
  t.throws(
    () => compilePolicies([{ file: 'm', doc: { version: 1, rules: [{ id: 'x' }] } }]),
    PolicyLoadError,
  );
  t.throws(() => compilePolicies([{ file: 'm', doc: null }]), PolicyLoadError);
});

t.test('limit rules compile to the limit contract', async (t) => {
  const set = compilePolicies([
    {
      file: 'l.yaml',
      doc: {
        version: 1,
        rules: [
          { id: 'rate', limit: { requests: 60, per: '1m' } },
          {
            id: 'tok',
            limit: { tokens: 200000, per: '1d', by: 'team' },
            mode: 'monitor',
            fail_mode: 'closed',
          },
          {
            id: 'budget',
            description: 'team budget',
            scope: { teams: ['fin'] },
            when: { model: 'gpt-4o*' },
            limit: { cost_usd: 100, per: 'month', by: 'global' },
          },
        ],
      },
    },
  ]);
  t.equal(set.ruleCount, 3);
  t.equal(set.rules.length, 0);
  const [rate, tok, budget] = set.limitRules;
  t.match(rate, {
    id: 'rate',
    metric: 'requests',
    amount: 60,
    by: 'key',
    mode: 'enforce',
    failMode: undefined,
  });
  t.same(rate?.window, { kind: 'duration', ms: 60_000, label: '1m' });
  t.match(tok, { metric: 'tokens', amount: 200000, by: 'team', mode: 'monitor', failMode: 'closed' });
  t.match(budget, { metric: 'cost_usd', amount: 100, by: 'global', description: 'team budget' });
  t.same(budget?.window, { kind: 'calendar_month', label: 'month' });
  const { req, key } = await import('./helpers.js');
  t.ok(rate?.appliesTo(req(), key()));
  t.notOk(budget?.appliesTo(req(), key()), 'other team');
  t.ok(budget?.appliesTo(req('x', { model: 'gpt-4o-mini' }), key({ team: 'fin' })));
  t.notOk(budget?.appliesTo(req('x', { model: 'claude-3' }), key({ team: 'fin' })), 'when applies');
});

t.test('limit counting: lease compiles; a lease without it or above the limit is refused', async (t) => {
  const set = compilePolicies([
    {
      file: 'lease.yaml',
      doc: {
        version: 1,
        rules: [
          { id: 'leased', limit: { requests: 100, per: '1m', counting: 'lease', lease: 10 } },
          { id: 'exact', limit: { requests: 100, per: '1m', counting: 'exact' } },
          { id: 'plain', limit: { requests: 100, per: '1m' } },
        ],
      },
    },
  ]);
  const [leased, exact, plain] = set.limitRules;
  t.match(leased, { counting: 'lease', lease: 10 });
  t.match(exact, { counting: 'exact' });
  t.equal(plain?.counting, undefined, 'undefined: the configured default applies');
  t.equal(plain?.lease, undefined);
  const bad = (limit: Record<string, unknown>): string => {
    try {
      compilePolicies([{ file: 'b.yaml', doc: { version: 1, rules: [{ id: 'b', limit }] } }]);
      return '';
    } catch (err) {
      return (err as Error).message;
    }
  };
  t.match(bad({ requests: 10, per: '1m', lease: 5 }), /"lease" only applies to counting: lease/);
  t.match(bad({ requests: 10, per: '1m', counting: 'lease', lease: 11 }), /larger than the limit/);
  t.match(bad({ requests: 10, per: '1m', counting: 'shared' }), /counting/);
  t.match(bad({ requests: 10, per: '1m', counting: 'lease', lease: 0 }), /lease/);
});
