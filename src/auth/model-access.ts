import picomatch from 'picomatch';
import type { KeyIdentity } from './identity.js';

const matchers = new Map<string, (model: string) => boolean>();

/** Keys may be limited to model globs (`gpt-4o*,claude-*`); compiled once per distinct list. */
export function keyAllowsModel(key: KeyIdentity, model: string | null): boolean {
  if (key.models.length === 0) return true;
  if (model === null) return false;
  const id = key.models.join('\u0000');
  let match = matchers.get(id);
  if (!match) {
    match = picomatch(key.models, { nocase: true, bash: true });
    if (matchers.size > 10_000) matchers.clear();
    matchers.set(id, match);
  }
  return match(model);
}
