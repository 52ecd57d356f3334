/** Display helpers. Unknown (null) stays visibly unknown, never 0. */

export const UNKNOWN = '—';

export function fmtInt(n: number | null | undefined): string {
  return n === null || n === undefined ? UNKNOWN : Math.round(n).toLocaleString('en-US');
}

export function fmtUsd(n: number | null | undefined): string {
  if (n === null || n === undefined) return UNKNOWN;
  if (n === 0) return '$0';
  if (Math.abs(n) < 0.01) return `$${n.toFixed(5)}`;
  return `$${n.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}

export function fmtMs(n: number | null | undefined): string {
  if (n === null || n === undefined) return UNKNOWN;
  return n < 10 ? `${n.toFixed(1)} ms` : `${Math.round(n).toLocaleString('en-US')} ms`;
}

export function fmtPct(part: number, whole: number): string {
  return whole === 0 ? '0%' : `${((part / whole) * 100).toFixed(1)}%`;
}

export function fmtTime(iso: string | null | undefined): string {
  if (!iso) return UNKNOWN;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { hour12: false });
}

export function fmtShortTime(iso: string, bucket: 'hour' | 'day'): string {
  const d = new Date(iso);
  return bucket === 'hour'
    ? d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', hour12: false })
    : d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
