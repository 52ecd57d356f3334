import picomatch from 'picomatch';
import { Pool } from 'undici';
import type { ProviderConfig } from '../config/schema.js';
import type { AdapterOptions, ProviderAdapter } from './adapter.js';
import { getAdapter } from './families.js';
import type { ProviderFamily } from './types.js';

/** A configured provider, ready to forward to: adapter, credential, pooled connections, timeouts. */
export interface ProviderRuntime {
  name: string;
  family: ProviderFamily;
  adapter: ProviderAdapter;
  baseUrl: string;
  origin: string;
  /** Read from the named environment variable at start; never logged. */
  credential: string | null;
  credentialEnv: string | null;
  matchesModel: (model: string) => boolean;
  hasModelPatterns: boolean;
  isDefault: boolean;
  pool: Pool;
  timeouts: { connect: number; firstByte: number; idle: number };
  fallbacks: string[];
}

export class ProviderRegistry {
  private readonly byName = new Map<string, ProviderRuntime>();
  private readonly byFamily = new Map<ProviderFamily, ProviderRuntime[]>();

  constructor(configs: readonly ProviderConfig[], env: Record<string, string | undefined> = process.env) {
    for (const c of configs) {
      const url = new URL(c.base_url);
      const matcher = c.models.length > 0 ? picomatch(c.models, { nocase: true, bash: true }) : () => false;
      const runtime: ProviderRuntime = {
        name: c.name,
        family: c.family,
        adapter: getAdapter(c.family, adapterOptions(c, env)),
        baseUrl: c.base_url,
        origin: url.origin,
        credential: c.api_key_env ? (env[c.api_key_env] ?? null) || null : null,
        credentialEnv: c.api_key_env,
        matchesModel: matcher,
        hasModelPatterns: c.models.length > 0,
        isDefault: c.default,
        pool: new Pool(url.origin, {
          connections: c.max_connections,
          pipelining: 1,
          keepAliveTimeout: 30_000,
          connect: { timeout: c.timeouts.connect },
        }),
        timeouts: { connect: c.timeouts.connect, firstByte: c.timeouts.first_byte, idle: c.timeouts.idle },
        fallbacks: c.fallbacks,
      };
      this.byName.set(c.name, runtime);
      const list = this.byFamily.get(c.family) ?? [];
      list.push(runtime);
      this.byFamily.set(c.family, list);
    }
  }

  get(name: string): ProviderRuntime | undefined {
    return this.byName.get(name);
  }

  all(): ProviderRuntime[] {
    return [...this.byName.values()];
  }

  /**
   * The provider for an un-prefixed route: among providers of the route's API family, the first
   * whose model patterns match; else the family's default (or its first provider).
   */
  resolve(family: ProviderFamily, model: string | null): ProviderRuntime | undefined {
    const candidates = this.byFamily.get(family);
    if (!candidates || candidates.length === 0) return undefined;
    if (model) {
      const hit = candidates.find((p) => p.hasModelPatterns && p.matchesModel(model));
      if (hit) return hit;
    }
    return (
      candidates.find((p) => p.isDefault) ?? candidates.find((p) => !p.hasModelPatterns) ?? candidates[0]
    );
  }

  /** For /v1/check, which has no route: the provider named, or the one whose models match, or the default. */
  forCheck(providerName: string | undefined, model: string | null): ProviderRuntime | undefined {
    if (providerName) return this.byName.get(providerName);
    if (model) {
      for (const p of this.byName.values()) if (p.hasModelPatterns && p.matchesModel(model)) return p;
    }
    return this.resolve('openai', model) ?? this.all()[0];
  }

  async close(): Promise<void> {
    await Promise.all([...this.byName.values()].map((p) => p.pool.close().catch(() => {})));
  }
}

/** What a configured provider's adapter needs beyond its family (none: the shared instance). */
export function adapterOptions(c: ProviderConfig, env: Record<string, string | undefined>): AdapterOptions {
  const options: AdapterOptions = {};
  if (c.family === 'bedrock') {
    const host = /^bedrock-runtime(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com$/.exec(
      new URL(c.base_url).hostname,
    );
    options.aws = {
      region: c.region ?? host?.[1] ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
      accessKeyId: env.AWS_ACCESS_KEY_ID || null,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY || null,
      sessionToken: env.AWS_SESSION_TOKEN || null,
    };
  }
  if (c.auth_header === 'api-key') options.authHeader = 'api-key';
  if (Object.keys(c.deployments).length > 0) options.deployments = c.deployments;
  return options;
}
