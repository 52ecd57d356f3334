import type { Db } from '../db/client.js';
import type { KeyIdentity } from './identity.js';
import { generateKey } from './key-format.js';
import { hashSecret } from './hashing.js';

/** A key row as stored: identity plus what verification needs. Never the secret. */
export interface StoredKey extends KeyIdentity {
  secretHash: string;
  createdAt: Date;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
  rotatedFrom: string | null;
  rotatedTo: string | null;
}

export interface NewKeyInput {
  owner: string;
  name?: string | null;
  team?: string | null;
  tags?: string[];
  models?: string[];
  expiresAt?: Date | null;
}

interface KeyRow {
  [column: string]: unknown;
  id: string;
  secret_hash: string;
  owner: string;
  name: string | null;
  team: string | null;
  tags: string[] | null;
  models: string[] | null;
  created_at: Date | string;
  expires_at: Date | string | null;
  revoked_at: Date | string | null;
  last_used_at: Date | string | null;
  rotated_from: string | null;
  rotated_to: string | null;
}

const COLUMNS =
  'id, secret_hash, owner, name, team, tags, models, created_at, expires_at, revoked_at, last_used_at, rotated_from, rotated_to';

function toDate(v: Date | string | null): Date | null {
  if (v === null) return null;
  return v instanceof Date ? v : new Date(v);
}

function fromRow(r: KeyRow): StoredKey {
  return {
    id: r.id,
    secretHash: r.secret_hash,
    owner: r.owner,
    name: r.name,
    team: r.team,
    tags: r.tags ?? [],
    models: r.models ?? [],
    createdAt: toDate(r.created_at) ?? new Date(0),
    expiresAt: toDate(r.expires_at),
    revokedAt: toDate(r.revoked_at),
    lastUsedAt: toDate(r.last_used_at),
    rotatedFrom: r.rotated_from,
    rotatedTo: r.rotated_to,
  };
}

/** The identity half of a stored key: what may leave the auth module. */
export function identityOf(k: StoredKey): KeyIdentity {
  return {
    id: k.id,
    owner: k.owner,
    name: k.name,
    team: k.team,
    tags: k.tags,
    models: k.models,
    expiresAt: k.expiresAt,
  };
}

export class KeyStore {
  constructor(
    private readonly db: Db,
    private readonly bcryptCost: number,
  ) {}

  /** Returns the full key exactly once; only its bcrypt hash is stored. */
  async create(
    input: NewKeyInput,
    rotatedFrom: string | null = null,
  ): Promise<{ key: string; stored: StoredKey }> {
    const generated = generateKey();
    const hash = await hashSecret(generated.secret, this.bcryptCost);
    const rows = await this.db.query<KeyRow>(
      `INSERT INTO api_keys (id, secret_hash, owner, name, team, tags, models, expires_at, rotated_from)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ${COLUMNS}`,
      [
        generated.id,
        hash,
        input.owner,
        input.name ?? null,
        input.team ?? null,
        input.tags ?? [],
        input.models ?? [],
        input.expiresAt ?? null,
        rotatedFrom,
      ],
    );
    return { key: generated.key, stored: fromRow(rows[0]!) };
  }

  async findById(id: string): Promise<StoredKey | null> {
    const rows = await this.db.query<KeyRow>(`SELECT ${COLUMNS} FROM api_keys WHERE id = $1`, [id]);
    return rows[0] ? fromRow(rows[0]) : null;
  }

  async list(): Promise<StoredKey[]> {
    const rows = await this.db.query<KeyRow>(`SELECT ${COLUMNS} FROM api_keys ORDER BY created_at, id`);
    return rows.map(fromRow);
  }

  async count(): Promise<number> {
    const rows = await this.db.query<{ n: number | string }>('SELECT count(*)::int AS n FROM api_keys');
    return Number(rows[0]?.n ?? 0);
  }

  /** Returns false when no such key, or it was already revoked. */
  async revoke(id: string): Promise<boolean> {
    const rows = await this.db.query(
      'UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id',
      [id],
    );
    return rows.length > 0;
  }

  /**
   * New key with the same attributes; the old one keeps working until the grace period ends
   * (its expiry is pulled in, never pushed out). Returns null for an unknown or revoked key.
   */
  async rotate(
    id: string,
    graceMs: number,
  ): Promise<{ key: string; stored: StoredKey; old: StoredKey } | null> {
    const old = await this.findById(id);
    if (!old || old.revokedAt) return null;
    const created = await this.create(
      {
        owner: old.owner,
        name: old.name,
        team: old.team,
        tags: old.tags,
        models: old.models,
        expiresAt: old.expiresAt,
      },
      old.id,
    );
    const graceEnd = new Date(Date.now() + graceMs);
    const rows = await this.db.query<KeyRow>(
      `UPDATE api_keys SET rotated_to = $2,
         expires_at = CASE WHEN expires_at IS NULL OR expires_at > $3 THEN $3 ELSE expires_at END
       WHERE id = $1 RETURNING ${COLUMNS}`,
      [old.id, created.stored.id, graceEnd],
    );
    return { ...created, old: fromRow(rows[0]!) };
  }

  /** Batched last-used update: one statement for every key seen since the last flush. */
  async touch(ids: readonly string[], at: Date): Promise<void> {
    if (ids.length === 0) return;
    await this.db.query(
      'UPDATE api_keys SET last_used_at = $2 WHERE id = ANY($1) AND (last_used_at IS NULL OR last_used_at < $2)',
      [ids, at],
    );
  }
}
