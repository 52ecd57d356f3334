import type { JsonPath, TextSlot } from './types.js';

type Role = TextSlot['role'];

/**
 * Keys whose string values are identifiers, enums or binary payloads rather than text a model
 * reads. Everything else is collected, so text in shapes we do not know (new content part types,
 * vendor extensions) still reaches the detectors: fail closed.
 */
const NON_TEXT_KEYS = new Set([
  'type',
  'role',
  'id',
  'tool_call_id',
  'tool_use_id',
  'call_id',
  'detail',
  'format',
  'media_type',
  'mime_type',
  'file_data',
  'file_id',
  'signature',
  'cache_control',
  'status',
  'encrypted_content',
]);

const BASE64_DATA_URL = /^data:[^,]{0,200};base64,/;

export interface WalkOptions {
  /**
   * Collect every string leaf, skipping nothing: for user data such as a tool_use `input`
   * object, where a key named "id" or "type" may hold anything.
   */
  raw?: boolean;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Append every text string leaf under `root` (in document order) to `out`.
 * Iterative, so arbitrarily deep JSON cannot overflow the stack.
 */
export function collectStrings(
  root: unknown,
  basePath: JsonPath,
  role: Role,
  out: TextSlot[],
  options: WalkOptions = {},
): void {
  const raw = options.raw === true;
  // Paths are parent-linked and only materialised at string leaves: copying the path at every
  // level would make deep documents quadratic.
  interface Frame {
    value: unknown;
    key: string | number | null;
    parent: Frame | null;
  }
  const toPath = (frame: Frame): JsonPath => {
    const segs: (string | number)[] = [];
    for (let f: Frame | null = frame; f !== null && f.key !== null; f = f.parent) segs.push(f.key);
    segs.reverse();
    return basePath.length === 0 ? segs : [...basePath, ...segs];
  };
  const stack: Frame[] = [{ value: root, key: null, parent: null }];
  while (stack.length > 0) {
    const frame = stack.pop()!;
    const value = frame.value;
    if (typeof value === 'string') {
      if (raw || !BASE64_DATA_URL.test(value)) out.push({ path: toPath(frame), role, text: value });
      continue;
    }
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], key: i, parent: frame });
      continue;
    }
    if (!isPlainObject(value)) continue;
    const keys = Object.keys(value);
    // A {type:"text", data} source (Anthropic documents) holds plain text; elsewhere `data` is base64.
    const dataIsText = value['type'] === 'text';
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i]!;
      if (!raw && (NON_TEXT_KEYS.has(key) || (key === 'data' && !dataIsText))) continue;
      stack.push({ value: value[key], key, parent: frame });
    }
  }
}

export function joinPrompt(texts: readonly TextSlot[]): string {
  if (texts.length === 1) return texts[0]!.text;
  return texts.map((t) => t.text).join('\n');
}

/** String values of a metadata object; the explicit parameter wins on clashes. */
export function collectMetadata(
  bodyMetadata: unknown,
  explicit: Record<string, string> | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  if (isPlainObject(bodyMetadata)) {
    for (const [k, v] of Object.entries(bodyMetadata)) if (typeof v === 'string') out[k] = v;
  }
  if (explicit !== undefined) Object.assign(out, explicit);
  return out;
}

export { isPlainObject };

/** A stream event's data as a JSON object; null when it is not one (trackers forward it untouched). */
export function eventJson(data: string): Record<string, unknown> | null {
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return null;
  }
  return isPlainObject(json) ? json : null;
}
