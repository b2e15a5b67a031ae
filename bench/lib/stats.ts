/** Small statistics for the benchmark: medians (robust to the odd slow run on a shared machine) and agreement. */
export { cosine, maxAbsDiff } from '../../extension/shared/compare';

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** A number for tables: 3 significant digits below 100, whole numbers above. */
export function fmt(x: number | null | undefined, digits = 3): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  return Math.abs(x) >= 100 ? x.toFixed(0) : x.toPrecision(digits);
}
