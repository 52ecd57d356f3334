import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * HMAC-SHA256 signatures over chain heads (checkpoints) and retention anchors. Someone who can
 * write to the database but does not hold AIGOV_AUDIT_HMAC_KEY cannot forge either, so cutting
 * rows off a chain, or claiming retention removed them, is detected.
 */
export function checkpointMessage(replicaId: string, seq: number, rowHash: string): string {
  return `aigov-checkpoint-v1\n${replicaId}\n${seq}\n${rowHash}`;
}

export function anchorMessage(replicaId: string, lastSeq: number, lastHash: string): string {
  return `aigov-retention-v1\n${replicaId}\n${lastSeq}\n${lastHash}`;
}

export function sign(key: string, message: string): string {
  return createHmac('sha256', key).update(message).digest('hex');
}

export function signatureValid(key: string, message: string, hmac: string | null): boolean {
  if (!hmac || !/^[0-9a-f]{64}$/.test(hmac)) return false;
  return timingSafeEqual(Buffer.from(sign(key, message), 'hex'), Buffer.from(hmac, 'hex'));
}
