import type { RouteSpec } from './adapter.js';

export function findRoute(routes: readonly RouteSpec[], method: string, path: string): RouteSpec | undefined {
  const m = method.toUpperCase();
  // Tolerate a trailing slash and a query string: callers pass whatever the URL held.
  const q = path.indexOf('?');
  let p = q === -1 ? path : path.slice(0, q);
  if (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  return routes.find((r) => r.method === m && r.path === p);
}
