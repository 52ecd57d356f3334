/**
 * Entry point for the docker-compose demo's fake upstream: the same mock
 * OpenAI/Anthropic server the tests use, reachable from the aigov container as
 * http://mock:9000.
 *
 *   node --import tsx deploy/mock-provider.ts      (MOCK_PORT, MOCK_HOST)
 *
 * The test mock only listens on a random loopback port (what tests want), so a
 * plain TCP relay exposes it on MOCK_HOST:MOCK_PORT; bytes pass through
 * untouched, streams included.
 */
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { startMockProvider } from '../test/support/mock-provider.js';

const port = Number(process.env.MOCK_PORT ?? 9000);
const host = process.env.MOCK_HOST ?? '0.0.0.0';

// A long-running demo must not keep every request in memory.
const mock = await startMockProvider({ record: false });

const sockets = new Set<Socket>();
const relay = createServer((client) => {
  const upstream = connect(mock.port, '127.0.0.1');
  for (const s of [client, upstream]) {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  }
  client.pipe(upstream).pipe(client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
});
await new Promise<void>((resolve) => relay.listen(port, host, resolve));
// The bound port, not the requested one: MOCK_PORT=0 picks a free port (tests).
console.log(`mock provider listening on ${host}:${(relay.address() as AddressInfo).port}`);

// Exit promptly on `docker compose down` instead of waiting for SIGKILL.
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    relay.close();
    for (const s of sockets) s.destroy();
    void mock.close().finally(() => process.exit(0));
  });
}
