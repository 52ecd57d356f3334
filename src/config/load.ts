import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { configSchema, type Config } from './schema.js';

/** Resolves from src/config or dist/config alike: both sit two levels below the package root. */
export const DEFAULT_CONFIG_PATH = fileURLToPath(new URL('../../config/default.yaml', import.meta.url));

/** A configuration problem, reported as one line naming the field. Start-up stops on it. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;
type Tree = Record<string, unknown>;

function isTree(v: unknown): v is Tree {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepMerge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isTree(b) && isTree(v) ? deepMerge(b, v) : v;
  }
  return out;
}

function setPath(tree: Tree, path: readonly string[], value: unknown): void {
  let node = tree;
  for (const part of path.slice(0, -1)) {
    const next = node[part];
    if (!isTree(next)) node[part] = {};
    node = node[part] as Tree;
  }
  node[path[path.length - 1]!] = value;
}

function parseBool(name: string, v: string): boolean {
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  throw new ConfigError(`invalid config: ${name}="${v}" is not a boolean (use true or false)`);
}

/** Environment variables that override config fields; the env name is kept to name it in errors. */
const ENV_FIELDS: readonly { env: string; path: string[]; kind: 'string' | 'int' | 'bool' | 'list' }[] = [
  { env: 'PORT', path: ['server', 'port'], kind: 'int' },
  { env: 'HOST', path: ['server', 'host'], kind: 'string' },
  { env: 'DATABASE_URL', path: ['database', 'url'], kind: 'string' },
  { env: 'AIGOV_EMBEDDED_DB', path: ['database', 'allow_embedded_in_production'], kind: 'bool' },
  { env: 'AIGOV_MIGRATE_ON_START', path: ['database', 'migrate_on_start'], kind: 'bool' },
  { env: 'REDIS_URL', path: ['redis', 'url'], kind: 'string' },
  { env: 'POLICIES_PATH', path: ['policies', 'path'], kind: 'string' },
  { env: 'ADMIN_TOKEN', path: ['admin', 'token'], kind: 'string' },
  { env: 'LOG_LEVEL', path: ['log', 'level'], kind: 'string' },
  { env: 'TLS_CERT', path: ['server', 'tls_cert'], kind: 'string' },
  { env: 'TLS_KEY', path: ['server', 'tls_key'], kind: 'string' },
  { env: 'AIGOV_CORS_ORIGINS', path: ['server', 'cors_origins'], kind: 'list' },
  { env: 'AIGOV_AUDIT_CONTENT', path: ['audit', 'content'], kind: 'string' },
  { env: 'AIGOV_AUDIT_ON_FULL', path: ['audit', 'on_full'], kind: 'string' },
  { env: 'AIGOV_AUDIT_DURABILITY', path: ['audit', 'durability'], kind: 'string' },
  { env: 'AIGOV_REPLICA_ID', path: ['audit', 'replica_id'], kind: 'string' },
  { env: 'AIGOV_AUDIT_HMAC_KEY', path: ['audit', 'hmac_key'], kind: 'string' },
  { env: 'AIGOV_AUDIT_SPOOL_DIR', path: ['audit', 'spool_dir'], kind: 'string' },
  { env: 'AIGOV_AUDIT_SPOOL_MAX_BYTES', path: ['audit', 'spool_max_bytes'], kind: 'int' },
];

/** Base URL variables of DESIGN.md apply to the provider of that name. */
const PROVIDER_BASE_URL_ENV: Record<string, string> = {
  openai: 'OPENAI_BASE_URL',
  anthropic: 'ANTHROPIC_BASE_URL',
  azure: 'AZURE_OPENAI_ENDPOINT',
  gemini: 'GEMINI_BASE_URL',
  bedrock: 'BEDROCK_BASE_URL',
};

/**
 * Families added with default settings when their environment variable is set and no provider of
 * that family is configured: the variable names the provider's endpoint or credential.
 */
const ENV_PROVIDERS: readonly { env: string; provider: (env: Env) => Tree }[] = [
  {
    env: 'AZURE_OPENAI_ENDPOINT',
    provider: (env) => ({
      name: 'azure',
      family: 'azure',
      base_url: env.AZURE_OPENAI_ENDPOINT,
      api_key_env: 'AZURE_OPENAI_API_KEY',
    }),
  },
  {
    env: 'GEMINI_API_KEY',
    provider: (env) => ({
      name: 'gemini',
      family: 'gemini',
      base_url: env.GEMINI_BASE_URL || 'https://generativelanguage.googleapis.com',
      api_key_env: 'GEMINI_API_KEY',
    }),
  },
  {
    env: 'AWS_REGION',
    provider: (env) => ({
      name: 'bedrock',
      family: 'bedrock',
      base_url: env.BEDROCK_BASE_URL || `https://bedrock-runtime.${env.AWS_REGION}.amazonaws.com`,
      // A Bedrock API key when set; else requests are SigV4-signed from the AWS key variables.
      api_key_env: env.AWS_BEARER_TOKEN_BEDROCK ? 'AWS_BEARER_TOKEN_BEDROCK' : null,
      region: env.AWS_REGION,
    }),
  },
];

function addEnvProviders(tree: Tree, env: Env, sources: Map<string, string>): void {
  if (!Array.isArray(tree.providers)) return;
  const providers = tree.providers as unknown[];
  for (const { env: name, provider } of ENV_PROVIDERS) {
    if (!env[name]) continue;
    const p = provider(env);
    const taken = providers.some((q) => isTree(q) && (q.family === p.family || q.name === p.name));
    if (taken) continue;
    providers.push(p);
    sources.set(`providers.${providers.length - 1}.base_url`, name);
  }
}

function applyEnv(tree: Tree, env: Env): Map<string, string> {
  const sources = new Map<string, string>();
  for (const f of ENV_FIELDS) {
    const raw = env[f.env];
    if (raw === undefined || raw === '') continue;
    let value: unknown = raw;
    if (f.kind === 'int') value = /^\d+$/.test(raw) ? Number(raw) : raw;
    else if (f.kind === 'bool') value = parseBool(f.env, raw);
    else if (f.kind === 'list')
      value = raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    setPath(tree, f.path, value);
    sources.set(f.path.join('.'), f.env);
  }
  const envName = env.ENV ?? env.NODE_ENV;
  if (envName === 'production' || envName === 'development' || envName === 'test') {
    tree.env = envName;
    sources.set('env', env.ENV ? 'ENV' : 'NODE_ENV');
  }
  if (Array.isArray(tree.providers)) {
    tree.providers.forEach((p: unknown, i: number) => {
      if (!isTree(p) || typeof p.name !== 'string') return;
      const varName = PROVIDER_BASE_URL_ENV[p.name];
      const raw = varName ? env[varName] : undefined;
      if (varName && raw) {
        p.base_url = raw;
        sources.set(`providers.${i}.base_url`, varName);
      }
    });
  }
  return sources;
}

function describeValue(tree: Tree, path: readonly PropertyKey[]): string {
  let node: unknown = tree;
  for (const part of path) {
    if (!isTree(node) && !Array.isArray(node)) return '';
    node = (node as Record<PropertyKey, unknown>)[part];
  }
  if (node === undefined) return '';
  const text = JSON.stringify(node);
  // Never echo anything that looks like a secret back into logs.
  return /token|key|url|password/i.test(path.join('.'))
    ? ''
    : ` (got ${text.length > 60 ? text.slice(0, 57) + '...' : text})`;
}

function formatIssue(
  issue: z.core.$ZodIssue,
  tree: Tree,
  sources: Map<string, string>,
  file: string,
): string {
  const field = issue.path.join('.') || '(root)';
  const source = sources.get(field);
  const from = source ? ` from ${source}` : ` in ${file}`;
  return `invalid config: ${field}: ${issue.message}${describeValue(tree, issue.path)}${from}`;
}

function readYaml(path: string): Tree {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `invalid config: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(
      `invalid config: ${path} is not valid YAML: ${(err as Error).message.split('\n')[0]}`,
    );
  }
  if (doc === null || doc === undefined) return {};
  if (!isTree(doc)) throw new ConfigError(`invalid config: ${path} must hold a YAML mapping`);
  return doc;
}

export interface LoadConfigOptions {
  env?: Env;
  /** Extra overrides applied after files and env (tests). */
  overrides?: Tree;
}

/**
 * Default file, then AIGOV_CONFIG deep-merged over it, then environment variables.
 * Throws ConfigError with one line naming the first bad field (and the env var it came from).
 */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  let tree = readYaml(DEFAULT_CONFIG_PATH);
  const userFile = env.AIGOV_CONFIG;
  if (userFile) tree = deepMerge(tree, readYaml(userFile));
  const sources = applyEnv(tree, env);
  addEnvProviders(tree, env, sources);
  if (options.overrides) tree = deepMerge(tree, options.overrides);
  const result = configSchema.safeParse(tree);
  if (!result.success) {
    const first = result.error.issues[0]!;
    throw new ConfigError(formatIssue(first, tree, sources, userFile ?? 'config/default.yaml'));
  }
  checkProduction(result.data);
  return result.data;
}

/** Production refuses the defaults that are only safe on a developer's laptop. */
function checkProduction(config: Config): void {
  if (config.env !== 'production') return;
  if (!config.database.url && !config.database.allow_embedded_in_production)
    throw new ConfigError(
      'invalid config: database.url: production needs DATABASE_URL (or AIGOV_EMBEDDED_DB=true to accept the embedded database)',
    );
  config.auth.dev_key = false;
}
