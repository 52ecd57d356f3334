import type { Command } from 'commander';
import { parseDurationMs } from '../config/duration.js';
import { AuditChainError, cleanupAuditLog } from '../audit/retention.js';
import { verifyAll, type ChainBound, type ChainReport } from '../audit/verify.js';
import { verifyAdminEvents, type AdminChainReport } from '../audit/admin-events.js';
import { withDb } from './context.js';
import { CommandError, UsageError } from './usage-error.js';

/** A progress line on stderr, redrawn at most ten times a second, only for a human at a terminal. */
class Progress {
  private last = 0;
  private shown = false;
  private readonly tty = process.stderr.isTTY === true;
  private readonly started = performance.now();

  update(label: string, done: number, total: number | null): void {
    if (!this.tty) return;
    const now = performance.now();
    if (now - this.last < 100 && (total === null || done < total)) return;
    this.last = now;
    const rate = Math.round(done / Math.max(0.001, (now - this.started) / 1000));
    let bar = '';
    if (total !== null && total > 0) {
      const width = 30;
      const filled = Math.min(width, Math.round((done / total) * width));
      bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${Math.min(100, Math.floor((done / total) * 100))}% `;
    }
    process.stderr.write(
      `\r\x1b[K${label} ${bar}${done}${total !== null ? `/${total}` : ''} rows, ${rate}/s`,
    );
    this.shown = true;
  }

  end(): void {
    if (this.shown) process.stderr.write('\r\x1b[K');
    this.shown = false;
  }
}

function bound(flag: string, value: string | undefined): ChainBound | undefined {
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value)) return { seq: Number(value) };
  const ms = Date.parse(value);
  if (Number.isNaN(ms))
    throw new UsageError(`${flag} "${value}" is neither a sequence number nor a date (e.g. 2024-05-01)`);
  return { date: new Date(ms) };
}

function describe(c: ChainReport): string {
  const range = c.firstSeq === null ? 'no rows' : `seq ${c.firstSeq}..${c.lastSeq} (${c.rows} rows)`;
  const anchor = c.anchorSeq === null ? '' : `, starts after retention at ${c.anchorSeq}`;
  const head = `chain ${c.replicaId}: `;
  if (c.break)
    return `${head}BROKEN at seq ${c.break.seq}: ${c.break.kind.replace('_', ' ')}: ${c.break.message}`;
  return `${head}ok, ${range}, ${c.checkpoints} checkpoints${anchor}`;
}

function describeAdmin(a: AdminChainReport): string {
  if (a.break) return `admin events: BROKEN at seq ${a.break.seq}: ${a.break.kind}: ${a.break.message}`;
  return `admin events: ok, ${a.firstSeq === null ? 'no events' : `seq ${a.firstSeq}..${a.lastSeq} (${a.rows} events)`}`;
}

export function registerLogCommands(program: Command): void {
  const logs = program.command('logs').description('verify and clean up the audit log');

  logs
    .command('verify')
    .option('--from <seq|date>', 'start at this sequence number or date')
    .option('--to <seq|date>', 'stop at this sequence number or date')
    .option('--replica <id>', 'only this replica chain')
    .option('--json', 'print the report as JSON')
    .description('check every hash chain; exit 1 at the first row that is not as written')
    .action(async (opts: { from?: string; to?: string; replica?: string; json?: boolean }) => {
      const from = bound('--from', opts.from);
      const to = bound('--to', opts.to);
      const progress = new Progress();
      const { report, admin } = await withDb(async (db, config) => {
        const usage = await verifyAll(db, {
          from,
          to,
          replica: opts.replica,
          hmacKey: config.audit.hmac_key,
          onProgress: (p) => progress.update(`verify ${p.replicaId}`, p.done, p.total),
        }).finally(() => progress.end());
        // The admin trail is its own chain (admin_events); a --replica run is about usage rows only.
        return { report: usage, admin: opts.replica ? null : await verifyAdminEvents(db) };
      });
      if (opts.json) process.stdout.write(JSON.stringify({ ...report, admin_events: admin }) + '\n');
      else {
        for (const c of report.chains) process.stdout.write(describe(c) + '\n');
        if (admin) process.stdout.write(describeAdmin(admin) + '\n');
        const seconds = (report.elapsedMs / 1000).toFixed(1);
        const legacy = report.legacyRows
          ? `; ${report.legacyRows} rows from before chaining not covered`
          : '';
        const broken = report.chains.filter((c) => c.break).length;
        process.stdout.write(
          broken
            ? `verify FAILED: ${broken} of ${report.chains.length} chains broken (${report.rows} rows checked in ${seconds}s)${legacy}\n`
            : `verify ok: ${report.rows} rows in ${report.chains.length} chains, clean, in ${seconds}s${legacy}\n`,
        );
      }
      if (admin?.break && !opts.json)
        process.stdout.write('verify FAILED: the admin event chain is broken\n');
      if (!report.ok || admin?.break) throw new CommandError('audit log verification failed');
    });

  logs
    .command('cleanup')
    .requiredOption(
      '--older-than <duration>',
      'remove rows older than this (e.g. 90d; a bare number means days)',
    )
    .option('--batch <rows>', 'rows per delete transaction', '5000')
    .description('remove old audit rows (retention), leaving signed anchors so verify still passes')
    .action(async (opts: { olderThan: string; batch: string }) => {
      const ms = parseDurationMs(opts.olderThan, 'd');
      if (ms === null)
        throw new UsageError(`--older-than "${opts.olderThan}" is not a duration (e.g. 90d, or 90 for days)`);
      if (ms < 86_400_000) throw new UsageError('--older-than must be at least 1d');
      const batch = Number(opts.batch);
      if (!Number.isInteger(batch) || batch < 1)
        throw new UsageError(`--batch "${opts.batch}" is not a positive integer`);
      const cutoff = new Date(Date.now() - ms);
      const progress = new Progress();
      const result = await withDb((db, config) =>
        cleanupAuditLog(db, {
          cutoff,
          batchSize: batch,
          hmacKey: config.audit.hmac_key,
          onProgress: (p) => progress.update(`cleanup ${p.replicaId ?? '(legacy rows)'}`, p.removed, null),
        })
          .catch((err: unknown) => {
            throw err instanceof AuditChainError ? new CommandError(err.message) : err;
          })
          .finally(() => progress.end()),
      );
      const per = Object.entries(result.byReplica)
        .map(([r, n]) => `${r}: ${n}`)
        .join(', ');
      process.stdout.write(
        `removed ${result.removed} audit rows older than ${cutoff.toISOString()}${per ? ` (${per})` : ''}${
          result.legacyRemoved ? ` incl. ${result.legacyRemoved} from before chaining` : ''
        }\n`,
      );
    });
}
