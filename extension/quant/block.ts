/**
 * The quantization formulas, in one place, shared by every quantized layout webq writes
 * (MatMulNBits blocks, GatherBlockQuantized rows, DequantizeLinear channels). They are the
 * definitions of kernels/README.md ("Quantization definitions"), which webq's WGSL quantizer follows
 * too, so GPU and TypeScript produce the same codes (docs/quantization.md repeats them):
 *
 *   qmax = 2^bits - 1, mid = 2^(bits-1), all arithmetic in f32 (Math.fround)
 *   symmetric:  zp = mid; m = the group value of largest magnitude (lo on a tie);
 *               scale = m * f32(-1 / mid)        (may be negative: m maps to code 0, so all 2^bits codes are used)
 *   asymmetric: lo = min(min, 0), hi = max(max, 0)   (0 is exact; padding with code = zp dequantizes to 0)
 *               scale = f32(f32(hi - lo) * f32(1 / qmax))
 *               zp = clamp(roundHalfEven(f32(-lo / scale)), 0, qmax)     (scale 0: zp = 0)
 *   code  q  = clamp(roundHalfEven(f32(w / scale)) + zp, 0, qmax)      (scale 0: q = zp)
 *   value w' = (q - zp) * scale
 * roundHalfEven is WGSL's round(): ties go to the even integer.
 */
import type { Bits, Scheme } from './types';

export interface BlockParams {
  scale: number;
  zeroPoint: number;
}

/** The extreme values of a group that the formulas start from (before any clipping). */
export interface GroupRange {
  lo: number;
  hi: number;
}

export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round sends ties up; an odd result of a tie is one too high.
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export function levelsOf(bits: Bits): number {
  return (1 << bits) - 1;
}

/** The group's range as each scheme sees it: raw min/max (symmetric) or widened to hold 0 (asymmetric). */
export function groupRange(values: Float32Array, scheme: Scheme): GroupRange {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (values.length === 0) return { lo: 0, hi: 0 };
  return scheme === 'asymmetric' ? { lo: Math.min(lo, 0), hi: Math.max(hi, 0) } : { lo, hi };
}

/**
 * Scale and zero point of a group with range `r`, its extremes shrunk by `ratio` (1 = no clipping;
 * the scale search tries smaller ratios).
 */
export function paramsFor(r: GroupRange, bits: Bits, scheme: Scheme, ratio = 1): BlockParams {
  if (scheme === 'symmetric') {
    const mid = 1 << (bits - 1);
    const m = Math.fround((-r.lo >= r.hi ? r.lo : r.hi) * ratio);
    const scale = Math.fround(m * Math.fround(-1 / mid));
    // -0 (all-zero group) is stored as +0: same value, simpler to compare.
    return { scale: scale === 0 ? 0 : scale, zeroPoint: mid };
  }
  const qmax = levelsOf(bits);
  const lo = Math.fround(r.lo * ratio);
  const hi = Math.fround(r.hi * ratio);
  const scale = Math.fround(Math.fround(hi - lo) * Math.fround(1 / qmax));
  if (scale === 0) return { scale: 0, zeroPoint: 0 };
  return { scale, zeroPoint: clamp(roundHalfEven(Math.fround(-lo / scale)), 0, qmax) };
}

export function quantizeValue(w: number, p: BlockParams, qmax: number): number {
  if (p.scale === 0) return p.zeroPoint;
  return clamp(roundHalfEven(Math.fround(w / p.scale)) + p.zeroPoint, 0, qmax);
}

export function dequantizeValue(q: number, p: BlockParams): number {
  return Math.fround((q - p.zeroPoint) * p.scale);
}

/** Sum of squared reconstruction errors of `values` under `p` (float64 accumulation). */
export function groupSquaredError(values: Float32Array, p: BlockParams, qmax: number): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    const w = values[i]!;
    const d = w - dequantizeValue(quantizeValue(w, p, qmax), p);
    sum += d * d;
  }
  return sum;
}

export function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}
