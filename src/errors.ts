/**
 * The one error catalogue. Every denial or failure on a request path is an AigovError
 * carrying a catalogue code; routes render it in the caller's provider shape
 * (providers/<family>/errors.ts) so SDKs raise their own exception types.
 */

export const ERROR_CATALOGUE = {
  invalid_api_key: { status: 401, type: 'authentication_error', message: 'Invalid or missing aigov API key' },
  key_expired: { status: 401, type: 'authentication_error', message: 'The aigov API key has expired' },
  key_revoked: { status: 401, type: 'authentication_error', message: 'The aigov API key has been revoked' },
  invalid_token: {
    status: 401,
    type: 'authentication_error',
    message: 'The bearer token (JWT) was not accepted',
  },
  admin_unauthorized: {
    status: 401,
    type: 'authentication_error',
    message: 'Invalid or missing admin token',
  },
  admin_forbidden: {
    status: 403,
    type: 'permission_error',
    message: 'Your admin role may not do this',
  },
  csrf_failed: {
    status: 403,
    type: 'permission_error',
    message: 'Missing or wrong x-csrf-token header (state-changing admin calls need it)',
  },
  admin_disabled: {
    status: 404,
    type: 'not_found_error',
    message: 'The admin API is disabled (no ADMIN_TOKEN and no admin.oidc)',
  },
  policy_blocked: { status: 403, type: 'permission_error', message: 'Request blocked by policy' },
  model_not_allowed: {
    status: 403,
    type: 'permission_error',
    message: 'This key may not use the requested model',
  },
  invalid_request: { status: 400, type: 'invalid_request_error', message: 'Malformed request' },
  invalid_json: { status: 400, type: 'invalid_request_error', message: 'Request body is not valid JSON' },
  unsupported_media_type: {
    status: 415,
    type: 'invalid_request_error',
    message: 'Content-Type must be application/json',
  },
  body_too_large: { status: 413, type: 'request_too_large', message: 'Request body too large' },
  not_found: { status: 404, type: 'not_found_error', message: 'Route not found' },
  method_not_allowed: { status: 405, type: 'invalid_request_error', message: 'Method not allowed' },
  conflict: { status: 409, type: 'invalid_request_error', message: 'Conflicts with the current state' },
  rate_limited: { status: 429, type: 'rate_limit_error', message: 'Rate limit exceeded' },
  budget_exceeded: { status: 429, type: 'rate_limit_error', message: 'Budget exceeded' },
  auth_throttled: {
    status: 429,
    type: 'rate_limit_error',
    message: 'Too many failed authentication attempts',
  },
  provider_not_configured: {
    status: 502,
    type: 'api_error',
    message: 'The provider is not configured (missing credential or base URL)',
  },
  upstream_error: { status: 502, type: 'api_error', message: 'Upstream provider failed' },
  upstream_timeout: { status: 504, type: 'api_error', message: 'Upstream provider timed out' },
  limits_unavailable: {
    status: 503,
    type: 'overloaded_error',
    message: 'Limit store unavailable; refusing (fail closed)',
  },
  audit_unavailable: {
    status: 503,
    type: 'overloaded_error',
    message: 'Audit log unavailable; refusing to serve unrecorded requests',
  },
  overloaded: { status: 503, type: 'overloaded_error', message: 'Server overloaded, retry later' },
  auth_unavailable: {
    status: 503,
    type: 'overloaded_error',
    message: 'Key store unavailable; cannot verify this key right now',
  },
  internal_error: { status: 500, type: 'api_error', message: 'Internal error' },
} as const satisfies Record<string, { status: number; type: string; message: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export interface AigovErrorOptions {
  /** Overrides the catalogue message (e.g. a policy's own message). */
  message?: string;
  /** Provider-visible `code`; defaults to the catalogue code (a rule id for policy blocks). */
  providerCode?: string;
  /** Seconds, for 429/503 answers. */
  retryAfter?: number;
  /** Extra response headers (rate-limit headers and the like). */
  headers?: Record<string, string>;
  /** Zod issues or similar, returned in 400 answers. */
  details?: unknown;
  cause?: unknown;
}

export class AigovError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly type: string;
  readonly providerCode: string;
  readonly retryAfter: number | undefined;
  readonly headers: Record<string, string>;
  readonly details: unknown;

  constructor(code: ErrorCode, options: AigovErrorOptions = {}) {
    const entry = ERROR_CATALOGUE[code];
    super(
      options.message ?? entry.message,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = 'AigovError';
    this.code = code;
    this.status = entry.status;
    this.type = entry.type;
    this.providerCode = options.providerCode ?? code;
    this.retryAfter = options.retryAfter;
    this.headers = options.headers ?? {};
    this.details = options.details;
  }
}

export function isAigovError(value: unknown): value is AigovError {
  return value instanceof AigovError;
}

/** OpenAI-compatible error body: what the openai SDK parses into APIError subclasses. */
export function openAIErrorBody(err: AigovError): {
  error: { message: string; type: string; code: string; param: null };
} {
  return { error: { message: err.message, type: err.type, code: err.providerCode, param: null } };
}

/** Anthropic error body: what @anthropic-ai/sdk parses into its APIError subclasses. */
export function anthropicErrorBody(err: AigovError): {
  type: 'error';
  error: { type: string; message: string };
} {
  return { type: 'error', error: { type: err.type, message: err.message } };
}

/** A validation issue as zod (or any schema library) reports it. */
export interface InputIssue {
  path: readonly PropertyKey[];
  message: string;
}

/** One line for a list of validation issues: `a.b: message; c: message` (`(root)` for the whole value). */
export function issuesText(issues: readonly InputIssue[]): string {
  return issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`).join('; ');
}

/** The catalogue's 400 for an input that failed validation, every issue listed in `details`. */
export function invalidInput(what: string, issues: readonly InputIssue[]): AigovError {
  return new AigovError('invalid_request', {
    message: `Invalid ${what}: ${issuesText(issues)}`,
    details: issues,
  });
}
