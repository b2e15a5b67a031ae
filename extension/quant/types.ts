/**
 * The quantized weight format shared by the TypeScript quantizer (extension/quant), the ONNX rewriter
 * (extension/onnx) and the WGSL kernels (kernels/). It is onnxruntime's MatMulNBits layout (SPEC §7), so
 * ORT runs what webq writes unchanged and webq's kernels can be checked against ORT.
 *
 * A MatMul weight in ONNX is B[K, N] (row-major, K = input features, N = output features).
 * MatMulNBits stores it transposed and blocked along K:
 *   data        uint8 [N, kBlocks, blockSize * bits / 8]   values unsigned, low bits first in each byte
 *   scales      fp32  [N, kBlocks]
 *   zeroPoints  uint8 [N, ceil(kBlocks * bits / 8)]         packed like data; absent = symmetric (2^(bits-1))
 * with kBlocks = ceil(K / blockSize). The tail of the last block (K not a multiple of blockSize) is padded
 * with code = zero point, i.e. dequantizes to 0.
 * Dequantized value = (q - zeroPoint) * scale.
 */

// The layout's types are owned by the kernels (the ground floor, which imports nothing from above).
export type { Bits, GroupSize, QuantizedWeight, QuantizeOptions, Scheme } from '../../kernels/layout';

export interface QuantizationError {
  meanAbsError: number;
  maxAbsError: number;
  /** Signal-to-noise ratio in dB: 10 log10(sum w^2 / sum (w - w')^2). */
  snrDb: number;
  cosine: number;
}
