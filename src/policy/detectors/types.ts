/** A span found by a detector, in offsets of the text it was given (normalised text). */
export interface Finding {
  start: number;
  end: number;
  /** Upper-case label used in `[REDACTED:<TYPE>]`. */
  type: string;
}

export interface Detector {
  readonly name: string;
  /** Must run in time linear in `text.length`; gets text already passed through normalizeForDetection. */
  find(text: string): Finding[];
}
