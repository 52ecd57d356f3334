import type { FastifyInstance } from 'fastify';
import type { Config } from './config/schema.js';
import { createLogger, type Logger } from './logger.js';
import { createServices, type Services } from './services.js';
import { buildApp } from './app.js';

export interface RunningServer {
  app: FastifyInstance;
  services: Services;
  url: string;
  /** Stop accepting, finish in-flight requests, flush the audit log, close pools. */
  shutdown(reason: string): Promise<void>;
}

const DEV_KEY_OWNER = 'dev@localhost';

/** A newcomer gets a working key at once: created only when the key table is empty, outside production. */
async function ensureDevKey(services: Services, url: string, out: NodeJS.WritableStream): Promise<void> {
  const { config, keys } = services;
  if (config.env === 'production' || !config.auth.dev_key) return;
  if ((await keys.count()) > 0) return;
  const { key, stored } = await keys.create({ owner: DEV_KEY_OWNER, name: 'development key', team: 'dev' });
  out.write(
    [
      '',
      `aigov: created a development key (id ${stored.id}) because no keys exist. It is shown only once:`,
      '',
      `  ${key}`,
      '',
      'Try it:',
      `  curl -s ${url}/api/evaluate -X POST -H "Authorization: Bearer ${key}"`,
      '',
    ].join('\n') + '\n',
  );
}

export async function startServer(
  config: Config,
  options: { logger?: Logger; out?: NodeJS.WritableStream } = {},
): Promise<RunningServer> {
  const logger = options.logger ?? createLogger(config.log.level);
  const services = await createServices(config, logger);
  let app: FastifyInstance;
  try {
    app = await buildApp(services);
    await app.listen({ port: config.server.port, host: config.server.host });
  } catch (err) {
    await services.stop(1_000);
    await services.db.close();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.server.port;
  const host = config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  logger.info({ url, db: services.db.kind }, 'aigov listening');
  await ensureDevKey(services, url, options.out ?? process.stdout);

  const onHangup = (): void => {
    void services.policies.reload().then((ok) => {
      if (ok) logger.info({ version: services.policies.getStatus().version }, 'policies reloaded (SIGHUP)');
    });
  };
  process.on('SIGHUP', onHangup);

  let closing: Promise<void> | null = null;
  const shutdown = (reason: string): Promise<void> => {
    closing ??= (async () => {
      logger.info({ reason }, 'shutting down: draining in-flight requests');
      process.off('SIGHUP', onHangup);
      const deadline = config.server.shutdown_timeout;
      const started = Date.now();
      await Promise.race([app.close(), new Promise((r) => setTimeout(r, deadline).unref())]);
      await services.stop(Math.max(1_000, deadline - (Date.now() - started)));
      await services.db.close();
      logger.info('shutdown complete');
    })();
    return closing;
  };
  return { app, services, url, shutdown };
}
