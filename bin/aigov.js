#!/usr/bin/env node
// Runs the built CLI when present (images, installs); in a checkout without a build, runs the
// TypeScript sources through tsx so `npx aigov ...` works right after `npm ci`.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const built = fileURLToPath(new URL('../dist/cli/index.js', import.meta.url));
let entry;
if (existsSync(built)) {
  entry = built;
} else {
  const { register } = await import('tsx/esm/api');
  register();
  entry = fileURLToPath(new URL('../src/cli/index.ts', import.meta.url));
}
const { run } = await import(pathToFileURL(entry).href);
const code = await run(process.argv.slice(2));
if (code !== 0 || process.argv[2] !== 'serve') process.exit(code);
