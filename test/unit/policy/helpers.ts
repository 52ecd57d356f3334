import type { KeyIdentity } from '../../../src/auth/identity.js';
import type { NormalizedRequest, TextSlot } from '../../../src/providers/types.js';
import { compilePolicies, type CompiledPolicySet } from '../../../src/policy/index.js';

/** A chat request whose user messages are `texts` (one slot each). */
export function req(
  texts: string | string[] = 'hello',
  over: Partial<NormalizedRequest> = {},
): NormalizedRequest {
  const list = typeof texts === 'string' ? [texts] : texts;
  const slots: TextSlot[] = list.map((text, i) => ({ path: ['messages', i, 'content'], role: 'user', text }));
  return {
    provider: 'openai',
    family: 'openai',
    route: '/v1/chat/completions',
    model: 'gpt-4o',
    texts: slots,
    prompt: list.join('\n'),
    maxTokens: null,
    stream: false,
    metadata: {},
    ...over,
  };
}

export function key(over: Partial<KeyIdentity> = {}): KeyIdentity {
  return {
    id: 'key_1',
    owner: 'alice@example.com',
    name: 'ci',
    team: 'eng',
    tags: [],
    models: [],
    expiresAt: null,
    ...over,
  };
}

/** Compiles one in-memory policy document. */
export function policy(rules: unknown[], defaults?: unknown): CompiledPolicySet {
  const doc: Record<string, unknown> = { version: 1, rules };
  if (defaults !== undefined) doc.defaults = defaults;
  return compilePolicies([{ file: 'test.yaml', doc }]);
}
