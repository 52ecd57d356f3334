/**
 * The dependency rule of src/ (npm run lint): imports point one way, type-only imports included.
 * Layers, lowest first; a file may import its own layer's folders and lower layers only. This
 * forbids folder-level cycles between layers, and no-circular forbids file-level cycles anywhere.
 * docs/architecture.md explains each layer.
 */
const LAYERS = [
  ['errors.ts', 'logger.ts', 'version.ts', 'config/', 'db/'],
  ['auth/'],
  ['providers/'],
  ['policy/'],
  ['limits/', 'audit/'],
  ['governance/', 'metrics/', 'approvals/'],
  ['services.ts'],
  ['http/'],
  ['proxy/', 'admin/', 'mcp/', 'realtime/', 'passthrough/'],
  ['routes/'],
  ['app.ts', 'server.ts', 'main.ts', 'cli/'],
];

const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const pathsOf = (layer) => `^src/(${layer.map(esc).join('|')})`;

const layerRules = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `layer-${i}-points-down`,
  comment: `${layer.join(', ')} may not import anything above it (${LAYERS.slice(i + 1)
    .flat()
    .join(', ')})`,
  severity: 'error',
  from: { path: pathsOf(layer) },
  to: { path: pathsOf(LAYERS.slice(i + 1).flat()) },
}));

/** Folders in the same layer must not import each other (each is its own concern). */
const siblingRules = LAYERS.filter((l) => l.filter((p) => p.endsWith('/')).length > 1).flatMap((layer) =>
  layer
    .filter((p) => p.endsWith('/'))
    .map((folder) => ({
      name: `no-sibling-import-${folder.replace('/', '')}`,
      comment: `${folder} may not import the other folders of its layer`,
      severity: 'error',
      from: { path: `^src/${esc(folder)}` },
      to: {
        path: pathsOf(layer.filter((p) => p !== folder && p.endsWith('/'))),
      },
    })),
);

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'No import cycles, type-only imports included',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'no-fastify-in-core',
      comment:
        'The core (policy, limits, auth, audit, providers, config, db, governance, metrics) is framework-free',
      severity: 'error',
      from: { path: '^src/(policy|limits|auth|audit|providers|config|db|governance|metrics|approvals)/' },
      to: { path: '(^|/)node_modules/(fastify|@fastify/[^/]+)/' },
    },
    {
      name: 'no-provider-family-in-contract',
      comment: 'The adapter contract imports no implementation; providers/families.ts selects them',
      severity: 'error',
      from: { path: '^src/providers/(adapter|types|sse)\\.ts$' },
      to: { path: '^src/providers/[^/]+/' },
    },
    {
      name: 'src-never-imports-tests',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench)/' },
    },
    ...layerRules,
    ...siblingRules,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    combinedDependencies: false,
    exclude: { path: '^dist/' },
  },
};
