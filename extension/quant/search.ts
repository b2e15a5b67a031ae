/**
 * Error-minimising scale search (kernels/README.md "Error-minimising scale search"): round-to-nearest
 * over the full range spends codes on rare outliers, which hurts most at 2 bits (4 levels). For each
 * group try the clipping ratios r_i = f32(1 - i/20), i = 0..9, and keep the candidate with the least
 * Σ (w - w')² over the group's real elements; on equal error the smaller i (less clipping) wins.
 * i = 0 is plain round-to-nearest, so the search is never worse than RTN. Only the parameters
 * change; codes still come from quantizeValue, so the GPU's search lands on the same formulas.
 */
import { type BlockParams, groupRange, groupSquaredError, levelsOf, paramsFor } from './block';
import type { Bits, Scheme } from './types';

export const CLIP_RATIOS: readonly number[] = Array.from({ length: 10 }, (_, i) => Math.fround(1 - i / 20));

export function searchParams(values: Float32Array, bits: Bits, scheme: Scheme): BlockParams {
  const qmax = levelsOf(bits);
  const range = groupRange(values, scheme);
  let best = paramsFor(range, bits, scheme);
  let bestError = groupSquaredError(values, best, qmax);
  for (let i = 1; i < CLIP_RATIOS.length && bestError > 0; i++) {
    const candidate = paramsFor(range, bits, scheme, CLIP_RATIOS[i]);
    const error = groupSquaredError(values, candidate, qmax);
    if (error < bestError) {
      bestError = error;
      best = candidate;
    }
  }
  return best;
}

/** Round-to-nearest parameters of a group (no search). */
export function rtnParams(values: Float32Array, bits: Bits, scheme: Scheme): BlockParams {
  return paramsFor(groupRange(values, scheme), bits, scheme);
}
