import { pathToFileURL } from 'node:url';
import { Command, CommanderError } from 'commander';
import { ConfigError, loadConfig } from '../config/load.js';
import { openDb } from '../db/client.js';
import { migrate } from '../db/migrate.js';
import { main as serve } from '../main.js';
import { registerKeyCommands } from './keys.js';
import { registerPolicyCommands } from './policies.js';
import { registerLogCommands } from './logs.js';
import { CommandError, UsageError } from './usage-error.js';
import { VERSION } from '../version.js';

export function buildProgram(): Command {
  const program = new Command('aigov')
    .description('aigov: governance proxy for LLM APIs')
    .version(VERSION)
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({ outputError: () => {} });

  program
    .command('serve')
    .description('start the proxy (what npm start runs)')
    .action(async () => {
      await serve();
      // Keep the process alive: the server runs until a signal.
      await new Promise(() => {});
    });

  program
    .command('migrate')
    .description('apply database migrations (idempotent)')
    .action(async () => {
      const config = loadConfig();
      const db = await openDb({ url: config.database.url, embeddedDir: config.database.embedded_dir });
      try {
        const applied = await migrate(db);
        process.stdout.write(
          applied.length ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n',
        );
      } finally {
        await db.close();
      }
    });

  registerKeyCommands(program);
  registerPolicyCommands(program);
  registerLogCommands(program);
  for (const cmd of program.commands) cmd.exitOverride().configureOutput({ outputError: () => {} });
  for (const cmd of program.commands.flatMap((c) => c.commands))
    cmd.exitOverride().configureOutput({ outputError: () => {} });
  return program;
}

/** Exit codes: 0 ok, 1 failure, 2 bad usage. Errors are one line on stderr. */
export async function run(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return 0; // --help, --version
      process.stderr.write(`aigov: ${err.message.replace(/^error: /, '')}\n`);
      return 2;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`aigov: ${err.message}\n`);
      return 2;
    }
    const message =
      err instanceof ConfigError || err instanceof CommandError ? err.message : (err as Error).message;
    process.stderr.write(`aigov: ${message.split('\n')[0]}\n`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run(process.argv.slice(2)).then((code) => {
    if (code !== 0 || !process.argv.slice(2).includes('serve')) process.exit(code);
  });
}
