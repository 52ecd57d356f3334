import type { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import {
  formatPolicyTestResults,
  formatProblem,
  PolicyLoadError,
  runPolicyTests,
  validatePolicies,
  type Normalizer,
} from '../policy/index.js';
import { getAdapter } from '../providers/families.js';
import type { ProviderFamily } from '../providers/types.js';
import { CommandError } from './usage-error.js';

/** Test cases go through the same normalisers as live traffic, so a passing case means what it says. */
function providerNormalizer(families: Map<string, ProviderFamily>): Normalizer {
  return (provider, route, body) => {
    const family = families.get(provider) ?? (provider === 'anthropic' ? 'anthropic' : 'openai');
    return getAdapter(family).normalize({ route, provider, body });
  };
}

function policiesPath(arg: string | undefined): string {
  return arg ?? loadConfig().policies.path;
}

export function registerPolicyCommands(program: Command): void {
  const policies = program.command('policies').description('validate and test policy files');

  policies
    .command('validate')
    .argument('[path]', 'policy file or folder (default: POLICIES_PATH or ./policies)')
    .description('check policy files; lists every problem with file, rule id and field')
    .action(async (path: string | undefined) => {
      const target = policiesPath(path);
      const problems = await validatePolicies(target);
      if (problems.length > 0) {
        process.stderr.write(problems.map((p) => formatProblem(p)).join('\n') + '\n');
        throw new CommandError(`${problems.length} problem${problems.length === 1 ? '' : 's'} in ${target}`);
      }
      process.stdout.write(`${target}: ok\n`);
    });

  policies
    .command('test')
    .argument('[path]', 'policy file or folder (default: POLICIES_PATH or ./policies)')
    .option('--cases <path>', 'test-case file or folder (default: tests/ next to the policies)')
    .description('run the YAML test cases against the policies; exit 1 on any failure')
    .action(async (path: string | undefined, opts: { cases?: string }) => {
      const target = policiesPath(path);
      const families = new Map<string, ProviderFamily>();
      try {
        for (const p of loadConfig().providers) families.set(p.name, p.family);
      } catch {
        // Without a valid config the built-in provider names still resolve.
      }
      let results;
      try {
        results = await runPolicyTests(target, {
          normalize: providerNormalizer(families),
          ...(opts.cases ? { testsPath: opts.cases } : {}),
        });
      } catch (err) {
        if (err instanceof PolicyLoadError) {
          process.stderr.write(err.problems.map((p) => formatProblem(p)).join('\n') + '\n');
          throw new CommandError(`policies in ${target} do not load`);
        }
        throw err;
      }
      process.stdout.write(formatPolicyTestResults(results) + '\n');
      if (results.length === 0) throw new CommandError(`no test cases found for ${target}`);
      const failed = results.filter((r) => !r.passed).length;
      if (failed > 0) throw new CommandError(`${failed} of ${results.length} policy test cases failed`);
    });
}
