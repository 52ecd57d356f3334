import { readFileSync } from 'node:fs';

/**
 * The package version, read once from package.json (next to src/ and dist/ alike), so the CLI,
 * /health, /openapi.json and the metrics' build info cannot disagree. `npm_package_version`
 * is only set under `npm run`, so it is not used.
 */
export const VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version?: unknown;
    };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
})();
