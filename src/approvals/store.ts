import { createHash, createHmac, randomBytes } from 'node:crypto';
import { request } from 'undici';
import { canonicalJson } from '../audit/canonical.js';
import type { Db } from '../db/client.js';

/** What one approval is bound to: the same caller making the same call under the same policies. */
export interface ApprovalBinding {
  keyId: string;
  server: string;
  tool: string;
  argsSha256: string;
  policyVersion: string;
}

export interface Approval extends ApprovalBinding {
  id: string;
  status: 'pending' | 'approved' | 'denied';
  createdAt: Date;
  expiresAt: Date;
  owner: string | null;
  team: string | null;
  ruleIds: string[];
  arguments: string | null;
  requestId: string | null;
  decidedAt: Date | null;
  decidedBy: string | null;
  reason: string | null;
  usedAt: Date | null;
  usedRequestId: string | null;
}

/** SHA-256 over the arguments' canonical JSON (sorted keys): key order does not change the call. */
export function argumentsHash(args: unknown): string {
  return createHash('sha256').update(canonicalJson(args)).digest('hex');
}

type ApprovalRow = Record<string, unknown>;

function date(v: unknown): Date | null {
  if (v === null || v === undefined) return null;
  return v instanceof Date ? v : new Date(String(v));
}

function toApproval(r: ApprovalRow): Approval {
  return {
    id: String(r.id),
    status: r.status as Approval['status'],
    createdAt: date(r.created_at) ?? new Date(0),
    expiresAt: date(r.expires_at) ?? new Date(0),
    keyId: String(r.key_id),
    owner: (r.owner as string | null) ?? null,
    team: (r.team as string | null) ?? null,
    server: String(r.server),
    tool: String(r.tool),
    argsSha256: String(r.args_sha256),
    policyVersion: String(r.policy_version),
    ruleIds: Array.isArray(r.rule_ids) ? (r.rule_ids as string[]) : [],
    arguments: (r.arguments as string | null) ?? null,
    requestId: (r.request_id as string | null) ?? null,
    decidedAt: date(r.decided_at),
    decidedBy: (r.decided_by as string | null) ?? null,
    reason: (r.reason as string | null) ?? null,
    usedAt: date(r.used_at),
    usedRequestId: (r.used_request_id as string | null) ?? null,
  };
}

/** The answer an operator sees (admin API, dashboard, webhook). */
export function approvalView(a: Approval, now = new Date()): Record<string, unknown> {
  const state =
    a.usedAt !== null ? 'used' : a.status === 'denied' ? 'denied' : a.expiresAt <= now ? 'expired' : a.status;
  return {
    id: a.id,
    state,
    status: a.status,
    created_at: a.createdAt.toISOString(),
    expires_at: a.expiresAt.toISOString(),
    key_id: a.keyId,
    owner: a.owner,
    team: a.team,
    server: a.server,
    tool: a.tool,
    arguments_sha256: a.argsSha256,
    arguments: a.arguments,
    policy_version: a.policyVersion,
    rule_ids: a.ruleIds,
    request_id: a.requestId,
    decided_at: a.decidedAt?.toISOString() ?? null,
    decided_by: a.decidedBy,
    reason: a.reason,
    used_at: a.usedAt?.toISOString() ?? null,
    used_request_id: a.usedRequestId,
  };
}

const COLUMNS = `id, status, created_at, expires_at, key_id, owner, team, server, tool, args_sha256,
  policy_version, rule_ids, arguments, request_id, decided_at, decided_by, reason, used_at, used_request_id`;

export interface ApprovalStoreOptions {
  ttlMs: number;
  now?: () => Date;
  /** Told about each new pending approval (the webhook). Never awaited by the request. */
  onPending?: (a: Approval) => void;
}

export type DecideResult =
  { ok: true; approval: Approval } | { ok: false; reason: 'not_found' | 'expired' | 'decided' };

/** Approvals in Postgres, so all replicas agree and one approval is used by one call only. */
export class ApprovalStore {
  private readonly now: () => Date;

  constructor(
    private readonly db: Db,
    private readonly options: ApprovalStoreOptions,
  ) {
    this.now = options.now ?? (() => new Date());
  }

  /**
   * Uses a granted, unexpired, unused approval for this exact call, atomically (a second replica
   * retrying the same call at the same moment finds none). Returns its id, or null.
   */
  async consume(b: ApprovalBinding, requestId: string): Promise<string | null> {
    const rows = await this.db.query<{ id: string }>(
      `UPDATE mcp_approvals SET used_at = $6, used_request_id = $7
        WHERE id = (
          SELECT id FROM mcp_approvals
           WHERE key_id = $1 AND server = $2 AND tool = $3 AND args_sha256 = $4 AND policy_version = $5
             AND status = 'approved' AND used_at IS NULL AND expires_at > $6
           ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
          AND used_at IS NULL
        RETURNING id`,
      [b.keyId, b.server, b.tool, b.argsSha256, b.policyVersion, this.now(), requestId],
    );
    return rows[0]?.id ?? null;
  }

  /**
   * The pending approval for this call: the existing one (a retry before anyone decided does not
   * file a second request), else a new one.
   */
  async request(
    b: ApprovalBinding,
    extra: {
      owner: string | null;
      team: string | null;
      ruleIds: string[];
      arguments: string | null;
      requestId: string;
    },
  ): Promise<{ approval: Approval; created: boolean }> {
    const now = this.now();
    const [existing] = await this.db.query(
      `SELECT ${COLUMNS} FROM mcp_approvals
        WHERE key_id = $1 AND server = $2 AND tool = $3 AND args_sha256 = $4 AND policy_version = $5
          AND status = 'pending' AND expires_at > $6
        ORDER BY created_at DESC LIMIT 1`,
      [b.keyId, b.server, b.tool, b.argsSha256, b.policyVersion, now],
    );
    if (existing) return { approval: toApproval(existing), created: false };
    const id = `apr_${randomBytes(12).toString('base64url')}`;
    const [row] = await this.db.query(
      `INSERT INTO mcp_approvals (id, created_at, expires_at, key_id, owner, team, server, tool, args_sha256,
         policy_version, rule_ids, arguments, request_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING ${COLUMNS}`,
      [
        id,
        now,
        new Date(now.getTime() + this.options.ttlMs),
        b.keyId,
        extra.owner,
        extra.team,
        b.server,
        b.tool,
        b.argsSha256,
        b.policyVersion,
        extra.ruleIds,
        extra.arguments,
        extra.requestId,
      ],
    );
    const approval = toApproval(row!);
    this.options.onPending?.(approval);
    return { approval, created: true };
  }

  async get(id: string): Promise<Approval | null> {
    const [row] = await this.db.query(`SELECT ${COLUMNS} FROM mcp_approvals WHERE id = $1`, [id]);
    return row ? toApproval(row) : null;
  }

  async list(filter: {
    state?: 'pending' | 'approved' | 'denied' | 'used' | 'expired';
    limit: number;
  }): Promise<Approval[]> {
    const now = this.now();
    const where: Record<string, string> = {
      pending: `status = 'pending' AND expires_at > $2`,
      approved: `status = 'approved' AND used_at IS NULL AND expires_at > $2`,
      denied: `status = 'denied'`,
      used: `used_at IS NOT NULL`,
      expired: `status <> 'denied' AND used_at IS NULL AND expires_at <= $2`,
    };
    const cond = filter.state ? where[filter.state] : 'true';
    const rows = await this.db.query(
      `SELECT ${COLUMNS} FROM mcp_approvals WHERE ${cond} AND $2::timestamptz IS NOT NULL
        ORDER BY created_at DESC LIMIT $1`,
      [filter.limit, now],
    );
    return rows.map(toApproval);
  }

  /** Approves or denies a pending, unexpired approval; anything else is refused with the reason. */
  async decide(
    id: string,
    status: 'approved' | 'denied',
    by: string | null,
    reason: string | null,
  ): Promise<DecideResult> {
    const now = this.now();
    const [row] = await this.db.query(
      `UPDATE mcp_approvals SET status = $2, decided_at = $3, decided_by = $4, reason = $5
        WHERE id = $1 AND status = 'pending' AND expires_at > $3 RETURNING ${COLUMNS}`,
      [id, status, now, by, reason],
    );
    if (row) return { ok: true, approval: toApproval(row) };
    const current = await this.get(id);
    if (current === null) return { ok: false, reason: 'not_found' };
    if (current.status !== 'pending') return { ok: false, reason: 'decided' };
    return { ok: false, reason: 'expired' };
  }
}

export interface WebhookOptions {
  url: string;
  secret: string | null;
  onError: (err: unknown) => void;
  timeoutMs?: number;
}

/**
 * The body's HMAC-SHA256 over `${timestamp}.${body}` (hex), sent as
 * `x-aigov-signature: t=<timestamp>,v1=<hex>`; receivers recompute it and compare in constant time.
 */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

/** POSTs each new pending approval to the configured URL; failures are logged, never retried inline. */
export function approvalWebhook(options: WebhookOptions): (a: Approval) => void {
  return (a) => {
    const body = JSON.stringify({ type: 'approval.pending', approval: approvalView(a) });
    const timestamp = String(Math.floor(Date.now() / 1000));
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'aigov' };
    if (options.secret !== null)
      headers['x-aigov-signature'] = `t=${timestamp},v1=${signWebhook(options.secret, timestamp, body)}`;
    request(options.url, {
      method: 'POST',
      headers,
      body,
      headersTimeout: options.timeoutMs ?? 5_000,
      bodyTimeout: options.timeoutMs ?? 5_000,
    })
      .then(async (res) => {
        await res.body.dump();
        if (res.statusCode >= 300) options.onError(new Error(`webhook answered ${res.statusCode}`));
      })
      .catch(options.onError);
  };
}
