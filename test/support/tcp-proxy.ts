import net from 'node:net';

export interface TcpProxy {
  port: number;
  url(scheme: string): string;
  /** Stall: connections stay open, bytes are held back both ways and delivered when it ends. */
  hang(on: boolean): void;
  /** Outage: open connections are destroyed and new ones refused until restored. */
  cut(on: boolean): void;
  close(): Promise<void>;
}

/**
 * A TCP hop in front of a real server (Redis, Postgres) that a test can stall or cut, so outages
 * are simulated without stopping the server other test files share.
 */
export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const flushers = new Set<() => void>();
  const sockets = new Set<net.Socket>();
  let hanging = false;
  let cutting = false;
  const server = net.createServer((client) => {
    if (cutting) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, targetHost);
    sockets.add(client).add(upstream);
    const held: [net.Socket, Buffer][] = [];
    const send = (to: net.Socket, chunk: Buffer): void => {
      if (hanging) held.push([to, chunk]);
      else to.write(chunk);
    };
    const flush = (): void => {
      for (const [to, chunk] of held.splice(0)) if (!to.destroyed) to.write(chunk);
    };
    flushers.add(flush);
    client.on('data', (chunk: Buffer) => send(upstream, chunk));
    upstream.on('data', (chunk: Buffer) => send(client, chunk));
    const end = (): void => {
      flushers.delete(flush);
      sockets.delete(client);
      sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new TypeError('no port');
  return {
    port: address.port,
    url: (scheme) => `${scheme}://127.0.0.1:${address.port}`,
    hang(on) {
      hanging = on;
      if (!on) for (const flush of flushers) flush();
    },
    cut(on) {
      cutting = on;
      if (on) for (const s of sockets) s.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
