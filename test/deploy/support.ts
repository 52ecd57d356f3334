/**
 * Shared helpers for the deployment tests: a real helm binary, chart rendering
 * into parsed manifests, and Kubernetes schema validation.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { helmPath } from '../../scripts/helm.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CHART = join(ROOT, 'helm', 'aigov');

export type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  [k: string]: unknown;
};

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The helm binary, or a reason it is missing. On CI a missing helm is a
 * failure, not a skip: the chart would otherwise ship untested.
 */
export function findHelm(): { bin: string } | { skip: string } {
  try {
    return { bin: helmPath() };
  } catch (err) {
    if (process.env.CI === 'true') throw err;
    return { skip: `helm unavailable: ${(err as Error).message}` };
  }
}

export function runHelm(bin: string, args: string[], cwd = ROOT): HelmResult {
  const r = spawnSync(bin, args, {
    cwd,
    encoding: 'utf8',
    // Keep helm away from the user's real config, caches and kube contexts.
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      HELM_CACHE_HOME: join(ROOT, 'node_modules', '.cache', 'aigov-helm', 'home', 'cache'),
      HELM_CONFIG_HOME: join(ROOT, 'node_modules', '.cache', 'aigov-helm', 'home', 'config'),
      HELM_DATA_HOME: join(ROOT, 'node_modules', '.cache', 'aigov-helm', 'home', 'data'),
      KUBECONFIG: '/dev/null',
    },
    timeout: 60_000,
  });
  if (r.error) throw r.error;
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

/** `helm template` of the chart with --set-string-free, file-based values; throws on a non-zero exit. */
export function template(bin: string, args: string[] = [], chart = CHART): Manifest[] {
  const r = runHelm(bin, ['template', 'rel', chart, '--namespace', 'ns', ...args]);
  if (r.code !== 0) throw new Error(`helm template failed (${r.code}): ${r.stderr}`);
  return parseManifests(r.stdout);
}

export function parseManifests(text: string): Manifest[] {
  const out: Manifest[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors[0]!.message}`);
    const value = doc.toJS() as Manifest | null;
    if (value) out.push(value);
  }
  return out;
}

export function find(manifests: Manifest[], kind: string, name?: string): Manifest | undefined {
  return manifests.find((m) => m.kind === kind && (name === undefined || m.metadata.name === name));
}

export function kinds(manifests: Manifest[]): string[] {
  return manifests.map((m) => m.kind).sort();
}

export type Container = {
  name: string;
  image: string;
  args?: string[];
  ports?: { name: string; containerPort: number }[];
  env?: {
    name: string;
    value?: string;
    valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } };
  }[];
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  securityContext?: Record<string, unknown> & { capabilities?: { drop?: string[] } };
  volumeMounts?: { name: string; mountPath: string; subPath?: string; readOnly?: boolean }[];
  restartPolicy?: string;
  resources?: Record<string, unknown>;
};
export type Probe = {
  httpGet?: { path: string; port: string | number; scheme?: string };
  exec?: { command: string[] };
  [k: string]: unknown;
};
export type PodSpec = {
  containers: Container[];
  initContainers?: Container[];
  volumes?: {
    name: string;
    configMap?: { name: string };
    emptyDir?: Record<string, unknown>;
    secret?: { secretName: string };
  }[];
  securityContext?: Record<string, unknown>;
  automountServiceAccountToken?: boolean;
  [k: string]: unknown;
};

/** The pod spec of a Deployment or Job. */
export function podSpec(m: Manifest): PodSpec {
  const template = (m.spec as { template?: { spec?: PodSpec } } | undefined)?.template;
  if (!template?.spec) throw new Error(`${m.kind}/${m.metadata.name} has no pod template`);
  return template.spec;
}

export function envOf(c: Container): Map<string, NonNullable<Container['env']>[number]> {
  return new Map((c.env ?? []).map((e) => [e.name, e]));
}

export function readRepoFile(rel: string): string {
  return readFileSync(join(ROOT, rel), 'utf8');
}
