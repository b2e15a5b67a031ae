/** Public surface of the tensor quantizer (SPEC §7 layout, formulas in block.ts). */
export { dequantize, layoutBlockSize, quantize, quantizeRows, validateQuantized, zeroPointOf } from './quantize';
export { fromFloat16, float16BitsToFloat32, float32ToFloat16Bits, toFloat16 } from './fp16';
export { quantizationError, quantizedByteCount } from './metrics';
export { packCodes, unpackCodes } from './pack';
export type * from './types';
