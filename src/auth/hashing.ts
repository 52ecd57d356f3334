import bcrypt from 'bcrypt';

/** bcrypt's async API runs in libuv's thread pool, so hashing never blocks the event loop. */
export function hashSecret(secret: string, cost: number): Promise<string> {
  return bcrypt.hash(secret, cost);
}

export function verifySecret(secret: string, hash: string): Promise<boolean> {
  return bcrypt.compare(secret, hash);
}
