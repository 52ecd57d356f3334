import type { z } from 'zod';
import { AigovError } from '../errors.js';

/** "messages[2].content" style path, as a caller would write it in code. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out === '' ? 'body' : out;
}

/** Parse with zod; a failure becomes one clear line plus the issues, as a 400 the SDKs understand. */
export function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => ({
    path: formatPath(i.path),
    message: i.message,
    code: i.code,
  }));
  const first = issues[0];
  const message =
    first === undefined ? 'Invalid request body' : `Invalid request body: ${first.path}: ${first.message}`;
  throw new AigovError('invalid_request', { message, details: issues });
}
