/**
 * Argument checks shared by the decoder kernels (rms-norm.ts, add.ts, silu-mul.ts, rope.ts, embedding.ts,
 * argmax.ts, head-rows.ts). A kernel indexes its buffers with u32 arithmetic and WebGPU reads out-of-bounds
 * elements as zeros (or clamps) instead of failing, so a wrong shape would give silently wrong numbers: every
 * shape and buffer size is checked on the CPU first, and a bad one throws a `RangeError` naming the field.
 */

const U32_MAX = 0xffffffff;

/** `value` is an integer in 1 … 2^32 − 1 (a u32 uniform that is a size). */
export function checkPositive(field: string, value: number): void {
  if (!Number.isInteger(value) || value <= 0 || value > U32_MAX) {
    throw new RangeError(`${field} must be an integer in 1..${U32_MAX}, got ${value}`);
  }
}

/** `value` is an integer in 0 … 2^32 − 1 (a u32 uniform that is an offset). */
export function checkNonNegative(field: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > U32_MAX) {
    throw new RangeError(`${field} must be an integer in 0..${U32_MAX}, got ${value}`);
  }
}

/**
 * `buffer` is a storage buffer of at least `elements` 4-byte elements (f32 or u32), and `elements` is indexable
 * with u32 arithmetic.
 */
export function checkBuffer(field: string, buffer: GPUBuffer | undefined, elements: number): void {
  if (!buffer) throw new RangeError(`${field} is missing`);
  if (!(buffer.usage & GPUBufferUsage.STORAGE)) throw new RangeError(`${field} is not a STORAGE buffer`);
  if (elements > U32_MAX) throw new RangeError(`${field} would need ${elements} elements, more than a u32 index`);
  if (buffer.size < elements * 4) {
    throw new RangeError(`${field} has ${buffer.size} bytes, needs at least ${elements * 4}`);
  }
}

/** The bit pattern of `x` as an f32, for a u32 uniform field that the WGSL reads with `bitcast<f32>`. */
export function f32Bits(x: number): number {
  return new Uint32Array(new Float32Array([x]).buffer)[0]!;
}
