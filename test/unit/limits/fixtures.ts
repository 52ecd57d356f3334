import type { KeyIdentity } from '../../../src/auth/identity.js';
import type { CompiledLimitRule } from '../../../src/policy/limit-rule.js';
import type { NormalizedRequest } from '../../../src/providers/types.js';

export function rule(over: Partial<CompiledLimitRule> = {}): CompiledLimitRule {
  return {
    id: 'per-key-rate',
    description: null,
    metric: 'requests',
    amount: 3,
    window: { kind: 'duration', ms: 60_000, label: '1m' },
    by: 'key',
    mode: 'enforce',
    failMode: undefined,
    appliesTo: () => true,
    ...over,
  };
}

export function request(over: Partial<NormalizedRequest> = {}): NormalizedRequest {
  return {
    provider: 'openai',
    family: 'openai',
    route: '/v1/chat/completions',
    model: 'gpt-4o',
    texts: [],
    prompt: 'hello world!',
    maxTokens: 100,
    stream: false,
    metadata: {},
    ...over,
  };
}

export function identity(over: Partial<KeyIdentity> = {}): KeyIdentity {
  return {
    id: 'k_1',
    owner: 'ada@example.com',
    name: null,
    team: 'finance',
    tags: [],
    models: [],
    expiresAt: null,
    ...over,
  };
}

/** A clock the test moves by hand; starts 10 s into a minute so reset times are round. */
export function manualClock(start = Date.UTC(2024, 0, 1, 0, 0, 10)): {
  now: () => number;
  advance: (ms: number) => void;
} {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}
