import { z } from 'zod';

/**
 * Zod schemas of the HTTP bodies aigov itself defines. The same objects validate requests (in the
 * handlers, or through describeRoute) and generate the OpenAPI document, so the two cannot drift;
 * tests parse real answers with the response schemas.
 */

// --- errors ------------------------------------------------------------------------------------

/** What OpenAI-compatible routes (and aigov's own) answer on refusal; the openai SDK parses it. */
export const openAIError = z
  .object({
    error: z.object({
      message: z.string(),
      type: z.string().describe('e.g. authentication_error, permission_error, rate_limit_error'),
      code: z.string().describe('catalogue code, or the id of the policy/limit rule that refused'),
      param: z.null(),
      details: z.unknown().optional().describe('validation issues on 400 answers'),
    }),
  })
  .describe('OpenAI error shape');

/** What Anthropic routes answer on refusal; @anthropic-ai/sdk parses it. */
export const anthropicError = z
  .object({
    type: z.literal('error'),
    error: z.object({ type: z.string(), message: z.string() }),
  })
  .describe('Anthropic error shape');

/** What Gemini routes answer on refusal; @google/genai raises ApiError with `code` as its status. */
export const geminiError = z
  .object({
    error: z.object({
      code: z.number().int().describe('the HTTP status'),
      message: z.string().describe('ends with "(<rule id or catalogue code>)" on 403 and 429'),
      status: z.string().describe('e.g. UNAUTHENTICATED, PERMISSION_DENIED, RESOURCE_EXHAUSTED'),
      details: z
        .array(z.record(z.string(), z.unknown()))
        .optional()
        .describe('a google.rpc.ErrorInfo whose `reason` is the rule id or catalogue code'),
    }),
  })
  .describe('Google API error shape');

/** What Bedrock routes answer on refusal; the AWS SDK names its exception after x-amzn-ErrorType. */
export const bedrockError = z
  .object({ message: z.string().describe('ends with "(<rule id or catalogue code>)" on 403 and 429') })
  .describe('AWS error shape (the error type is in the x-amzn-ErrorType header)');

// --- provider bodies (documented loosely: the provider's own format) ------------------------------

export const providerRequest = z
  .looseObject({
    model: z.string().optional(),
    messages: z.array(z.unknown()).optional(),
    prompt: z.unknown().optional(),
    input: z.unknown().optional(),
    max_tokens: z.number().int().optional(),
    stream: z.boolean().optional(),
  })
  .describe('The provider request body exactly as its SDK sends it; forwarded unchanged unless redacted.');

export const providerResponse = z
  .looseObject({})
  .describe('The provider answer, passed through (text/event-stream chunk by chunk when stream is true).');

// --- /health, /ready -------------------------------------------------------------------------

export const healthResponse = z.object({
  status: z.literal('ok'),
  uptime_s: z.number().int(),
  version: z.string(),
});

export const readyResponse = z.object({
  status: z.enum(['ready', 'not_ready']),
  checks: z.record(z.string(), z.object({ ok: z.boolean(), detail: z.string().optional() })),
});

// --- /api/evaluate ---------------------------------------------------------------------------

export const evaluateResponse = z.object({
  valid: z.literal(true),
  key: z.object({
    id: z.string(),
    owner: z.string(),
    name: z.string().nullable(),
    team: z.string().nullable(),
    tags: z.array(z.string()),
    models: z.array(z.string()),
    expires_at: z.string().nullable(),
  }),
});

export const evaluateError = z.object({
  valid: z.literal(false),
  error: openAIError.shape.error,
});

// --- /v1/check -------------------------------------------------------------------------------

/** The envelope /v1/check adds to a provider body; everything else is the provider request itself. */
export const checkEnvelope = z.object({
  provider: z
    .string()
    .min(1)
    .max(64)
    .optional()
    .describe('"openai", "anthropic" or a configured provider name; default: chosen by model'),
  metadata: z.record(z.string(), z.string().max(1024)).optional(),
  route: z
    .string()
    .startsWith('/')
    .max(128)
    .optional()
    .describe(
      'Provider route to check against, as the provider documents it (/v1/chat/completions, ' +
        '/v1beta/models/{model}:streamGenerateContent, /model/{modelId}/converse-stream); default inferred from the body',
    ),
});

/** `/v1/check` of an MCP tool call instead of a provider body (docs/mcp.md). */
export const mcpCheck = z
  .object({
    server: z.string().min(1).max(64).describe('a configured MCP server name'),
    tool: z.string().min(1).max(256),
    arguments: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

export const checkRequest = providerRequest.extend({
  ...checkEnvelope.shape,
  mcp: mcpCheck.optional().describe('check an MCP tool call instead of a provider body'),
});

const reason = z.object({ policy: z.string(), action: z.string(), message: z.string() });

export const checkResponse = z.object({
  allowed: z.boolean(),
  decision: z.enum(['allow', 'block', 'redact']),
  risk_score: z.number(),
  reasons: z.array(reason),
  monitor: z.array(reason).describe('monitor-mode matches: reported, never change the outcome'),
  request_id: z.string(),
  policy_version: z.string(),
  provider: z.string(),
  route: z.string(),
  limits: z.object({
    allowed: z.boolean(),
    applied: z.array(z.string()).describe('ids of the limit rules that apply to this request'),
    rule: z.string().optional(),
    retry_after_s: z.number().optional(),
  }),
  redacted: z
    .unknown()
    .optional()
    .describe('the provider body as it would be forwarded, when the decision is redact'),
});
