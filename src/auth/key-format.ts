import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';

/**
 * aigov API keys look like `aigov_<id>_<secret><checksum>`:
 * - `aigov_` makes them greppable by secret scanners;
 * - <id> (12 base62 chars) is public and indexed, so verification is one primary-key lookup;
 * - <secret> (32 base62 chars, ~190 bits) is only ever stored as a bcrypt hash;
 * - <checksum> (6 base62 chars of CRC-32 over everything before it) rejects typos and random
 *   guesses without any I/O.
 */
export const KEY_PREFIX = 'aigov_';
const ID_LENGTH = 12;
const SECRET_LENGTH = 32;
const CHECKSUM_LENGTH = 6;
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const KEY_RE = new RegExp(
  `^${KEY_PREFIX}([0-9A-Za-z]{${ID_LENGTH}})_([0-9A-Za-z]{${SECRET_LENGTH}})([0-9A-Za-z]{${CHECKSUM_LENGTH}})$`,
);
export const KEY_LENGTH = KEY_PREFIX.length + ID_LENGTH + 1 + SECRET_LENGTH + CHECKSUM_LENGTH;
const ID_RE = new RegExp(`^[0-9A-Za-z]{${ID_LENGTH}}$`);

/** Uniform base62 via rejection sampling (bytes >= 248 would bias the low characters). */
function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248) out += ALPHABET[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

function base62Fixed(value: number, width: number): string {
  let out = '';
  let v = value;
  for (let i = 0; i < width; i++) {
    out = ALPHABET[v % 62] + out;
    v = Math.floor(v / 62);
  }
  return out;
}

function checksumOf(body: string): string {
  return base62Fixed(crc32(body) >>> 0, CHECKSUM_LENGTH);
}

export interface GeneratedKey {
  id: string;
  secret: string;
  /** The full key the caller presents; shown once, never stored. */
  key: string;
}

/** The presented form of an id and secret, checksum included. */
export function formatKey(id: string, secret: string): string {
  const body = `${KEY_PREFIX}${id}_${secret}`;
  return body + checksumOf(body);
}

export function generateKey(): GeneratedKey {
  const id = randomBase62(ID_LENGTH);
  const secret = randomBase62(SECRET_LENGTH);
  return { id, secret, key: formatKey(id, secret) };
}

export interface ParsedKey {
  id: string;
  secret: string;
}

/** Format and checksum only: no I/O, so garbage never reaches the database or bcrypt. */
export function parseKey(key: string): ParsedKey | null {
  if (key.length !== KEY_LENGTH) return null;
  const m = KEY_RE.exec(key);
  if (!m) return null;
  const [, id, secret, checksum] = m as unknown as [string, string, string, string];
  if (checksumOf(`${KEY_PREFIX}${id}_${secret}`) !== checksum) return null;
  return { id, secret };
}

export function isKeyId(value: string): boolean {
  return ID_RE.test(value);
}
