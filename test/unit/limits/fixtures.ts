import type { KeyIdentity } from '../../../src/auth/identity.js';
import type { CompiledLimitRule } from '../../../src/policy/limit-rule.js';
import type { NormalizedRequest } from '../../../src/providers/types.js';
import type { MemoryLimitStore } from '../../../src/limits/memory-store.js';
import type { LimitItem, LimitStore, ReconcileEntry } from '../../../src/limits/types.js';

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

/** A store whose health the test controls: answers from memory, throws, or never answers. */
export class FlakyStore implements LimitStore {
  readonly kind = 'redis' as const;
  mode: 'ok' | 'throw' | 'hang' = 'ok';
  calls = 0;
  constructor(private readonly inner: MemoryLimitStore) {}
  private gate<T>(fn: () => Promise<T>): Promise<T> {
    this.calls++;
    if (this.mode === 'throw') return Promise.reject(new Error('ECONNREFUSED'));
    if (this.mode === 'hang') return new Promise<T>(() => {});
    return fn();
  }
  reserve(items: readonly LimitItem[], id: string, ttl: number) {
    return this.gate(() => this.inner.reserve(items, id, ttl));
  }
  reconcile(id: string, counters: readonly ReconcileEntry[]) {
    return this.gate(() => this.inner.reconcile(id, counters));
  }
  peek(items: readonly LimitItem[]) {
    return this.gate(() => this.inner.peek(items));
  }
  lease(item: LimitItem, want: number, debt: number) {
    return this.gate(() => this.inner.lease(item, want, debt));
  }
  giveBack(item: LimitItem, amount: number, at: number) {
    return this.gate(() => this.inner.giveBack(item, amount, at));
  }
  ping() {
    return this.gate(async () => {});
  }
  async close() {}
}
