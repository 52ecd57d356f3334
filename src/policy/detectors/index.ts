import { apiSecret } from './api-secret.js';
import { creditCard } from './credit-card.js';
import { email } from './email.js';
import { iban } from './iban.js';
import { ipAddress } from './ip-address.js';
import { phone } from './phone.js';
import { promptInjection } from './prompt-injection.js';
import { ssn } from './ssn.js';
import type { Detector } from './types.js';

export type { Detector, Finding } from './types.js';
export { normalizeForDetection, toOriginalSpan, type NormalizedText } from './normalize.js';

/** The registry policy files name in `detect: [...]`. */
export const detectors: Readonly<Record<string, Detector>> = Object.freeze({
  email,
  phone,
  ssn,
  credit_card: creditCard,
  iban,
  ip_address: ipAddress,
  api_secret: apiSecret,
  prompt_injection: promptInjection,
});

export const detectorNames: readonly string[] = Object.freeze(Object.keys(detectors));

export function getDetector(name: string): Detector | undefined {
  return Object.hasOwn(detectors, name) ? detectors[name] : undefined;
}
