import type { RouteSpec } from './adapter.js';

export function findRoute(routes: readonly RouteSpec[], method: string, path: string): RouteSpec | undefined {
  const m = method.toUpperCase();
  // Tolerate a trailing slash and a query string: callers pass whatever the URL held.
  const q = path.indexOf('?');
  let p = q === -1 ? path : path.slice(0, q);
  if (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  return routes.find((r) => r.method === m && (r.path === p || matchesParams(r.path, p)));
}

/** `/v1/files/:id` matches `/v1/files/file-abc`: one non-empty segment per parameter. */
function matchesParams(pattern: string, path: string): boolean {
  if (!pattern.includes(':')) return false;
  const want = pattern.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return false;
  return want.every((seg, i) => (seg.startsWith(':') ? got[i] !== '' : seg === got[i]));
}
