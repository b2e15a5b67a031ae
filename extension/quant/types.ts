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

export type Bits = 2 | 4 | 8;
export type Scheme = 'symmetric' | 'asymmetric';

/** Elements per scale: a power of two >= 16, 0 = per output channel, -1 = per tensor (SPEC §2). */
export type GroupSize = number;

export interface QuantizeOptions {
  bits: Bits;
  scheme: Scheme;
  groupSize: GroupSize;
  /**
   * Per-block clipping search that minimises the block's reconstruction error instead of plain
   * round-to-nearest over the full range. Default: on at 2 bits, off at 4 and 8.
   */
  scaleSearch?: boolean;
}

export interface QuantizedWeight {
  bits: Bits;
  scheme: Scheme;
  /** Rows of the original B (input features). */
  K: number;
  /** Columns of the original B (output features). */
  N: number;
  /** MatMulNBits block_size attribute actually used (a power of two >= 16). */
  blockSize: number;
  /** The group size that was asked for (0 per-channel, -1 per-tensor, else equals blockSize). */
  groupSize: GroupSize;
  kBlocks: number;
  data: Uint8Array;
  scales: Float32Array;
  /** Present for asymmetric; symmetric implies 2^(bits-1). */
  zeroPoints?: Uint8Array;
}

export interface QuantizationError {
  meanAbsError: number;
  maxAbsError: number;
  /** Signal-to-noise ratio in dB: 10 log10(sum w^2 / sum (w - w')^2). */
  snrDb: number;
  cosine: number;
}
