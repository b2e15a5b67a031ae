/** Public surface of the tensor quantizer (SPEC §7 layout, formulas in block.ts). */
export { dequantize, layoutBlockSize, quantize, quantizeRows, validateQuantized, zeroPointOf } from './quantize.ts';
export { fromFloat16, float16BitsToFloat32, float32ToFloat16Bits, toFloat16 } from './fp16.ts';
export { quantizationError, quantizedByteCount } from './metrics.ts';
export { packCodes, unpackCodes } from './pack.ts';
export type * from './types.ts';
