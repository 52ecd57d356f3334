import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { parseDocument } from 'yaml';
import { compilePolicies, validatePolicyInputs, type PolicyInput } from './compile.js';
import { PolicyLoadError, type PolicyProblem } from './load-error.js';
import type { CompiledPolicySet } from './types.js';

export interface PolicySource {
  file: string;
  text: string;
}

const POLICY_FILE = /\.ya?ml$/i;
const TEST_FILE = /\.test\.ya?ml$/i;

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Policy files at `path`: the file itself, or the `*.yaml`/`*.yml` in the folder (not `*.test.yaml`, not sub-folders). */
export async function listPolicyFiles(path: string): Promise<string[]> {
  const info = await stat(path);
  if (info.isFile()) return [path];
  const entries = await readdir(path, { withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && POLICY_FILE.test(e.name) && !TEST_FILE.test(e.name))
    .map((e) => join(path, e.name))
    .sort();
}

export async function readPolicySources(path: string): Promise<PolicySource[]> {
  const files = await listPolicyFiles(path);
  return Promise.all(files.map(async (file) => ({ file, text: await readFile(file, 'utf8') })));
}

/** sha256 over the sorted file names and contents, first 12 hex characters. */
export function policyVersion(sources: readonly PolicySource[]): string {
  const h = createHash('sha256');
  const sorted = [...sources].sort((a, b) => (basename(a.file) < basename(b.file) ? -1 : 1));
  for (const s of sorted) h.update(basename(s.file)).update('\0').update(s.text).update('\0');
  return h.digest('hex').slice(0, 12);
}

/** YAML syntax errors (with line and column) become problems; the rest is left to the schema. */
export function parsePolicySources(sources: readonly PolicySource[]): {
  inputs: PolicyInput[];
  problems: PolicyProblem[];
} {
  const inputs: PolicyInput[] = [];
  const problems: PolicyProblem[] = [];
  for (const { file, text } of sources) {
    const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        // prettyErrors puts "at line L, column C" on the first line; the rest is a source excerpt.
        problems.push({
          file,
          ruleId: null,
          path: '',
          message: `YAML: ${(e.message.split('\n')[0] ?? '').replace(/:$/, '')}`,
        });
      }
      continue;
    }
    inputs.push({ file, doc: doc.toJS() as unknown });
  }
  return { inputs, problems };
}

async function readOrProblem(path: string): Promise<{ sources: PolicySource[]; problems: PolicyProblem[] }> {
  try {
    return { sources: await readPolicySources(path), problems: [] };
  } catch (err) {
    return { sources: [], problems: [{ file: path, ruleId: null, path: '', message: errorMessage(err) }] };
  }
}

/** Every problem in the policy set at `path` (empty when it is valid): for `aigov policies validate`. */
export async function validatePolicies(path: string): Promise<PolicyProblem[]> {
  const { sources, problems } = await readOrProblem(path);
  const parsed = parsePolicySources(sources);
  return [...problems, ...parsed.problems, ...validatePolicyInputs(parsed.inputs).problems];
}

export function compilePolicySources(sources: readonly PolicySource[]): CompiledPolicySet {
  const parsed = parsePolicySources(sources);
  if (parsed.problems.length > 0) {
    const rest = validatePolicyInputs(parsed.inputs).problems;
    throw new PolicyLoadError([...parsed.problems, ...rest]);
  }
  return compilePolicies(parsed.inputs, policyVersion(sources));
}

/**
 * Loads and compiles the policy file or folder at `path`. Throws PolicyLoadError listing every
 * problem; callers doing hot reload keep their previous set when it throws.
 */
export async function loadPolicies(path: string): Promise<CompiledPolicySet> {
  const { sources, problems } = await readOrProblem(path);
  if (problems.length > 0) throw new PolicyLoadError(problems);
  return compilePolicySources(sources);
}
