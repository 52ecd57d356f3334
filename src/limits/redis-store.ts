import { createHash } from 'node:crypto';
import { Redis, type Cluster, type RedisOptions } from 'ioredis';
import { GIVE_BACK_SCRIPT, LEASE_SCRIPT, RECONCILE_SCRIPT, RESERVE_SCRIPT } from './redis-scripts.js';
import { StallGuard, StallTimeoutError } from './stall-guard.js';
import type {
  ItemState,
  LeaseGrant,
  LimitItem,
  LimitStore,
  ReconcileEntry,
  StoreReserveResult,
} from './types.js';
import { windowSpan } from './window.js';

export interface RedisLimitStoreOptions {
  /** redis:// URL; ignored when `client` is given. */
  url?: string;
  /** An existing connection (standalone or Cluster). The store closes it on close() only if it created it. */
  client?: Redis | Cluster;
  /** Prepended to every key; must not contain `{` or `}` (they would move the hash tag). Default `aigov:`. */
  keyPrefix?: string;
  /**
   * A command fails when Redis has answered nothing for this long while it waited (a stall, see
   * StallGuard): a hung Redis fails the call instead of hanging the request, but a busy event loop
   * or a command queued behind others on a healthy connection does not. Default 100 ms. Applies
   * to a given `client` only when set explicitly.
   */
  commandTimeoutMs?: number;
  connectTimeoutMs?: number;
  /**
   * Redis Cluster: counters of different subjects live in different slots, so one reservation
   * becomes one atomic script per subject, with compensation on refusal (see docs/limits.md).
   * Off (standalone / Sentinel): one script for the whole reservation.
   */
  clusterMode?: boolean;
  /**
   * After this many commands in a row time out, the connection is dropped and re-opened (only for
   * a connection the store created). A timed-out command stays queued on its socket waiting for a
   * reply, so a half-open TCP connection would otherwise never recover. Default 3.
   */
  recycleAfterTimeouts?: number;
  /** Extra counter lifetime past the window end, to absorb clock skew between replicas. Default 60 s. */
  ttlSlackMs?: number;
  now?: () => number;
}

interface Script {
  source: string;
  sha: string;
}

function script(source: string): Script {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

const RESERVE = script(RESERVE_SCRIPT);
const RECONCILE = script(RECONCILE_SCRIPT);
const LEASE = script(LEASE_SCRIPT);
const GIVE_BACK = script(GIVE_BACK_SCRIPT);

/** Records of no-op reconciles are unlinked together: at most this many, or this long after the first. */
const FORGET_BATCH = 500;
const FORGET_DELAY_MS = 50;

interface Resolved {
  index: number;
  item: LimitItem;
  key: string;
  tag: string;
  resetMs: number;
  ttlMs: number;
}

export class RedisLimitStore implements LimitStore {
  readonly kind = 'redis' as const;
  readonly client: Redis | Cluster;
  /** How often EVALSHA answered NOSCRIPT and the store fell back to EVAL (tests and metrics). */
  noscriptFallbacks = 0;
  private readonly ownsClient: boolean;
  private readonly prefix: string;
  private readonly clusterMode: boolean;
  private readonly ttlSlackMs: number;
  private readonly now: () => number;
  private loaded: Promise<void> | null = null;
  private readonly recycleAfterTimeouts: number;
  private consecutiveTimeouts = 0;
  /** Connections recycled after repeated timeouts (tests and metrics). */
  recycles = 0;
  private readonly guard: StallGuard | null;
  /** Reservation records whose reconcile changed nothing, waiting for one batched UNLINK. */
  private forgotten: string[] = [];
  private forgetTimer: NodeJS.Timeout | null = null;
  /** Batched UNLINKs sent (tests and metrics). */
  unlinks = 0;

  constructor(options: RedisLimitStoreOptions = {}) {
    this.prefix = options.keyPrefix ?? 'aigov:';
    if (/[{}]/.test(this.prefix)) throw new RangeError('keyPrefix must not contain { or }');
    this.clusterMode = options.clusterMode ?? false;
    this.ttlSlackMs = options.ttlSlackMs ?? 60_000;
    this.now = options.now ?? Date.now;
    this.recycleAfterTimeouts = options.recycleAfterTimeouts ?? 3;
    const commandTimeoutMs = options.commandTimeoutMs ?? (options.client ? undefined : 100);
    // Not ioredis's `commandTimeout`: its timer per command fires in the timers phase before the
    // poll phase reads the reply, so under a CPU burst replies already received "time out".
    this.guard =
      commandTimeoutMs === undefined
        ? null
        : new StallGuard({ timeoutMs: commandTimeoutMs, message: 'Redis command timed out' });
    if (options.client) {
      this.client = options.client;
      this.ownsClient = false;
    } else {
      const redisOptions: RedisOptions = {
        connectTimeout: options.connectTimeoutMs ?? 1000,
        // A limit check is on the request path: fail now and let the fail mode decide, never queue.
        maxRetriesPerRequest: 0,
        enableOfflineQueue: false,
        // Reserve/reconcile scripts from concurrent requests share one round trip per tick.
        enableAutoPipelining: true,
        retryStrategy: (times) => Math.min(times * 100, 1000),
      };
      this.client = options.url ? new Redis(options.url, redisOptions) : new Redis(redisOptions);
      // Connection errors surface as failed commands (and the limiter's fail mode); without a
      // listener ioredis would print every reconnect failure to stderr.
      this.client.on('error', () => {});
      this.ownsClient = true;
    }
  }

  /**
   * Resolves once the connection is usable and the scripts are loaded (or rejects after
   * `timeoutMs`); for start-up. Loading here keeps three sequential SCRIPT LOAD round trips out
   * of the first burst of requests, which would otherwise all wait on them.
   */
  async waitUntilReady(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.ping();
        await this.scriptsLoaded();
        return;
      } catch (err) {
        if (Date.now() >= deadline) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  async reserve(
    items: readonly LimitItem[],
    reservationId: string,
    reservationTtlMs: number,
  ): Promise<StoreReserveResult> {
    const now = this.now();
    const resolved = items.map((item, index) => this.resolve(item, index, now));
    const groups = this.group(resolved);
    const used = new Array<number>(items.length).fill(0);
    const done: Resolved[][] = [];
    for (const group of groups) {
      let reply: unknown;
      try {
        reply = await this.run(
          RESERVE,
          [...group.map((r) => r.key), this.recordKey(group[0]!.tag, reservationId)],
          [
            String(reservationTtlMs),
            ...group.flatMap((r) => [
              String(r.item.amount),
              String(r.item.limit),
              r.item.enforce ? '1' : '0',
              String(r.ttlMs),
            ]),
          ],
        );
      } catch (err) {
        await this.rollback(done, reservationId);
        throw err;
      }
      const parsed = parseReserveReply(reply, group.length);
      group.forEach((r, i) => (used[r.index] = parsed.used[i]!));
      if (!parsed.ok) {
        // Earlier groups already counted this request; take it back so the refusal counts nothing.
        await this.rollback(done, reservationId);
        const failed = group[parsed.failedPosition]!;
        const states = resolved.map((r) => state(used[r.index]!, r.item.limit, r.resetMs));
        // Groups after the failed one were never read; read them so the headers are not made up.
        await this.fillUnread(groups.slice(groups.indexOf(group) + 1).flat(), states);
        return { ok: false, failedIndex: failed.index, items: states };
      }
      done.push(group);
    }
    return {
      ok: true,
      items: resolved.map((r) => state(used[r.index]!, r.item.limit, r.resetMs)),
      counterKeys: resolved.map((r) => r.key),
    };
  }

  async reconcile(reservationId: string, counters: readonly ReconcileEntry[]): Promise<{ found: boolean }> {
    if (counters.length === 0) return { found: false };
    if (counters.every((c) => c.actual === null)) {
      // Nothing to adjust (requests-only reservations, unknown usage): the record only has to go.
      // Its keys are unlinked in batches instead of one script round trip per call; if that never
      // happens (a crash, Redis away), the record expires at its TTL as an unreconciled one does.
      // Such a reconcile changes nothing, so it answers found without asking Redis.
      // One record per slot tag in a Cluster, one per reservation (the first item's tag) otherwise.
      const tags = this.clusterMode
        ? new Set(counters.map((c) => tagOf(c.counterKey)))
        : [tagOf(counters[0]!.counterKey)];
      for (const tag of tags) this.forget(this.recordKey(tag, reservationId));
      return { found: true };
    }
    const withTags = counters.map((c) => ({ ...c, tag: tagOf(c.counterKey) }));
    const groups = this.clusterMode ? groupBy(withTags, (c) => c.tag) : [withTags];
    let found = false;
    for (const group of groups) {
      const reply = await this.run(
        RECONCILE,
        [this.recordKey(group[0]!.tag, reservationId), ...group.map((c) => c.counterKey)],
        group.map((c) => (c.actual === null ? '' : String(c.actual))),
      );
      if (Number(reply) === 1) found = true;
    }
    return { found };
  }

  async peek(items: readonly LimitItem[]): Promise<ItemState[]> {
    const now = this.now();
    const resolved = items.map((item, index) => this.resolve(item, index, now));
    const states = new Array<ItemState>(items.length);
    for (const group of this.group(resolved)) {
      const values = await this.track(this.client.mget(...group.map((r) => r.key)));
      group.forEach((r, i) => {
        states[r.index] = state(Number(values[i] ?? 0), r.item.limit, r.resetMs);
      });
    }
    return states;
  }

  async lease(item: LimitItem, want: number, debt: number): Promise<LeaseGrant> {
    const r = this.resolve(item, 0, this.now());
    const reply = await this.run(
      LEASE,
      [r.key],
      [String(Math.max(0, want)), String(Math.max(0, debt)), String(item.limit), String(r.ttlMs)],
    );
    if (!Array.isArray(reply)) throw new TypeError('unexpected lease reply from Redis');
    const values: unknown[] = reply;
    return { granted: Number(values[0]), state: state(Number(values[1]), item.limit, r.resetMs) };
  }

  async giveBack(item: LimitItem, amount: number, at: number): Promise<void> {
    if (!(amount > 0)) return;
    const r = this.resolve(item, 0, at);
    await this.run(GIVE_BACK, [r.key], [String(amount)]);
  }

  async ping(): Promise<void> {
    await this.track(this.client.ping());
  }

  async close(): Promise<void> {
    await this.unlinkForgotten();
    if (!this.ownsClient) return;
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }

  private async fillUnread(after: Resolved[], states: ItemState[]): Promise<void> {
    if (after.length === 0) return;
    try {
      const peeked = await this.peek(after.map((r) => r.item));
      after.forEach((r, i) => (states[r.index] = peeked[i]!));
    } catch {
      // Headers only; the refusal itself is already decided.
    }
  }

  /** Queues a reservation record for deletion; one UNLINK takes a batch (per 50 ms or 500 keys). */
  private forget(recordKey: string): void {
    this.forgotten.push(recordKey);
    if (this.forgotten.length >= FORGET_BATCH) void this.unlinkForgotten();
    else if (!this.forgetTimer) {
      this.forgetTimer = setTimeout(() => void this.unlinkForgotten(), FORGET_DELAY_MS);
      this.forgetTimer.unref();
    }
  }

  private unlinkForgotten(): Promise<void> {
    if (this.forgetTimer) clearTimeout(this.forgetTimer);
    this.forgetTimer = null;
    const keys = this.forgotten.splice(0);
    if (keys.length === 0) return Promise.resolve();
    this.unlinks++;
    // A Cluster takes one slot per command: there each record (one slot each) is its own UNLINK.
    const sent: Promise<unknown> = this.clusterMode
      ? Promise.all(keys.map((k) => this.client.unlink(k)))
      : this.client.unlink(...keys);
    return this.track(sent).then(
      () => undefined,
      () => undefined, // best effort: the records expire at their TTL
    );
  }

  private async rollback(done: Resolved[][], reservationId: string): Promise<void> {
    for (const group of done) {
      try {
        await this.run(
          RECONCILE,
          [this.recordKey(group[0]!.tag, reservationId), ...group.map((r) => r.key)],
          group.map(() => '0'),
        );
      } catch {
        // Best effort: what stays counted is conservative (it can only refuse more), and expires with the window.
      }
    }
  }

  private resolve(item: LimitItem, index: number, now: number): Resolved {
    const span = windowSpan(item.window, now);
    const tag = encodeURIComponent(item.subject);
    return {
      index,
      item,
      tag,
      key: `${this.prefix}{${tag}}:c:${encodeURIComponent(item.ruleId)}:${span.key}`,
      resetMs: span.end - now,
      ttlMs: Math.ceil(span.end - now + this.ttlSlackMs),
    };
  }

  private recordKey(tag: string, reservationId: string): string {
    return `${this.prefix}{${tag}}:r:${reservationId}`;
  }

  private group(resolved: Resolved[]): Resolved[][] {
    if (resolved.length === 0) return [];
    return this.clusterMode ? groupBy(resolved, (r) => r.tag) : [resolved];
  }

  private scriptsLoaded(): Promise<void> {
    if (!this.loaded) {
      this.loaded = this.load().catch((err: unknown) => {
        this.loaded = null;
        throw err;
      });
    }
    return this.loaded;
  }

  private async run(s: Script, keys: string[], args: string[]): Promise<unknown> {
    await this.scriptsLoaded();
    try {
      return await this.track(this.client.evalsha(s.sha, keys.length, ...keys, ...args));
    } catch (err) {
      // SCRIPT FLUSH, a restarted or failed-over Redis, or a Cluster node that never saw SCRIPT LOAD.
      // EVAL runs it and caches it on that node, so the next EVALSHA there succeeds.
      if (err instanceof Error && err.message.startsWith('NOSCRIPT')) {
        this.noscriptFallbacks++;
        return this.track(this.client.eval(s.source, keys.length, ...keys, ...args));
      }
      throw err;
    }
  }

  private async track<T>(command: Promise<T>): Promise<T> {
    try {
      const value = await (this.guard === null ? command : this.guard.run(command));
      this.consecutiveTimeouts = 0;
      return value;
    } catch (err) {
      // An error reply (NOSCRIPT, a script error) is still Redis answering.
      if (err instanceof Error && err.name === 'ReplyError') this.guard?.answered();
      if (err instanceof StallTimeoutError || (err instanceof Error && err.message === 'Command timed out')) {
        this.consecutiveTimeouts++;
        if (this.ownsClient && this.consecutiveTimeouts >= this.recycleAfterTimeouts) {
          this.consecutiveTimeouts = 0;
          this.recycles++;
          this.client.disconnect(true);
        }
      }
      throw err;
    }
  }

  private async load(): Promise<void> {
    for (const s of [RESERVE, RECONCILE, LEASE, GIVE_BACK]) {
      const sha = await this.track(this.client.script('LOAD', s.source));
      if (sha !== s.sha) throw new Error(`Redis returned sha ${String(sha)} for a script hashed ${s.sha}`);
    }
  }
}

function tagOf(counterKey: string): string {
  const open = counterKey.indexOf('{');
  const close = counterKey.indexOf('}', open + 1);
  return open >= 0 && close > open ? counterKey.slice(open + 1, close) : '';
}

function groupBy<T>(values: T[], keyOf: (v: T) => string): T[][] {
  const map = new Map<string, T[]>();
  for (const v of values) {
    const k = keyOf(v);
    const list = map.get(k);
    if (list) list.push(v);
    else map.set(k, [v]);
  }
  return [...map.values()];
}

function parseReserveReply(
  reply: unknown,
  n: number,
): { ok: true; used: number[] } | { ok: false; failedPosition: number; used: number[] } {
  if (!Array.isArray(reply)) throw new TypeError('unexpected reserve reply from Redis');
  const values: unknown[] = reply;
  if (Number(values[0]) === 1) {
    return { ok: true, used: values.slice(1, n + 1).map((v) => Number(v)) };
  }
  return {
    ok: false,
    failedPosition: Number(values[1]) - 1,
    used: values.slice(2, n + 2).map((v) => Number(v)),
  };
}

function state(used: number, limit: number, resetMs: number): ItemState {
  return { used, limit, remaining: Math.max(0, limit - used), resetMs };
}
