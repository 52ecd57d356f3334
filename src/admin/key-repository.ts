import type { Db } from '../db/client.js';
import type { StoredKey } from '../auth/key-store.js';
import type { KeyView, UpdateKeyBody } from './schemas.js';

/**
 * What the admin API needs from api_keys beyond KeyStore: attribute updates. The secret, the
 * owner and the rotation links are never changed here.
 */
export class AdminKeyRepository {
  constructor(private readonly db: Db) {}

  /** Returns false when no such key. Only the fields present in `patch` change. */
  async update(id: string, patch: UpdateKeyBody): Promise<boolean> {
    const sets: string[] = [];
    const params: unknown[] = [id];
    const set = (column: string, value: unknown): void => {
      params.push(value);
      sets.push(`${column} = $${params.length}`);
    };
    if (patch.name !== undefined) set('name', patch.name);
    if (patch.team !== undefined) set('team', patch.team);
    if (patch.tags !== undefined) set('tags', patch.tags);
    if (patch.models !== undefined) set('models', patch.models);
    if (sets.length === 0)
      return (await this.db.query('SELECT 1 FROM api_keys WHERE id = $1', [id])).length > 0;
    const rows = await this.db.query(
      `UPDATE api_keys SET ${sets.join(', ')} WHERE id = $1 RETURNING id`,
      params,
    );
    return rows.length > 0;
  }
}

function iso(d: Date | null): string | null {
  return d === null ? null : d.toISOString();
}

export function keyStatus(k: StoredKey, now = Date.now()): KeyView['status'] {
  if (k.revokedAt) return 'revoked';
  if (k.expiresAt && k.expiresAt.getTime() <= now) return 'expired';
  return 'active';
}

export function toKeyView(k: StoredKey): KeyView {
  return {
    id: k.id,
    owner: k.owner,
    name: k.name,
    team: k.team,
    tags: k.tags,
    models: k.models,
    status: keyStatus(k),
    created_at: k.createdAt.toISOString(),
    expires_at: iso(k.expiresAt),
    revoked_at: iso(k.revokedAt),
    last_used_at: iso(k.lastUsedAt),
    rotated_from: k.rotatedFrom,
    rotated_to: k.rotatedTo,
  };
}
