import { pathToFileURL } from 'node:url';
import { loadConfig, ConfigError } from './config/load.js';
import { startServer } from './server.js';

/** Process entry: config -> app -> listen -> graceful shutdown on SIGTERM/SIGINT. */
export async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`aigov: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const server = await startServer(config);
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      process.stderr.write(`aigov: second ${signal}, exiting now\n`);
      process.exit(130);
    }
    server.shutdown(signal).then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`aigov: shutdown failed: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`aigov: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
