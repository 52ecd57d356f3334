import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type {
  FastifyInstance,
  FastifySchema,
  FastifySchemaCompiler,
  RouteOptions,
  RouteShorthandOptions,
} from 'fastify';
import { z } from 'zod';
import { invalidInput } from '../errors.js';
import { VERSION } from '../version.js';
import { type RouteSpec } from '../providers/adapter.js';
import { getAdapter, PROVIDER_FAMILIES } from '../providers/families.js';
import type { ProviderFamily } from '../providers/types.js';
import type { Services } from '../services.js';
import {
  anthropicError,
  bedrockError,
  geminiError,
  openAIError,
  providerRequest,
  providerResponse,
} from './schemas.js';

export type JsonSchema = Record<string, unknown>;

/**
 * A zod schema as the JSON Schema dialect of OpenAPI 3.0 (`nullable`, no `$schema`). Request
 * bodies use the input side (defaults optional), answers the output side.
 */
export function jsonSchema(schema: z.ZodType, io: 'input' | 'output' = 'output'): JsonSchema {
  const out = z.toJSONSchema(schema, { target: 'openapi-3.0', io, unrepresentable: 'any' }) as JsonSchema;
  delete out.$schema;
  return out;
}

export interface ResponseDoc {
  description: string;
  schema?: z.ZodType;
  /** Default application/json. */
  contentType?: string;
  headers?: Record<string, string>;
}

export interface RouteDoc {
  summary: string;
  description?: string;
  tags: string[];
  operationId?: string;
  /** `key`: an aigov API key (default); `admin`: ADMIN_TOKEN; `none`: open. */
  auth?: 'key' | 'admin' | 'none';
  body?: z.ZodType;
  querystring?: z.ZodType;
  params?: z.ZodType;
  /**
   * `route` (default): Fastify runs the zod schemas before the handler; a failure answers 400
   * `invalid_request` with the zod issues in `error.details`. `handler`: documented only, the
   * handler parses with the same schema (when it must authenticate or audit first).
   */
  validate?: 'route' | 'handler';
  responses: Record<number, ResponseDoc>;
}

const SECURITY: Record<NonNullable<RouteDoc['auth']>, Record<string, string[]>[]> = {
  key: [{ bearerAuth: [] }, { xApiKey: [] }, { apiKeyHeader: [] }],
  admin: [{ adminToken: [] }],
  none: [],
};

/** Answers are documented, not serialised through the schemas: handlers send exactly what they build. */
const serializeAsIs = () => (data: unknown) => JSON.stringify(data);
const skipValidation: FastifySchemaCompiler<unknown> = () => (value: unknown) => ({ value });

function responsesOf(responses: Record<number, ResponseDoc>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [status, r] of Object.entries(responses)) {
    out[status] = {
      description: r.description,
      ...(r.headers
        ? {
            headers: Object.fromEntries(
              Object.entries(r.headers).map(([h, d]) => [h, { type: 'string', description: d }]),
            ),
          }
        : {}),
      ...(r.schema
        ? { content: { [r.contentType ?? 'application/json']: { schema: jsonSchema(r.schema) } } }
        : {}),
    };
  }
  return out;
}

/**
 * Route options for one documented route: its OpenAPI entry generated from zod, and validation by
 * the very same zod schemas. Usage: `app.post('/admin/keys', describeRoute({...}), handler)`.
 */
export function describeRoute(
  doc: RouteDoc,
): Pick<RouteShorthandOptions, 'schema' | 'validatorCompiler' | 'serializerCompiler'> {
  const parts: Record<string, z.ZodType | undefined> = {
    body: doc.body,
    querystring: doc.querystring,
    params: doc.params,
  };
  const schema: FastifySchema & Record<string, unknown> = {
    summary: doc.summary,
    tags: doc.tags,
    security: SECURITY[doc.auth ?? 'key'],
    response: responsesOf(doc.responses),
    ...(doc.description ? { description: doc.description } : {}),
    ...(doc.operationId ? { operationId: doc.operationId } : {}),
    ...(doc.body ? { body: jsonSchema(doc.body, 'input') } : {}),
    ...(doc.querystring ? { querystring: jsonSchema(doc.querystring, 'input') } : {}),
    ...(doc.params ? { params: jsonSchema(doc.params, 'input') } : {}),
  };
  const validatorCompiler: FastifySchemaCompiler<unknown> =
    doc.validate === 'handler'
      ? skipValidation
      : ({ httpPart }) => {
          const zod = httpPart ? parts[httpPart] : undefined;
          if (!zod) return (value: unknown) => ({ value });
          return (value: unknown) => {
            const r = zod.safeParse(value ?? undefined);
            if (r.success) return { value: r.data };
            return {
              error: invalidInput(httpPart ?? 'input', r.error.issues),
            };
          };
        };
  return { schema, validatorCompiler, serializerCompiler: serializeAsIs };
}

// --- provider routes: documented from the adapters' route tables --------------------------------

const FAMILY_TAG: Record<ProviderFamily, string> = {
  openai: 'OpenAI-compatible',
  anthropic: 'Anthropic',
  azure: 'Azure OpenAI',
  gemini: 'Google Gemini',
  bedrock: 'Amazon Bedrock',
};

const KIND_SUMMARY: Record<RouteSpec['kind'], string> = {
  chat: 'Chat completions',
  completions: 'Text completions',
  embeddings: 'Embeddings',
  responses: 'Responses API',
  models: 'List models',
  messages: 'Messages',
  count_tokens: 'Count tokens',
  images: 'Images',
  audio_speech: 'Text to speech',
  audio_transcription: 'Speech to text',
  moderations: 'Moderations',
  files: 'Files',
  batches: 'Batches',
  generate: 'Generate content',
  converse: 'Converse',
  invoke: 'Invoke model',
};

/** Each family's refusal shape (what its SDK parses), and the headers that come with it. */
const FAMILY_ERRORS: Record<
  ProviderFamily,
  { format: string; schema: z.ZodType; headers?: Record<string, string> }
> = {
  openai: { format: 'OpenAI', schema: openAIError },
  anthropic: { format: 'Anthropic', schema: anthropicError },
  azure: { format: 'Azure OpenAI', schema: openAIError },
  gemini: { format: 'Gemini', schema: geminiError },
  bedrock: {
    format: 'Bedrock',
    schema: bedrockError,
    headers: {
      'x-amzn-errortype':
        'AWS error type the SDK raises: AccessDeniedException (403), ThrottlingException (429), ' +
        'ValidationException (400, 413), UnrecognizedClientException (401), InternalServerException (5xx)',
    },
  },
};

/** Where each family's SDK sends the caller's key (the aigov key goes in the same place). */
const FAMILY_SECURITY: Partial<Record<ProviderFamily, Record<string, string[]>[]>> = {
  gemini: [...SECURITY.key, { googApiKey: [] }, { googKeyQuery: [] }],
};

const GOVERNANCE_HEADERS = {
  'x-request-id': "Correlation id (the caller's own when well formed, else a UUID)",
  'x-aigov-decision': 'allow | block | redact',
  'x-aigov-policies': 'Comma-separated ids of the rules that matched',
};

const GOVERNED_ERRORS: Record<number, string> = {
  400: 'Malformed request (bad JSON, missing model, ...)',
  401: 'Missing, invalid, expired or revoked aigov key',
  403: 'Blocked by a policy (`code` is the rule id) or model not allowed for this key',
  413: 'Request body too large',
  415: 'Content-Type is not application/json',
  429: 'Rate limit, token limit or budget exceeded (`code` is the rule id); see Retry-After',
  502: 'Provider failed or not configured',
  503: 'Limit store or audit log unavailable (fail closed), or overloaded',
  504: 'Provider timed out',
};

const UNGOVERNED_ERRORS: Record<number, string> = {
  401: GOVERNED_ERRORS[401]!,
  429: 'Too many failed authentications',
  502: GOVERNED_ERRORS[502]!,
  504: GOVERNED_ERRORS[504]!,
};

interface ProviderRouteDoc {
  family: ProviderFamily;
  spec: RouteSpec;
  provider: string | null;
}

/** OpenAPI schema for a provider route: loose provider bodies, precise aigov error shapes. */
export function providerRouteSchema({ family, spec, provider }: ProviderRouteDoc): JsonSchema {
  const { format, schema: error, headers: errorHeaders } = FAMILY_ERRORS[family];
  const errors = spec.governed ? GOVERNED_ERRORS : UNGOVERNED_ERRORS;
  const responses: Record<number, ResponseDoc> = {
    200: {
      description: spec.governed
        ? 'The provider answer, passed through (text/event-stream when the request asks to stream)'
        : 'The provider answer, passed through',
      schema: providerResponse,
      headers: GOVERNANCE_HEADERS,
    },
  };
  for (const [status, description] of Object.entries(errors))
    responses[Number(status)] = {
      description,
      schema: error,
      headers:
        Number(status) === 429 || errorHeaders
          ? { ...errorHeaders, ...(Number(status) === 429 ? { 'retry-after': 'Seconds to wait' } : {}) }
          : undefined,
    };
  const resp = responsesOf(responses);
  if (spec.governed) {
    const ok = resp['200'] as { content: Record<string, unknown> };
    const codec = getAdapter(family).streamCodec;
    ok.content[codec?.contentType ?? 'text/event-stream'] = {
      schema: {
        type: 'string',
        description: codec
          ? 'Event-stream messages, relayed message by message'
          : 'Server-sent events, relayed chunk by chunk',
      },
    };
  }
  const target = provider ? `provider "${provider}"` : `the ${FAMILY_TAG[family]} provider chosen by model`;
  return {
    summary: `${KIND_SUMMARY[spec.kind]} (${format} format)`,
    description:
      `Same path and body as the provider, forwarded to ${target} with the provider credential ` +
      (spec.governed
        ? 'injected after authentication, policies and limits.'
        : 'injected after authentication (no policies or limits).') +
      (spec.path === '/v1/models' && !provider
        ? ' Requests carrying `anthropic-version` go to the Anthropic provider and get Anthropic errors.'
        : ''),
    tags: [provider ? `Provider: ${provider}` : FAMILY_TAG[family]],
    security: FAMILY_SECURITY[family] ?? SECURITY.key,
    ...(spec.method === 'POST' && spec.body !== 'multipart'
      ? { body: jsonSchema(providerRequest, 'input') }
      : {}),
    response: resp,
  };
}

/** Every provider route the app registers (provider-routes.ts), keyed by "METHOD url". */
function providerRoutes(services: Services): Map<string, ProviderRouteDoc> {
  const out = new Map<string, ProviderRouteDoc>();
  for (const family of PROVIDER_FAMILIES)
    for (const spec of getAdapter(family).routes) {
      const id = `${spec.method} ${spec.url ?? spec.path}`;
      if (!out.has(id)) out.set(id, { family, spec, provider: null });
    }
  for (const p of services.providers.all())
    for (const spec of p.adapter.routes) {
      const id = `${spec.method} /${p.name}${spec.url ?? spec.path}`;
      if (!out.has(id)) out.set(id, { family: p.family, spec, provider: p.name });
    }
  return out;
}

function operationIdOf(method: string, url: string): string {
  const words = url.split(/[^A-Za-z0-9]+/).filter(Boolean);
  return [method.toLowerCase(), ...words].join('_');
}

/**
 * A route registered without describeRoute: the HTML dashboard is hidden (not an API); anything
 * else gets a minimal entry tagged "Undocumented" so the document stays valid until it gets its
 * own schema (tests list such routes).
 */
function undocumented(method: string, url: string): JsonSchema {
  if (url === '/ui' || url.startsWith('/ui/')) return { hide: true };
  const admin = url.startsWith('/admin/');
  const responses: Record<number, ResponseDoc> = {
    200: { description: 'Not described yet' },
    404: { description: 'Not found', schema: openAIError },
  };
  if (admin) responses[401] = { description: 'Missing or wrong ADMIN_TOKEN', schema: openAIError };
  return {
    summary: `${method} ${url}`,
    tags: [UNDOCUMENTED_TAG],
    security: SECURITY[admin ? 'admin' : 'none'],
    response: responsesOf(responses),
  };
}

export const UNDOCUMENTED_TAG = 'Undocumented';

export interface OpenApiOptions {
  /** Extra named schemas for components.schemas (e.g. the admin API's). */
  componentSchemas?: Record<string, z.ZodType>;
}

/**
 * OpenAPI 3.0 document at /openapi.json and Swagger UI at /docs (assets served from the package,
 * nothing from a CDN). Must be registered before the routes it documents.
 */
export async function registerOpenApi(
  app: FastifyInstance,
  services: Services,
  options: OpenApiOptions = {},
): Promise<void> {
  let provider: Map<string, ProviderRouteDoc> | null = null;
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'aigov',
        version: VERSION,
        description:
          "Governance proxy for LLM APIs. Provider routes keep the providers' own paths and bodies; " +
          "refusals use the provider's error shape so SDKs raise their own errors.",
        license: { name: 'Apache-2.0', url: 'https://www.apache.org/licenses/LICENSE-2.0' },
      },
      servers: [{ url: '/', description: 'This aigov instance' }],
      tags: [
        { name: 'Governance', description: "aigov's own API" },
        { name: 'OpenAI-compatible', description: 'OpenAI API paths, governed' },
        { name: 'Anthropic', description: 'Anthropic API paths, governed' },
        { name: 'Azure OpenAI', description: 'Azure OpenAI API paths, governed' },
        { name: 'Google Gemini', description: 'Gemini API paths, governed' },
        { name: 'Amazon Bedrock', description: 'Bedrock Runtime API paths, governed' },
        { name: 'Operations', description: 'Health, readiness, metrics' },
      ],
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', description: 'aigov API key (aigov_...)' },
          xApiKey: { type: 'apiKey', in: 'header', name: 'x-api-key', description: 'aigov API key' },
          apiKeyHeader: { type: 'apiKey', in: 'header', name: 'api-key', description: 'aigov API key' },
          googApiKey: {
            type: 'apiKey',
            in: 'header',
            name: 'x-goog-api-key',
            description: 'aigov API key (Gemini routes)',
          },
          googKeyQuery: {
            type: 'apiKey',
            in: 'query',
            name: 'key',
            description: 'aigov API key (Gemini routes); removed before forwarding',
          },
          adminToken: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN' },
        },
        schemas: Object.fromEntries(
          Object.entries(options.componentSchemas ?? {}).map(([name, s]) => [name, jsonSchema(s)]),
        ) as Record<string, never>,
      },
    },
    transform: ({ schema, url, route }: { schema: FastifySchema; url: string; route: RouteOptions }) => {
      const method = String(Array.isArray(route.method) ? route.method[0] : route.method);
      const operationId = operationIdOf(method, url);
      if (schema) return { schema: { operationId, ...schema } as FastifySchema, url };
      provider ??= providerRoutes(services);
      const doc = provider.get(`${method} ${url}`);
      // A wildcard route (Gemini's /v1beta/models/*, i.e. {model}:{action}) would be documented as
      // a parameter named `*`, which OpenAPI linters refuse: name it `path`.
      if (doc)
        return {
          schema: { operationId, ...providerRouteSchema(doc) } as FastifySchema,
          url: url.replace(/\*$/, ':path'),
        };
      return { schema: { operationId, ...undocumented(method, url) } as FastifySchema, url };
    },
  });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    // Same origin only: the UI's assets come from the package, and nothing (not even the public
    // swagger validator badge) is fetched from elsewhere.
    staticCSP:
      "default-src 'self'; base-uri 'self'; script-src 'self'; script-src-attr 'none'; " +
      "style-src 'self'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; " +
      "object-src 'none'; frame-ancestors 'self'",
    uiConfig: { deepLinking: true, validatorUrl: null, defaultModelsExpandDepth: 0 },
  });
  app.get('/openapi.json', { schema: { hide: true } }, (_request, reply) =>
    reply.type('application/json').send(app.swagger()),
  );
}
