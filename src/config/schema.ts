import { z } from 'zod';
import { parseDurationMs } from './duration.js';
import { adminOidcSchema, jwtIssuerSchema } from './identity-schema.js';

const duration = z.union([z.number().int().positive(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  const ms = parseDurationMs(v);
  if (ms === null) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a duration (e.g. 500ms, 30s, 5m)` });
    return z.NEVER;
  }
  return ms;
});

const providerSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9-]*$/, 'lower-case letters, digits and dashes'),
    family: z.enum(['openai', 'anthropic', 'azure', 'gemini', 'bedrock']),
    base_url: z.url({ protocol: /^https?$/ }),
    /** Name of the environment variable that holds the credential; never the credential itself. */
    api_key_env: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/)
      .nullable()
      .default(null),
    /** Header the credential goes in: Authorization Bearer (OpenAI), x-api-key (Anthropic), api-key (Azure). */
    auth_header: z.enum(['authorization', 'x-api-key', 'api-key']).optional(),
    /** Azure OpenAI: deployment name -> the model it serves (what policies, limits and prices see). */
    deployments: z.record(z.string().min(1), z.string().min(1)).default({}),
    /** Bedrock: the AWS region requests are signed for; null = from base_url or AWS_REGION. */
    region: z
      .string()
      .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'an AWS region such as us-east-1')
      .nullable()
      .default(null),
    /** Model globs routed to this provider on the shared /v1 routes. */
    models: z.array(z.string().min(1)).default([]),
    default: z.boolean().default(false),
    timeouts: z
      .object({
        connect: duration.default(5_000),
        first_byte: duration.default(60_000),
        idle: duration.default(60_000),
      })
      .strict()
      .default({ connect: 5_000, first_byte: 60_000, idle: 60_000 }),
    /** Names of providers tried in order when this one fails before the first byte. */
    fallbacks: z.array(z.string()).default([]),
    max_connections: z.number().int().positive().default(256),
  })
  .strict();

/** An upstream MCP server served at /mcp/{name}; header values are env var NAMES, never secrets. */
const mcpServerSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9-]*$/, 'lower-case letters, digits and dashes'),
    url: z.url({ protocol: /^https?$/ }),
    /** Header name -> name of the environment variable holding its value (e.g. Authorization: GITHUB_MCP_TOKEN). */
    headers: z
      .record(z.string().regex(/^[A-Za-z0-9-]+$/), z.string().regex(/^[A-Z_][A-Z0-9_]*$/))
      .default({}),
    timeouts: z
      .object({ connect: duration.default(5_000), first_byte: duration.default(60_000) })
      .strict()
      .default({ connect: 5_000, first_byte: 60_000 }),
  })
  .strict();

const priceSchema = z
  .object({
    model: z.string().min(1),
    input_per_1m: z.number().nonnegative(),
    output_per_1m: z.number().nonnegative(),
    /** Input read from the provider's prompt cache; absent: billed as input. */
    cache_read_per_1m: z.number().nonnegative().optional(),
    /** Input written to the provider's prompt cache; absent: billed as input. */
    cache_write_per_1m: z.number().nonnegative().optional(),
  })
  .strict();

export const configSchema = z
  .object({
    env: z.enum(['development', 'production', 'test']).default('development'),
    server: z
      .object({
        port: z.coerce.number().int().min(0).max(65535).default(8080),
        host: z.string().min(1).default('127.0.0.1'),
        body_limit_bytes: z
          .number()
          .int()
          .positive()
          .default(4 * 1024 * 1024),
        /** Multipart uploads (audio, images, files): file parts are spooled to disk, never held in memory. */
        upload_limit_bytes: z
          .number()
          .int()
          .positive()
          .default(512 * 1024 * 1024),
        /** Where file parts are spooled while a policy decides ('' = the OS temporary directory). */
        upload_dir: z.string().default(''),
        trust_proxy: z.union([z.boolean(), z.string(), z.array(z.string())]).default(false),
        request_timeout: duration.default(600_000),
        headers_timeout: duration.default(10_000),
        keep_alive_timeout: duration.default(72_000),
        shutdown_timeout: duration.default(25_000),
        max_connections: z.number().int().positive().default(10_000),
        /** Node's parser refuses larger header blocks with 431. */
        max_header_bytes: z.number().int().min(1024).max(1_048_576).default(16_384),
        max_headers: z.number().int().positive().max(2_000).default(100),
        /** HTTP/2 beside HTTP/1.1 on the port: h2c with prior knowledge, or ALPN `h2` with TLS. */
        h2c: z.boolean().default(true),
        /** Shed load with 503 instead of slowing every caller: event-loop delay and heap ceilings (0 = off). */
        overload_event_loop_delay: duration.default(1_000),
        overload_heap_bytes: z.number().int().nonnegative().default(0),
        tls_cert: z.string().nullable().default(null),
        tls_key: z.string().nullable().default(null),
        cors_origins: z.array(z.string()).default([]),
      })
      .strict()
      .prefault({}),
    database: z
      .object({
        url: z.string().nullable().default(null),
        embedded_dir: z.string().default('./data/pglite'),
        /** Production refuses the embedded database unless this is set. */
        allow_embedded_in_production: z.boolean().default(false),
        migrate_on_start: z.boolean().default(true),
        pool_max: z.number().int().positive().default(10),
      })
      .strict()
      .prefault({}),
    redis: z
      .object({
        url: z.string().nullable().default(null),
        command_timeout: duration.default(100),
      })
      .strict()
      .prefault({}),
    auth: z
      .object({
        bcrypt_cost: z.number().int().min(4).max(15).default(12),
        cache_ttl: duration.default(5_000),
        cache_max: z.number().int().positive().default(10_000),
        negative_cache_ttl: duration.default(5_000),
        last_used_flush: duration.default(30_000),
        /** Create and print one development key when the key table is empty (never in production). */
        dev_key: z.boolean().default(true),
        /** Identity providers whose JWTs are accepted instead of an aigov key (docs/identity.md). */
        jwt: z.array(jwtIssuerSchema).default([]),
      })
      .strict()
      .prefault({}),
    audit: z
      .object({
        batch_size: z.number().int().positive().max(5_000).default(500),
        flush_interval: duration.default(200),
        queue_max: z.number().int().positive().default(20_000),
        /** What of the prompt the audit row keeps. */
        content: z.enum(['none', 'redacted', 'full']).default('none'),
        /** When the queue or spool is full: refuse governed requests (503) or serve and count dropped rows. */
        on_full: z.enum(['reject', 'drop']).default('reject'),
        /** batched: a crash loses at most one flush interval of rows; sync: rows are fsynced before the answer. */
        durability: z.enum(['batched', 'sync']).default('batched'),
        /** This process's hash chain; null = AIGOV_REPLICA_ID or the host name. */
        replica_id: z
          .string()
          .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/, 'letters, digits and . _ : - (at most 128)')
          .nullable()
          .default(null),
        /** Signs checkpoints and retention anchors (HMAC-SHA256); keep it out of the database's reach. */
        hmac_key: z.string().min(32, 'must be at least 32 characters').nullable().default(null),
        checkpoint_rows: z.number().int().positive().default(10_000),
        checkpoint_interval: duration.default(60_000),
        /** Where rows wait, fsynced, while Postgres is unreachable (one sub-folder per replica). */
        spool_dir: z.string().min(1).default('./data/spool'),
        spool_max_bytes: z
          .number()
          .int()
          .positive()
          .default(1024 * 1024 * 1024),
      })
      .strict()
      .prefault({}),
    policies: z
      .object({
        path: z.string().default('./policies'),
        watch: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    limits: z
      .object({
        fail_mode: z.enum(['open', 'closed']).default('closed'),
        expected_replicas: z.number().int().positive().default(1),
        default_output_tokens: z.number().int().positive().default(1024),
        /**
         * A limit-store call fails when the store has answered nothing for this long while it waited
         * (event-loop lag and queueing behind other calls do not count; docs/limits.md), then the fail mode applies.
         */
        store_timeout: duration.default(250),
        /** exact: every request counted in Redis; lease: replicas spend shares of the limit (requests and tokens rules; cost_usd rules only when the rule says so). */
        counting: z.enum(['exact', 'lease']).default('exact'),
        /** Lease size as a fraction of the limit, for lease rules without their own `lease`. */
        lease_fraction: z.number().gt(0).max(1).default(0.05),
        /** Per replica: how often one key / one client IP may call /v1/check and /api/evaluate. */
        check_per_key_per_minute: z.number().int().positive().default(600),
        check_per_ip_per_minute: z.number().int().positive().default(1200),
        /** Per replica: failed authentications one client IP may make before it is refused for the minute. */
        auth_failures_per_ip_per_minute: z.number().int().positive().default(30),
      })
      .strict()
      .prefault({}),
    admin: z
      .object({
        token: z.string().min(16, 'must be at least 16 characters').nullable().default(null),
        /** Sign-in to /ui and /admin with an OIDC identity provider, roles from a claim (docs/identity.md). */
        oidc: adminOidcSchema.nullable().default(null),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .strict()
      .prefault({}),
    mcp: z
      .object({
        servers: z.array(mcpServerSchema).default([]),
        approvals: z
          .object({
            /** How long an approval (pending or granted) stays usable. */
            ttl: duration.default(15 * 60_000),
            /** POSTed (HMAC-SHA256 signed with the secret from webhook_secret_env) on each new pending approval. */
            webhook_url: z
              .url({ protocol: /^https?$/ })
              .nullable()
              .default(null),
            webhook_secret_env: z
              .string()
              .regex(/^[A-Z_][A-Z0-9_]*$/)
              .nullable()
              .default(null),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    providers: z.array(providerSchema).min(1),
    pricing: z.array(priceSchema).default([]),
    /** Routes aigov does not govern, proxied opaquely (authenticated, counted, audited). Empty: 404. */
    passthrough: z
      .array(
        z
          .object({
            provider: z.string().min(1),
            routes: z.array(z.string().regex(/^\//, 'a path glob starting with /')).min(1),
            methods: z
              .array(z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']))
              .min(1)
              .default(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']),
          })
          .strict(),
      )
      .default([]),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type ProviderConfig = z.infer<typeof providerSchema>;
export type McpServerConfig = z.infer<typeof mcpServerSchema>;
