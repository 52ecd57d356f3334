/**
 * Validates rendered manifests against the Kubernetes OpenAPI schemas shipped
 * by kubernetes-models (compiled ajv validators), plus a strict unknown-field
 * check that those validators do not do (kubeconform -strict's job): a typo
 * like `readinesProbe` would otherwise pass every schema and be silently
 * dropped by the API server.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import type { Manifest, PodSpec } from './support.js';

type Validatable = { validate(): void };
const MODELS: Record<string, (data: never) => Validatable> = {
  'apps/v1/Deployment': (d) => new Deployment(d),
  'v1/Service': (d) => new Service(d),
  'v1/ConfigMap': (d) => new ConfigMap(d),
  'v1/ServiceAccount': (d) => new ServiceAccount(d),
  'batch/v1/Job': (d) => new Job(d),
  'autoscaling/v2/HorizontalPodAutoscaler': (d) => new HorizontalPodAutoscaler(d),
  'policy/v1/PodDisruptionBudget': (d) => new PodDisruptionBudget(d),
  'monitoring.coreos.com/v1/ServiceMonitor': (d) => new ServiceMonitor(d),
};

const require = createRequire(import.meta.url);
// Core schemas live in kubernetes-models/_schemas, ObjectMeta & co in @kubernetes-models/apimachinery.
const SCHEMA_DIRS = [
  join(dirname(require.resolve('kubernetes-models/apps/v1/Deployment')), '..', '..', '_schemas'),
  dirname(
    require.resolve('@kubernetes-models/apimachinery/_schemas/IoK8sApimachineryPkgApisMetaV1ObjectMeta'),
  ),
];
const fieldCache = new Map<string, Set<string>>();

/** Property names a compiled validator knows, read from its generated source. */
function knownFields(schema: string): Set<string> {
  let known = fieldCache.get(schema);
  if (!known) {
    const file = SCHEMA_DIRS.map((d) => join(d, `${schema}.js`)).find((f) => existsSync(f));
    if (!file) throw new Error(`no compiled schema named ${schema}`);
    const src = readFileSync(file, 'utf8');
    known = new Set([...src.matchAll(/\bdata\.([A-Za-z]\w*)/g)].map((m) => m[1]!));
    known.delete('length');
    if (known.size < 3) throw new Error(`could not read the field list of ${schema}`);
    fieldCache.set(schema, known);
  }
  return known;
}

function unknownKeys(obj: unknown, schema: string, where: string): string[] {
  if (!obj || typeof obj !== 'object') return [];
  const known = knownFields(schema);
  return Object.keys(obj)
    .filter((k) => !known.has(k))
    .map((k) => `${where}.${k} is not a field of ${schema}`);
}

function podSpecProblems(spec: PodSpec, where: string): string[] {
  const out = unknownKeys(spec, 'IoK8sApiCoreV1PodSpec', where);
  out.push(
    ...unknownKeys(spec.securityContext, 'IoK8sApiCoreV1PodSecurityContext', `${where}.securityContext`),
  );
  const containers = [...spec.containers, ...(spec.initContainers ?? [])];
  for (const c of containers) {
    const cw = `${where}.containers[${c.name}]`;
    out.push(...unknownKeys(c, 'IoK8sApiCoreV1Container', cw));
    out.push(...unknownKeys(c.securityContext, 'IoK8sApiCoreV1SecurityContext', `${cw}.securityContext`));
    for (const p of ['startupProbe', 'livenessProbe', 'readinessProbe'] as const) {
      out.push(...unknownKeys(c[p], 'IoK8sApiCoreV1Probe', `${cw}.${p}`));
    }
    for (const m of c.volumeMounts ?? [])
      out.push(...unknownKeys(m, 'IoK8sApiCoreV1VolumeMount', `${cw}.volumeMounts`));
  }
  for (const v of spec.volumes ?? []) out.push(...unknownKeys(v, 'IoK8sApiCoreV1Volume', `${where}.volumes`));
  return out;
}

/** Every problem found in one manifest; empty when it is valid. */
export function validateManifest(m: Manifest): string[] {
  const id = `${m.kind}/${m.metadata?.name}`;
  const make = MODELS[`${m.apiVersion}/${m.kind}`];
  if (!make) return [`${id}: no schema for ${m.apiVersion} ${m.kind} (add it to test/deploy/k8s-schema.ts)`];
  const problems: string[] = [];
  try {
    make(m as never).validate();
  } catch (err) {
    problems.push(`${id}: ${(err as Error).message}`);
  }
  problems.push(...unknownKeys(m.metadata, 'IoK8sApimachineryPkgApisMetaV1ObjectMeta', `${id}.metadata`));
  if (m.kind === 'Deployment' || m.kind === 'Job') {
    const spec = (m.spec as { template: { spec: PodSpec; metadata?: unknown } }).template;
    problems.push(
      ...unknownKeys(spec.metadata, 'IoK8sApimachineryPkgApisMetaV1ObjectMeta', `${id}.template.metadata`),
    );
    problems.push(...podSpecProblems(spec.spec, `${id}.spec.template.spec`));
  }
  if (m.kind === 'Deployment')
    problems.push(...unknownKeys(m.spec, 'IoK8sApiAppsV1DeploymentSpec', `${id}.spec`));
  if (m.kind === 'Job') problems.push(...unknownKeys(m.spec, 'IoK8sApiBatchV1JobSpec', `${id}.spec`));
  if (m.kind === 'Service') problems.push(...unknownKeys(m.spec, 'IoK8sApiCoreV1ServiceSpec', `${id}.spec`));
  return problems;
}

export function validateAll(manifests: Manifest[]): string[] {
  return manifests.flatMap(validateManifest);
}
