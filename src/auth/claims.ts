/**
 * Reads a claim by a dot path. Claim names may contain dots themselves (`kubernetes.io` in a
 * Kubernetes service-account token), so at each level the longest literal key wins:
 * `kubernetes.io.namespace` finds `{"kubernetes.io": {"namespace": ...}}`.
 */
export function claimAt(claims: Record<string, unknown>, path: string): unknown {
  const parts = path.split('.');
  const walk = (node: unknown, from: number): unknown => {
    if (from === parts.length) return node;
    if (typeof node !== 'object' || node === null || Array.isArray(node)) return undefined;
    const obj = node as Record<string, unknown>;
    for (let end = parts.length; end > from; end--) {
      const key = parts.slice(from, end).join('.');
      if (Object.hasOwn(obj, key)) {
        const found = walk(obj[key], end);
        if (found !== undefined) return found;
      }
    }
    return undefined;
  };
  return walk(claims, 0);
}
