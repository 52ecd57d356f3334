import { generateKey, type GeneratedKey } from '../../src/auth/key-format.js';
import { hashSecret } from '../../src/auth/hashing.js';
import type { StoredKey } from '../../src/auth/key-store.js';

/** A fresh key and the row a key store would hold for it, hashed at the given bcrypt cost. */
export async function storedKeyFixture(
  cost: number,
  overrides: Partial<StoredKey> = {},
): Promise<{ g: GeneratedKey; stored: StoredKey }> {
  const g = generateKey();
  const stored: StoredKey = {
    id: g.id,
    secretHash: await hashSecret(g.secret, cost),
    owner: 'alice@example.com',
    name: null,
    team: null,
    tags: [],
    models: [],
    expiresAt: null,
    createdAt: new Date(),
    revokedAt: null,
    lastUsedAt: null,
    rotatedFrom: null,
    rotatedTo: null,
    ...overrides,
  };
  return { g, stored };
}
