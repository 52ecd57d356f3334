import type { RouteSpec } from './adapter.js';

const patterns = new WeakMap<RouteSpec, RegExp | null>();

/** A template route's matcher: `{name}` is one path segment (Gemini's "{model}:action" included). */
function patternOf(spec: RouteSpec): RegExp | null {
  let re = patterns.get(spec);
  if (re !== undefined) return re;
  if (!spec.path.includes('{')) re = null;
  else {
    const source = spec.path
      .split(/(\{[^}]+\})/)
      .map((part) => (part.startsWith('{') ? '([^/]+?)' : part.replace(/[.*+?^$()|[\]\\]/g, '\\$&')))
      .join('');
    re = new RegExp(`^${source}$`);
  }
  patterns.set(spec, re);
  return re;
}

/** The template's parameters from a concrete path, in template order; null when it does not match. */
export function routeParams(spec: RouteSpec, path: string): string[] | null {
  const re = patternOf(spec);
  if (re === null) return spec.path === path ? [] : null;
  const m = re.exec(path);
  return m === null ? null : m.slice(1);
}

/**
 * The route for a method and path: the path may be a route's own (literal or template) or, for
 * template routes, a concrete request path.
 */
export function findRoute(routes: readonly RouteSpec[], method: string, path: string): RouteSpec | undefined {
  const m = method.toUpperCase();
  // Tolerate a trailing slash and a query string: callers pass whatever the URL held.
  const q = path.indexOf('?');
  let p = q === -1 ? path : path.slice(0, q);
  if (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  const exact = routes.find((r) => r.method === m && r.path === p);
  if (exact !== undefined) return exact;
  return routes.find(
    (r) => r.method === m && (matchesParams(r.path, p) || (patternOf(r) !== null && patternOf(r)!.test(p))),
  );
}

/** `/v1/files/:id` matches `/v1/files/file-abc`: one non-empty segment per parameter. */
function matchesParams(pattern: string, path: string): boolean {
  if (!pattern.includes(':')) return false;
  const want = pattern.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return false;
  return want.every((seg, i) => (seg.startsWith(':') ? got[i] !== '' : seg === got[i]));
}
