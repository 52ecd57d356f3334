/**
 * Text normalisation before detection, so that trivially obfuscated data (fullwidth digits,
 * zero-width joiners inside a card number, Cyrillic look-alikes in "ignore previous instructions")
 * is still found. Keeps an offset map so spans found in the normalised text can be redacted in
 * the original string.
 */

export interface NormalizedText {
  /** The text detectors run on. */
  text: string;
  /** For each UTF-16 unit of `text`: start offset in the original of the character it came from. Null = identity. */
  starts: Uint32Array | null;
  /** For each UTF-16 unit of `text`: end offset in the original of the character it came from. */
  ends: Uint32Array | null;
}

const ZERO_WIDTH = new Set([0x200b, 0x200c, 0x200d, 0x2060, 0xfeff, 0x00ad]);

// Common look-alikes only: a full confusables table is large and most of it never shows up in
// obfuscated prompts; these are the ones used to dodge keyword filters.
const HOMOGLYPHS: Record<number, string> = {
  // Cyrillic lower
  0x0430: 'a',
  0x0432: 'b',
  0x0435: 'e',
  0x043a: 'k',
  0x043c: 'm',
  0x043d: 'h',
  0x043e: 'o',
  0x0440: 'p',
  0x0441: 'c',
  0x0442: 't',
  0x0443: 'y',
  0x0445: 'x',
  0x0455: 's',
  0x0456: 'i',
  0x0458: 'j',
  0x0501: 'd',
  0x051b: 'q',
  0x051d: 'w',
  // Cyrillic upper
  0x0410: 'A',
  0x0412: 'B',
  0x0415: 'E',
  0x041a: 'K',
  0x041c: 'M',
  0x041d: 'H',
  0x041e: 'O',
  0x0420: 'P',
  0x0421: 'C',
  0x0422: 'T',
  0x0423: 'Y',
  0x0425: 'X',
  0x0405: 'S',
  0x0406: 'I',
  0x0408: 'J',
  // Greek lower
  0x03b1: 'a',
  0x03b9: 'i',
  0x03ba: 'k',
  0x03bd: 'v',
  0x03bf: 'o',
  0x03c1: 'p',
  0x03c4: 't',
  0x03c5: 'u',
  0x03c7: 'x',
  // Greek upper
  0x0391: 'A',
  0x0392: 'B',
  0x0395: 'E',
  0x0396: 'Z',
  0x0397: 'H',
  0x0399: 'I',
  0x039a: 'K',
  0x039c: 'M',
  0x039d: 'N',
  0x039f: 'O',
  0x03a1: 'P',
  0x03a4: 'T',
  0x03a5: 'Y',
  0x03a7: 'X',
};

// eslint-disable-next-line no-control-regex
const ASCII_ONLY = /^[\x00-\x7f]*$/;

const nfkcCache = new Map<number, string>();

function foldCodePoint(cp: number): string {
  const glyph = HOMOGLYPHS[cp];
  if (glyph !== undefined) return glyph;
  // Fullwidth ASCII block maps 1:1; skip the NFKC call for the commonest obfuscation.
  if (cp >= 0xff01 && cp <= 0xff5e) return String.fromCharCode(cp - 0xfee0);
  let cached = nfkcCache.get(cp);
  if (cached === undefined) {
    cached = String.fromCodePoint(cp).normalize('NFKC');
    const refolded = cached.length === 1 ? HOMOGLYPHS[cached.charCodeAt(0)] : undefined;
    if (refolded !== undefined) cached = refolded;
    if (nfkcCache.size < 4096) nfkcCache.set(cp, cached);
  }
  return cached;
}

function grow(starts: Uint32Array, ends: Uint32Array, need: number): [Uint32Array, Uint32Array] {
  const size = Math.max(starts.length * 2, need);
  const s2 = new Uint32Array(size);
  s2.set(starts);
  const e2 = new Uint32Array(size);
  e2.set(ends);
  return [s2, e2];
}

/**
 * NFKC per character, zero-width characters removed, common Cyrillic/Greek look-alikes folded to
 * Latin. Pure ASCII text (the common case) is returned as is with no map.
 */
export function normalizeForDetection(original: string): NormalizedText {
  if (ASCII_ONLY.test(original)) return { text: original, starts: null, ends: null };
  const parts: string[] = [];
  // The normalised text is rarely longer than the original; grow if NFKC expands (e.g. ligatures).
  let starts: Uint32Array = new Uint32Array(original.length + 16);
  let ends: Uint32Array = new Uint32Array(original.length + 16);
  let out = 0;
  let i = 0;
  // Unchanged characters are copied in runs so a large, mostly-ASCII text costs few string ops.
  let runStart = 0;
  while (i < original.length) {
    const cp = original.codePointAt(i) ?? 0;
    const width = cp > 0xffff ? 2 : 1;
    if (cp < 0x80) {
      if (out >= starts.length) [starts, ends] = grow(starts, ends, out + 1);
      starts[out] = i;
      ends[out] = i + 1;
      out++;
      i++;
      continue;
    }
    const piece = ZERO_WIDTH.has(cp) ? '' : foldCodePoint(cp);
    if (runStart < i) parts.push(original.slice(runStart, i));
    runStart = i + width;
    if (out + piece.length > starts.length) [starts, ends] = grow(starts, ends, out + piece.length);
    for (let k = 0; k < piece.length; k++) {
      starts[out] = i;
      ends[out] = i + width;
      out++;
    }
    if (piece.length > 0) parts.push(piece);
    i += width;
  }
  if (runStart < original.length) parts.push(original.slice(runStart));
  return { text: parts.join(''), starts: starts.subarray(0, out), ends: ends.subarray(0, out) };
}

/** Maps a span of the normalised text back to the original string. */
export function toOriginalSpan(norm: NormalizedText, start: number, end: number): [number, number] {
  if (norm.starts === null || norm.ends === null) return [start, end];
  if (end <= start) {
    const at = norm.starts[start] ?? norm.ends[norm.ends.length - 1] ?? 0;
    return [at, at];
  }
  return [norm.starts[start] ?? 0, norm.ends[end - 1] ?? 0];
}
