/**
 * Servers under test run as child processes (`node --import tsx <script>`), so the load generator
 * in the bench process does not share an event loop with them and each child's RSS is its own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ServerChild {
  name: string;
  url: string;
  pid: number;
  /** Last lines the child wrote to stderr/stdout (for error messages). */
  output(): string;
  /** SIGTERM, wait for a graceful exit (SIGKILL after `graceMs`); resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export interface SpawnOptions {
  name: string;
  /** Script path relative to the repo root, then its arguments. */
  args: string[];
  env?: NodeJS.ProcessEnv;
  nodeArgs?: string[];
  /** Load TypeScript through tsx (default true). */
  tsx?: boolean;
  /** Wait for a `READY <url>` line on stdout (bench servers) ... */
  readyLine?: boolean;
  /** ... or poll this URL until it answers 200 (the proxy). */
  healthUrl?: string;
  timeoutMs?: number;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export function nodeCommand(args: string[], nodeArgs: string[] = [], tsx = true): string[] {
  return [...nodeArgs, ...(tsx ? ['--import', 'tsx'] : []), ...args];
}

export async function spawnServer(opts: SpawnOptions): Promise<ServerChild> {
  const child = spawn(process.execPath, nodeCommand(opts.args, opts.nodeArgs, opts.tsx ?? true), {
    cwd: REPO_ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let tail = '';
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-4000);
  };
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve(code ?? (signal ? 128 : null));
    });
  });

  const timeoutMs = opts.timeoutMs ?? 60_000;
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${opts.name} did not start within ${timeoutMs} ms:\n${tail}`));
    }, timeoutMs);
    const done = (err: Error | null, value?: string): void => {
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(value!);
    };
    void exited.then((code) =>
      done(new Error(`${opts.name} exited with ${code} before it was ready:\n${tail}`)),
    );
    let buf = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      keep(chunk);
      if (!opts.readyLine) return;
      buf += chunk.toString('utf8');
      const m = /^READY (\S+)$/m.exec(buf);
      if (m) done(null, m[1]!);
    });
    if (opts.healthUrl) {
      const healthUrl = opts.healthUrl;
      const poll = async (): Promise<void> => {
        while (child.exitCode === null) {
          try {
            const res = await fetch(`${healthUrl}/health`);
            await res.arrayBuffer();
            if (res.ok) return done(null, healthUrl);
          } catch {
            // not listening yet
          }
          await new Promise((r) => setTimeout(r, 100));
        }
      };
      void poll();
    }
  });

  return {
    name: opts.name,
    url,
    pid: child.pid!,
    output: () => tail,
    async stop(graceMs = 20_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

export interface MemoryStatus {
  /** Resident set size now and its high-water mark, in MiB. */
  rssMb: number;
  hwmMb: number;
}

/** Reads /proc/<pid>/status (Linux); null elsewhere or once the process is gone. */
export function memoryOf(pid: number): MemoryStatus | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const kb = (field: string): number =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
  return { rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024 };
}

/**
 * Resets a process's VmHWM to its current RSS (Linux >= 4.0, `echo 5 > /proc/<pid>/clear_refs`), so
 * the next reading is the peak of what ran since. False when the kernel or permissions refuse.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Samples a process's RSS every `everyMs` until stopped; returns the highest VmRSS seen. */
export function sampleRss(pid: number, everyMs = 250): { stop(): { peakMb: number; samples: number } } {
  let peak = 0;
  let samples = 0;
  const take = (): void => {
    const m = memoryOf(pid);
    if (m) {
      samples++;
      peak = Math.max(peak, m.rssMb);
    }
  };
  take();
  const timer = setInterval(take, everyMs);
  timer.unref();
  return {
    stop() {
      take();
      clearInterval(timer);
      return { peakMb: peak, samples };
    },
  };
}

/** User + system CPU time a process has used so far, in ms (Linux /proc/<pid>/stat); null elsewhere. */
export function cpuMsOf(pid: number): number | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // Fields after the command name (which may contain spaces) start at state; utime/stime are 14/15.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(ticks) ? ticks * 10 : null; // USER_HZ is 100 on Linux
}
