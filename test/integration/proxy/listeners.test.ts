import t from 'tap';
import type { Socket } from 'node:net';
import { Agent, request } from 'undici';
import { startProxy } from '../../support/proxy.js';

/**
 * A keep-alive connection carries many requests; none of them may leave a listener behind on the
 * socket (Node warns at 11 and the memory grows with every request otherwise).
 */
t.test('no listeners accumulate per request on a keep-alive socket', async (t) => {
  const h = await startProxy({ listen: true });
  t.teardown(() => h.close());
  const sockets: Socket[] = [];
  h.app.server.on('connection', (s: Socket) => sockets.push(s));
  const agent = new Agent({ connections: 1, pipelining: 1, keepAliveTimeout: 30_000 });
  t.teardown(() => agent.close());
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void warnings.push(`${w.name}: ${w.message}`);
  process.on('warning', onWarning);
  t.teardown(() => void process.off('warning', onWarning));

  const call = async (stream: boolean): Promise<void> => {
    const res = await request(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      dispatcher: agent,
      headers: { authorization: `Bearer ${h.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o', stream, messages: [{ role: 'user', content: 'hi' }] }),
    });
    await res.body.text();
    t.equal(res.statusCode, 200);
  };
  await call(false);
  t.equal(sockets.length, 1, 'one connection');
  const socket = sockets[0]!;
  const baseline = Object.fromEntries(socket.eventNames().map((e) => [String(e), socket.listenerCount(e)]));
  for (let i = 0; i < 30; i++) await call(i % 2 === 0);
  t.equal(sockets.length, 1, 'still the same connection');
  const after = Object.fromEntries(socket.eventNames().map((e) => [String(e), socket.listenerCount(e)]));
  t.same(after, baseline, 'the socket has the same listeners after 30 more requests');
  t.same(
    warnings.filter((w) => w.includes('MaxListeners')),
    [],
    'no MaxListenersExceededWarning',
  );
});
