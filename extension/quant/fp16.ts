/**
 * float32 <-> IEEE 754 binary16, bit-exact, for 16-bit weights (SPEC §2 `bits: 16`).
 * Rounding is round-to-nearest-even like the hardware conversions (and numpy's astype(float16)),
 * so fp16 weights written here equal what a GPU would produce from the same fp32 values.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The float16 bit pattern nearest to `value` (ties to even; overflow to ±inf; NaN stays NaN). */
export function float32ToFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  const mantissa = x & 0x7fffff;

  if (exponent === 0xff) {
    // Inf stays inf; NaN keeps a quiet-NaN payload bit so it cannot turn into inf.
    return mantissa === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mantissa >>> 13);
  }
  // Unbiased exponent; fp16 normals cover 2^-14 .. 2^15.
  const e = exponent - 127;
  if (e > 15) return sign | 0x7c00;
  if (e >= -14) {
    // Normal: keep 10 mantissa bits, round the 13 dropped bits to nearest even. A carry out of the
    // mantissa correctly bumps the exponent (and 65520 and above becomes inf).
    let half = ((e + 15) << 10) | (mantissa >>> 13);
    const rest = mantissa & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half += 1;
    return sign | half;
  }
  if (e < -25) return sign; // below half the smallest subnormal (2^-24): rounds to zero
  // Subnormal: value = m * 2^-24 with m < 1024. Shift the full 24-bit significand into place.
  const significand = mantissa | 0x800000;
  // value = significand * 2^(e-23) = m * 2^-24  =>  m = significand >> (-e - 1), 14..24 bits dropped.
  const dropped = -e - 1;
  let half = significand >>> dropped;
  const rest = significand & ((1 << dropped) - 1);
  const midpoint = 1 << (dropped - 1);
  if (rest > midpoint || (rest === midpoint && (half & 1) === 1)) half += 1;
  return sign | half;
}

/** The float32 value of a float16 bit pattern (exact: every fp16 is representable in fp32). */
export function float16BitsToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

export function toFloat16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = float32ToFloat16Bits(values[i]!);
  return out;
}

export function fromFloat16(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = float16BitsToFloat32(bits[i]!);
  return out;
}
