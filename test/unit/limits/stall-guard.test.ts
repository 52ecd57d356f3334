import net from 'node:net';
import t, { type Test } from 'tap';
import { StallGuard, StallTimeoutError } from '../../../src/limits/stall-guard.js';

/** Keeps the CPU busy without yielding: what a burst of requests does to the event loop. */
function block(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

/**
 * A real socket pair over loopback. The server answers each `?` with `!` after 20 ms, so a reply
 * travels through the kernel and is read in the poll phase, like a Redis reply.
 */
async function echo(t: Test): Promise<{ ask: () => Promise<void> }> {
  const server = net.createServer((s) =>
    s.on('data', (d: Buffer) => {
      const reply = d.toString().replace(/\?/g, '!');
      // A peer that takes a moment to answer, as Redis does on a busy host.
      setTimeout(() => s.write(reply), 20);
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as net.AddressInfo;
  const client = net.connect(address.port, '127.0.0.1');
  await new Promise<void>((resolve) => client.once('connect', resolve));
  t.teardown(() => {
    client.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const waiting: (() => void)[] = [];
  client.on('data', (d: Buffer) => {
    for (let i = 0; i < d.length; i++) waiting.shift()?.();
  });
  return {
    ask: () =>
      new Promise<void>((resolve) => {
        waiting.push(resolve);
        client.write('?');
      }),
  };
}

/** The timeout the guard replaces: a timer per call, judged in the timers phase. */
function naiveTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out')), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e as Error);
      },
    );
  });
}

t.test('a store that never answers fails after the timeout', async (t) => {
  const guard = new StallGuard({ timeoutMs: 40, message: 'gone' });
  const started = performance.now();
  const err = await guard.run(new Promise(() => {})).catch((e: unknown) => e);
  const elapsed = performance.now() - started;
  t.ok(err instanceof StallTimeoutError);
  t.equal((err as Error).message, 'gone');
  t.ok(elapsed >= 35 && elapsed < 1_000, `failed after ${elapsed.toFixed(0)} ms`);
  t.equal(guard.timeouts, 1);
  t.equal(guard.waiting, 0);
});

t.test('answers and errors pass through untouched', async (t) => {
  const guard = new StallGuard({ timeoutMs: 40 });
  t.equal(await guard.run(Promise.resolve(7)), 7);
  const boom = new Error('boom');
  t.equal(await guard.run(Promise.reject(boom)).catch((e: unknown) => e), boom);
  t.equal(guard.timeouts, 0);
});

t.test('a busy event loop does not count against a call issued in it or waiting through it', async (t) => {
  const { ask } = await echo(t);
  // Control: the per-call timer of a plain timeout fires before the poll phase reads the reply.
  const naive = naiveTimeout(ask(), 50);
  block(150);
  t.rejects(naive, /timed out/, 'a plain timer mistakes the busy loop for a dead peer');
  await naive.catch(() => undefined);

  const guard = new StallGuard({ timeoutMs: 50 });
  // Issued in a busy tick (written afterwards) ...
  const a = guard.run(ask());
  block(150);
  await a;
  // ... and busy after it was written, while its reply sat in the socket.
  const b = guard.run(ask());
  await new Promise((resolve) => setImmediate(resolve));
  block(150);
  await b;
  t.equal(guard.timeouts, 0);
});

t.test('a call queued behind others is not a stall while answers keep coming', async (t) => {
  const guard = new StallGuard({ timeoutMs: 50 });
  // One answer every 20 ms, in order: the tenth call waits ~200 ms, four times the timeout.
  const resolvers: (() => void)[] = [];
  const calls = Array.from({ length: 10 }, () =>
    guard.run(new Promise<void>((resolve) => resolvers.push(resolve))),
  );
  const ticker = setInterval(() => resolvers.shift()?.(), 20);
  t.teardown(() => clearInterval(ticker));
  const started = performance.now();
  await Promise.all(calls);
  const elapsed = performance.now() - started;
  t.ok(elapsed > 150, `the last call waited ${elapsed.toFixed(0)} ms`);
  t.equal(guard.timeouts, 0);
});

t.test('when answers stop, every waiting call fails', async (t) => {
  const guard = new StallGuard({ timeoutMs: 40 });
  t.equal(await guard.run(Promise.resolve('ok')), 'ok');
  const results = await Promise.allSettled(Array.from({ length: 5 }, () => guard.run(new Promise(() => {}))));
  t.ok(results.every((r) => r.status === 'rejected' && r.reason instanceof StallTimeoutError));
  t.equal(guard.timeouts, 5);
});

t.test('the ceiling fails one hung call even while others answer', async (t) => {
  const guard = new StallGuard({ timeoutMs: 30, maxWaitMs: 150 });
  const started = performance.now();
  const hung = guard.run(new Promise(() => {})).catch((e: unknown) => e);
  const ticker = setInterval(() => void guard.run(Promise.resolve()), 10);
  t.teardown(() => clearInterval(ticker));
  const err = await hung;
  const elapsed = performance.now() - started;
  t.ok(err instanceof StallTimeoutError);
  t.ok(elapsed >= 140 && elapsed < 2_000, `failed after ${elapsed.toFixed(0)} ms, not after 30`);
});
