/**
 * Builds the dashboard (ui/) into dist/ui: type-checks it (ui/tsconfig.json), bundles ui/src with
 * esbuild (Preact, no CDN, nothing fetched at run time) and copies index.html and app.css.
 * `--no-typecheck` skips the type check (the browser test uses it to build on demand).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'ui');

export async function buildUi(options: { typecheck?: boolean; outDir?: string } = {}): Promise<string> {
  const outDir = options.outDir ?? out;
  if (options.typecheck !== false) {
    const tsc = spawnSync(
      process.execPath,
      [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'ui', 'tsconfig.json')],
      { stdio: 'inherit' },
    );
    if (tsc.status !== 0) throw new Error('ui: type check failed');
  }
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  await build({
    entryPoints: [join(root, 'ui', 'src', 'main.tsx')],
    outfile: join(outDir, 'app.js'),
    bundle: true,
    format: 'esm',
    target: ['es2022'],
    minify: true,
    sourcemap: true,
    jsx: 'automatic',
    jsxImportSource: 'preact',
    legalComments: 'none',
    logLevel: 'warning',
  });
  copyFileSync(join(root, 'ui', 'index.html'), join(outDir, 'index.html'));
  copyFileSync(join(root, 'ui', 'app.css'), join(outDir, 'app.css'));
  return outDir;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  buildUi({ typecheck: !process.argv.includes('--no-typecheck') })
    .then((dir) => console.log(`ui built into ${dir}`))
    .catch((err: unknown) => {
      console.error(err instanceof Error ? err.message : String(err));
      process.exit(1);
    });
}
