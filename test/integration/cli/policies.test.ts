import t from 'tap';
import { runCli } from '../../support/cli.js';

t.test('the shipped policies validate and their test cases pass', async (t) => {
  const validate = await runCli(['policies', 'validate', 'policies']);
  t.equal(validate.code, 0, validate.stderr);
  const test = await runCli(['policies', 'test', 'policies']);
  t.equal(test.code, 0, test.stdout + test.stderr);
  t.match(test.stdout, /(\d+)\/\1 passed/);
  t.notMatch(test.stdout, /FAIL/);
});

t.test('an invalid policy file gives every problem, with file, rule and field, and exit 1', async (t) => {
  const dir = t.testdir({
    'bad.yaml': [
      'version: 1',
      'rules:',
      '  - id: one',
      '    when: { detect: [ssn, not_a_detector] }',
      '    action: block',
      '  - id: two',
      '    when: { prompt: { matches: "(a+)+$" } }',
      '    action: block',
      '  - id: three',
      '    action: explode',
      '    colour: red',
      '  - id: one',
      '    action: block',
      '',
    ].join('\n'),
  });
  const res = await runCli(['policies', 'validate', dir]);
  t.equal(res.code, 1);
  const lines = res.stderr.trim().split('\n');
  t.ok(lines.length >= 5, `several problems listed:\n${res.stderr}`);
  t.match(res.stderr, /bad\.yaml: rule "one".*not_a_detector/);
  t.match(res.stderr, /bad\.yaml: rule "two".*(backtrack|unsafe)/i);
  t.match(res.stderr, /bad\.yaml: rule "three".*action/);
  t.match(res.stderr, /colour/);
  t.match(res.stderr, /duplicate/i);
  t.match(lines.at(-1)!, /^aigov: \d+ problems in /);

  const cases = t.testdir({
    'p.yaml':
      'version: 1\nrules:\n  - id: no-foo\n    when: { prompt: { contains: [foo] } }\n    action: block\n',
    'tests.yaml': [
      'cases:',
      '  - name: foo is blocked',
      '    request: { body: { model: gpt-4o, messages: [{ role: user, content: foo }] } }',
      '    expect: { decision: block, policies: [no-foo] }',
      '  - name: wrong expectation',
      '    request: { body: { model: gpt-4o, messages: [{ role: user, content: bar }] } }',
      '    expect: { decision: block }',
      '',
    ].join('\n'),
  });
  const failing = await runCli(['policies', 'test', `${cases}/p.yaml`, '--cases', `${cases}/tests.yaml`]);
  t.equal(failing.code, 1);
  t.match(failing.stdout, /PASS.*foo is blocked/);
  t.match(failing.stdout, /FAIL.*wrong expectation/);
  t.match(failing.stderr, /1 of 2 policy test cases failed/);
});
