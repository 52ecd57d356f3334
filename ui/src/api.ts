/** The admin API client: the token lives in sessionStorage (gone when the tab closes). */

const TOKEN_KEY = 'aigov.adminToken';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** CSRF token of a single sign-on session (from GET /admin/auth/me); kept in memory only. */
let csrfToken: string | null = null;

export function setCsrf(token: string | null): void {
  csrfToken = token;
}

export interface Me {
  actor: string;
  role: 'viewer' | 'operator' | 'admin';
  method: 'token' | 'oidc';
  name: string | null;
  capabilities: Record<'logs' | 'stats' | 'keys' | 'approvals' | 'policies' | 'events', boolean>;
  csrf_token: string | null;
}

export function getToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** Fired when the server refuses the stored token: the app goes back to the sign-in form. */
export const SIGNED_OUT_EVENT = 'aigov:signed-out';

export type Query = Record<string, string | number | undefined | null>;

export function queryString(q: Query = {}): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(q))
    if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  const s = params.toString();
  return s ? `?${s}` : '';
}

async function send(
  method: string,
  path: string,
  options: { query?: Query; body?: unknown; token?: string } = {},
): Promise<Response> {
  const token = options.token ?? getToken();
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  else if (csrfToken && method !== 'GET') headers['x-csrf-token'] = csrfToken;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`/admin${path}${queryString(options.query)}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    cache: 'no-store',
    // The session cookie of a single sign-on (HttpOnly, SameSite=Lax) goes along; a token does not need it.
    credentials: token ? 'omit' : 'same-origin',
  });
  if (res.ok) return res;
  let code = 'http_error';
  let message = `${res.status} ${res.statusText}`;
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string } };
    code = body.error?.code ?? code;
    message = body.error?.message ?? message;
  } catch {
    // not JSON
  }
  if (res.status === 401 && options.token === undefined) {
    clearToken();
    window.dispatchEvent(new Event(SIGNED_OUT_EVENT));
  }
  throw new ApiError(res.status, code, message);
}

export async function api<T>(
  method: 'GET' | 'POST' | 'PATCH',
  path: string,
  options: { query?: Query; body?: unknown; token?: string } = {},
): Promise<T> {
  const res = await send(method, path, options);
  return (await res.json()) as T;
}

/** Downloads a CSV export (the Authorization header rules out a plain link). */
export async function downloadCsv(query: Query): Promise<void> {
  const res = await send('GET', '/logs', { query: { ...query, format: 'csv' } });
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = `aigov-logs-${new Date().toISOString().replace(/[:.]/g, '-')}.csv`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// ---- response types (mirror src/admin/schemas.ts) ------------------------------------------

export interface KeyView {
  id: string;
  owner: string;
  name: string | null;
  team: string | null;
  tags: string[];
  models: string[];
  status: 'active' | 'expired' | 'revoked';
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
  rotated_from: string | null;
  rotated_to: string | null;
}

export interface Reason {
  policy?: string;
  action?: string;
  message?: string;
}

export interface LogView {
  id: string;
  request_id: string;
  created_at: string;
  key_id: string | null;
  owner: string | null;
  team: string | null;
  method: string;
  route: string;
  provider: string | null;
  model: string | null;
  decision: string;
  policy_ids: string[];
  reasons: Reason[] | null;
  risk_score: number | null;
  status_code: number;
  latency_ms: number | null;
  upstream_ms: number | null;
  overhead_ms: number | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  total_tokens: number | null;
  /** Parts of prompt_tokens (cache reads, cache writes) and of completion_tokens (reasoning). */
  cached_tokens: number | null;
  cache_write_tokens: number | null;
  reasoning_tokens: number | null;
  cost_usd: number | null;
  stream: boolean;
  aborted: boolean;
  degraded: boolean;
  client_ip: string | null;
  error: string | null;
  content?: string | null;
}

export interface LogsPage {
  data: LogView[];
  next_cursor: string | null;
}

export interface Totals {
  requests: number;
  blocks: number;
  redacts: number;
  errors: number;
  tokens: number;
  cost_usd: number;
  unknown_usage: number;
}

export interface Stats {
  bucket: 'hour' | 'day';
  from: string;
  to: string;
  totals: Totals;
  series: (Totals & { t: string })[];
  by_team: (Totals & { team: string | null })[];
  by_model: (Totals & { model: string | null })[];
  by_rule: { rule: string; hits: number; blocks: number }[];
}

export interface PolicySummary {
  version: string;
  path: string;
  files: string[];
  rule_count: number;
  defaults: Record<string, unknown>;
  rules: {
    id: string;
    description: string | null;
    action: string;
    mode: string;
    phase: string;
    risk: number;
    file: string;
  }[];
  limits: {
    id: string;
    description: string | null;
    metric: string;
    amount: number;
    per: string;
    by: string;
    mode: string;
  }[];
  status: {
    loaded_at: string;
    reloads: number;
    failed_reloads: number;
    last_error: string | null;
    last_error_at: string | null;
  };
}

export interface DryRunResult {
  allowed: boolean;
  decision: 'allow' | 'block' | 'redact';
  risk_score: number;
  reasons: Reason[];
  monitor: Reason[];
  policy_source: 'active' | 'proposed';
  policy_version: string;
  provider: string;
  route: string;
  model: string | null;
  limits: string[];
  redacted?: unknown;
}

/** A tool-call approval (src/mcp/approvals.ts approvalView). */
export interface ApprovalView {
  id: string;
  state: 'pending' | 'approved' | 'denied' | 'used' | 'expired';
  status: 'pending' | 'approved' | 'denied';
  created_at: string;
  expires_at: string;
  key_id: string;
  owner: string | null;
  team: string | null;
  server: string;
  tool: string;
  arguments_sha256: string;
  arguments: string | null;
  policy_version: string;
  rule_ids: string[];
  request_id: string | null;
  decided_at: string | null;
  decided_by: string | null;
  reason: string | null;
  used_at: string | null;
  used_request_id: string | null;
}

/** One row of the admin audit trail (GET /admin/events; src/admin/schemas.ts adminEventView). */
export interface AdminEventView {
  seq: number;
  created_at: string;
  actor: string;
  actor_role: string;
  auth_method: string;
  action: string;
  target: string | null;
  outcome: string;
  request_id: string | null;
  client_ip: string | null;
  before: unknown;
  after: unknown;
  row_hash: string;
}
