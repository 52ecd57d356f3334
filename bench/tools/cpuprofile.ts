/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): top functions by self time, the same by
 * inclusive time for aigov's own code, and self time per package.
 * Run: node --import tsx bench/tools/cpuprofile.ts <file.cpuprofile> [--top 30] [--skip-ms 2000]
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface FunctionTime {
  fn: string;
  /** file:line (1-based) relative to the repo, or a node: / package location. */
  location: string;
  selfMs: number;
  selfPct: number;
  totalMs: number;
  totalPct: number;
}

export interface ProfileSummary {
  sampledMs: number;
  idleMs: number;
  busyMs: number;
  /** Self time per function, busiest first (idle excluded). */
  topSelf: FunctionTime[];
  /** aigov's own functions (src/, or its build) by inclusive time. */
  topInclusiveSrc: FunctionTime[];
  /** Self time per package / area. */
  byArea: { area: string; selfMs: number; selfPct: number }[];
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export function areaOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) {
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(idle)') return 'idle';
    if (functionName === '(program)') return 'V8/native (program)';
    return `native ${functionName || '(anonymous)'}`;
  }
  const nm = url.lastIndexOf('/node_modules/');
  if (nm !== -1) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) {
    const parts = url.slice(5).split('/');
    return `node:${parts[0] === 'internal' ? parts.slice(0, 2).join('/') : parts[0]}`;
  }
  const own = ownPath(url);
  if (own) return `aigov ${own.split('/').slice(0, -1).join('/') || 'src'}`;
  const m = /\/(bench|test)\/(.+)$/.exec(url);
  return m ? m[1]! : 'other';
}

/**
 * aigov's own code: `src/<x>.ts` under tsx, or `<build>/dist/<x>.js` from the bench's tsc build,
 * shown as `src/<x>.ts` (the line is then the compiled file's, close to the source's).
 */
export function ownPath(url: string): string | null {
  if (!url || url.includes('/node_modules/')) return null;
  const dist = /\/app\/dist\/(.+)\.js$/.exec(url);
  if (dist) return `src/${dist[1]}.ts`;
  const src = /\/src\/(.+\.ts)$/.exec(url);
  return src ? `src/${src[1]}` : null;
}

function locationOf(frame: CallFrame): string {
  if (!frame.url) return '';
  const own = ownPath(frame.url);
  if (own) return `${own}:${frame.lineNumber + 1}${frame.url.endsWith('.js') ? ' (js)' : ''}`;
  let path = frame.url;
  if (path.startsWith('file://')) {
    path = fileURLToPath(path);
    path = relative(ROOT, path);
  }
  return `${path}:${frame.lineNumber + 1}`;
}

/** How long sample i lasted: until the next sample (the last one gets the median-ish 0). */
function sampleDuration(profile: CpuProfile, i: number): number {
  return Math.max(0, profile.timeDeltas[i + 1] ?? 0);
}

export function summariseProfile(
  profile: CpuProfile,
  options: { top?: number; skipMs?: number } = {},
): ProfileSummary {
  const top = options.top ?? 25;
  const skipUs = (options.skipMs ?? 0) * 1000;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const keyOf = (f: CallFrame): string => `${f.functionName || '(anonymous)'}\u0000${locationOf(f)}`;
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const area = new Map<string, number>();
  let sampled = 0;
  let idle = 0;
  let t = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (t < skipUs) continue;
    const node = byId.get(profile.samples[i]!);
    if (!node) continue;
    // timeDeltas[i] is the gap *before* sample i; sample i lasts until the next one (DevTools'
    // convention). Charging a sample with the gap before it gave the first function to run after
    // an idle wait (the request body parser, the response parser) that wait.
    const us = sampleDuration(profile, i);
    sampled += us;
    const a = areaOf(node.callFrame);
    area.set(a, (area.get(a) ?? 0) + us);
    if (a === 'idle') {
      idle += us;
      continue;
    }
    const k = keyOf(node.callFrame);
    self.set(k, (self.get(k) ?? 0) + us);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id)!.callFrame;
      if (!ownPath(f.url)) continue;
      const fk = keyOf(f);
      if (seen.has(fk)) continue;
      seen.add(fk);
      total.set(fk, (total.get(fk) ?? 0) + us);
    }
  }
  const busy = sampled - idle;
  const pct = (us: number): number => (busy > 0 ? Math.round((us / busy) * 1000) / 10 : 0);
  const ms = (us: number): number => Math.round(us / 100) / 10;
  const entry = (k: string): FunctionTime => {
    const [fn, location] = k.split('\u0000') as [string, string];
    const s = self.get(k) ?? 0;
    const tt = total.get(k) ?? s;
    return { fn, location, selfMs: ms(s), selfPct: pct(s), totalMs: ms(tt), totalPct: pct(tt) };
  };
  return {
    sampledMs: ms(sampled),
    idleMs: ms(idle),
    busyMs: ms(busy),
    topSelf: [...self.entries()]
      .sort((x, y) => y[1] - x[1])
      .slice(0, top)
      .map(([k]) => entry(k)),
    topInclusiveSrc: [...total.entries()]
      .sort((x, y) => y[1] - x[1])
      .slice(0, top)
      .map(([k]) => entry(k)),
    byArea: [...area.entries()]
      .filter(([a]) => a !== 'idle')
      .sort((x, y) => y[1] - x[1])
      .map(([a, us]) => ({ area: a, selfMs: ms(us), selfPct: pct(us) })),
  };
}

/**
 * CPU per answered request: busy time after `skipMs`, split by area and by function (self time),
 * divided by the requests served meanwhile. Two of these (aigov, baseline A) show what aigov adds.
 */
export function perRequest(
  profile: CpuProfile,
  requests: number,
  skipMs = 0,
): { busyUs: number; byArea: Map<string, number>; byFunction: Map<string, number> } {
  const byId = new Map<number, ProfileNode>();
  for (const n of profile.nodes) byId.set(n.id, n);
  const byArea = new Map<string, number>();
  const byFunction = new Map<string, number>();
  const n = Math.max(1, requests);
  let busy = 0;
  let t = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (t < skipMs * 1000) continue;
    const delta = sampleDuration(profile, i);
    const node = byId.get(profile.samples[i]!);
    if (!node) continue;
    const area = areaOf(node.callFrame);
    if (area === 'idle') continue;
    busy += delta;
    byArea.set(area, (byArea.get(area) ?? 0) + delta / n);
    const fn = `${node.callFrame.functionName || '(anonymous)'} ${locationOf(node.callFrame)}`.trim();
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + delta / n);
  }
  return { busyUs: busy / n, byArea, byFunction };
}

export function profileMarkdown(s: ProfileSummary, limit = 20): string {
  const lines: string[] = [];
  lines.push(
    `Sampled ${s.sampledMs.toFixed(0)} ms of the proxy's main thread under load: busy ${s.busyMs.toFixed(0)} ms, idle ${s.idleMs.toFixed(0)} ms.`,
    '',
    '| self % | self ms | function | location |',
    '|---:|---:|---|---|',
    ...s.topSelf
      .slice(0, limit)
      .map((f) => `| ${f.selfPct.toFixed(1)} | ${f.selfMs.toFixed(0)} | \`${f.fn}\` | ${f.location} |`),
    '',
    'Self time by area (package, node internals, aigov folder):',
    '',
    '| area | self % | self ms |',
    '|---|---:|---:|',
    ...s.byArea.slice(0, 15).map((a) => `| ${a.area} | ${a.selfPct.toFixed(1)} | ${a.selfMs.toFixed(0)} |`),
    '',
    "aigov's own functions by inclusive time (self + callees):",
    '',
    '| total % | function | location |',
    '|---:|---|---|',
    ...s.topInclusiveSrc
      .slice(0, 15)
      .map((f) => `| ${f.totalPct.toFixed(1)} | \`${f.fn}\` | ${f.location} |`),
  );
  return lines.join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const file = args.find((a) => !a.startsWith('--'));
  if (!file) {
    process.stderr.write('usage: cpuprofile.ts <file.cpuprofile> [--top N] [--skip-ms MS]\n');
    process.exit(2);
  }
  const opt = (name: string): number | undefined => {
    const i = args.indexOf(name);
    return i === -1 ? undefined : Number(args[i + 1]);
  };
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  process.stdout.write(
    profileMarkdown(
      summariseProfile(profile, { top: opt('--top') ?? 30, skipMs: opt('--skip-ms') ?? 0 }),
      opt('--top') ?? 30,
    ) + '\n',
  );
}
