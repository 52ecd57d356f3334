/**
 * Durations as users write them in config, CLI flags and policies: "500ms", "30s", "5m", "24h", "30d".
 * A bare number is accepted only where the caller says what unit it means (e.g. days for log cleanup).
 */
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/;

export type DurationUnit = keyof typeof UNIT_MS;

/** Returns milliseconds, or null when the text is not a duration. */
export function parseDurationMs(text: string, bareUnit?: DurationUnit): number | null {
  const trimmed = text.trim();
  if (bareUnit !== undefined && /^\d+(?:\.\d+)?$/.test(trimmed)) return Number(trimmed) * UNIT_MS[bareUnit];
  const m = DURATION_RE.exec(trimmed);
  if (!m) return null;
  const value = Number(m[1]) * UNIT_MS[m[2] as DurationUnit];
  return Number.isFinite(value) && value > 0 ? value : null;
}
