import type { FastifyRequest } from 'fastify';
import { AigovError } from '../errors.js';
import type { Services } from '../services.js';

/** Per client IP, before authentication: bounds the work an anonymous caller can cause. */
export function throttleByIp(services: Services, request: FastifyRequest): void {
  const wait = services.checkThrottles.perIp.hit(request.ip);
  if (wait > 0)
    throw new AigovError('rate_limited', { retryAfter: wait, providerCode: 'check_rate_limit_ip' });
}

/** Per key, after authentication. */
export function throttleByKey(services: Services, keyId: string): void {
  const wait = services.checkThrottles.perKey.hit(keyId);
  if (wait > 0)
    throw new AigovError('rate_limited', { retryAfter: wait, providerCode: 'check_rate_limit_key' });
}
