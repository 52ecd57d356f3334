import type { Command } from 'commander';
import { z } from 'zod';
import { KeyStore } from '../auth/key-store.js';
import { keyStatus, toKeyView as publicView } from '../admin/key-repository.js';
import { isKeyId } from '../auth/key-format.js';
import { parseDurationMs } from '../config/duration.js';
import { withDb } from './context.js';
import { CommandError, UsageError } from './usage-error.js';

const email = z.email();

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function duration(flag: string, value: string): number {
  const ms = parseDurationMs(value);
  if (ms === null) throw new UsageError(`${flag} "${value}" is not a duration (e.g. 30d, 24h, 90m)`);
  return ms;
}

function keyId(value: string): string {
  if (!isKeyId(value))
    throw new UsageError(`"${value}" is not a key id (12 letters and digits; see aigov keys list)`);
  return value;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function registerKeyCommands(program: Command): void {
  const keys = program.command('keys').description('create, list, revoke and rotate aigov API keys');

  keys
    .command('create')
    .argument('<owner-email>', 'owner of the key')
    .option('--name <name>', 'a label for the key')
    .option('--team <team>', 'team the key belongs to (used by policies and budgets)')
    .option('--tags <a,b>', 'comma-separated tags')
    .option('--models <globs>', "allowed model patterns, e.g. 'gpt-4o*,claude-*' (default: any)")
    .option('--expires <duration>', 'expiry, e.g. 30d')
    .option('--json', 'print JSON')
    .description('create a key; the key is printed once and never stored')
    .action(async (owner: string, opts: Record<string, string | boolean | undefined>) => {
      if (!email.safeParse(owner).success) throw new UsageError(`"${owner}" is not an email address`);
      const expiresMs = typeof opts.expires === 'string' ? duration('--expires', opts.expires) : null;
      const result = await withDb(async (db, config) =>
        new KeyStore(db, config.auth.bcrypt_cost).create({
          owner,
          name: typeof opts.name === 'string' ? opts.name : null,
          team: typeof opts.team === 'string' ? opts.team : null,
          tags: list(opts.tags as string | undefined),
          models: list(opts.models as string | undefined),
          expiresAt: expiresMs === null ? null : new Date(Date.now() + expiresMs),
        }),
      );
      if (opts.json)
        process.stdout.write(JSON.stringify({ ...publicView(result.stored), key: result.key }) + '\n');
      else
        process.stdout.write(
          `Created key ${result.stored.id} for ${owner}. Store it now; it is not shown again:\n\n  ${result.key}\n`,
        );
    });

  keys
    .command('list')
    .option('--json', 'print JSON')
    .description('list keys (never their secrets)')
    .action(async (opts: { json?: boolean }) => {
      const all = await withDb((db, config) => new KeyStore(db, config.auth.bcrypt_cost).list());
      if (opts.json) {
        process.stdout.write(JSON.stringify(all.map((k) => publicView(k))) + '\n');
        return;
      }
      if (all.length === 0) {
        process.stdout.write('no keys\n');
        return;
      }
      const rows = [['ID', 'OWNER', 'TEAM', 'NAME', 'STATUS', 'EXPIRES', 'LAST USED']];
      for (const k of all)
        rows.push([
          k.id,
          k.owner,
          k.team ?? '-',
          k.name ?? '-',
          keyStatus(k),
          k.expiresAt?.toISOString() ?? '-',
          k.lastUsedAt?.toISOString() ?? '-',
        ]);
      process.stdout.write(table(rows) + '\n');
    });

  keys
    .command('revoke')
    .argument('<id>', 'key id')
    .description('revoke a key (every replica refuses it within auth.cache_ttl)')
    .action(async (id: string) => {
      const ok = await withDb((db, config) => new KeyStore(db, config.auth.bcrypt_cost).revoke(keyId(id)));
      if (!ok) throw new CommandError(`no active key with id ${id}`);
      process.stdout.write(`revoked ${id}\n`);
    });

  keys
    .command('rotate')
    .argument('<id>', 'key id')
    .option('--grace <duration>', 'how long the old key keeps working', '24h')
    .option('--json', 'print JSON')
    .description('issue a new key with the same attributes; the old one works until the grace period ends')
    .action(async (id: string, opts: { grace: string; json?: boolean }) => {
      const graceMs = duration('--grace', opts.grace);
      const result = await withDb((db, config) =>
        new KeyStore(db, config.auth.bcrypt_cost).rotate(keyId(id), graceMs),
      );
      if (!result) throw new CommandError(`no active key with id ${id}`);
      if (opts.json) {
        process.stdout.write(
          JSON.stringify({ ...publicView(result.stored), key: result.key, old: publicView(result.old) }) +
            '\n',
        );
        return;
      }
      process.stdout.write(
        `Rotated ${id} -> ${result.stored.id}; the old key works until ${result.old.expiresAt?.toISOString()}.\n` +
          `New key (shown once):\n\n  ${result.key}\n`,
      );
    });
}
