/**
 * How close two outputs are: the figures webq reports as "agreement" (the CLI, the benchmarks) and the tests check.
 */

/**
 * Cosine similarity in float64: 1 = same direction. Two all-zero vectors count as agreeing; vectors of different
 * lengths cannot be compared and give NaN, which fails every threshold.
 */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return NaN;
  let dot = 0,
    na = 0,
    nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  if (na === 0 && nb === 0) return 1;
  return dot / Math.sqrt(na * nb);
}

/** The largest |a[i] − b[i]| (over a's length; callers compare equal lengths). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}
