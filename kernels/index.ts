/**
 * webq's WebGPU kernels: quantize/dequantize in the MatMulNBits layout, quantized matmul, decoder attention over
 * a GPU KV cache, and the elementwise and reduction kernels of a Llama/Qwen2 decoder.
 * Every function takes the GPUDevice it runs on (no extension or DOM dependency), records into an optional
 * GPUCommandEncoder (else submits at once) and returns GPU buffers or writes into the caller's (attention, kvWrite);
 * nothing reads back unless asked to.
 */
import { gemm, type GemmOptions } from './gemm';
import { gemv, type GemvOptions, type MatmulArgs } from './gemv';

export { quantize, type QuantizeInput } from './quantize';
export { dequantize } from './dequantize';
export { gemv, GEMV_DEFAULTS, type GemvOptions, type MatmulArgs } from './gemv';
export { gemm, GEMM_DEFAULTS, type GemmOptions } from './gemm';
export { GEMM_UNSTAGED_DEFAULTS } from './gemm-unstaged';
export { attention, kvWrite, type AttentionArgs, type KvWriteArgs } from './attention';
export {
  uploadQuantized,
  concatColumns,
  sliceColumns,
  downloadQuantized,
  destroyQuantized,
  uploadBytes,
  readBytes,
  readFloats,
  createStorage,
  type GpuQuantizedWeight,
} from './weights';
export { blockSizeFor, packedShape, SEARCH_RATIOS, type PackedShape } from './layout';
export { pipelineCount } from './pipelines';
export { rmsNorm, type RmsNormArgs } from './rms-norm';
export { addInPlace, type AddArgs } from './add';
export { siluMul, siluMulRows, type SiluMulArgs, type SiluMulRowsArgs } from './silu-mul';
export { rope, type RopeArgs } from './rope';
export { gatherRows, type GatherRowsArgs } from './embedding';
export { argmax, type ArgmaxArgs } from './argmax';
export { topK, MAX_TOP_K, type TopKArgs } from './top-k';
export { matvecRows, type MatvecRowsArgs } from './head-rows';

/** matmul's default largest M that runs as GEMV. */
export const GEMV_MAX_ROWS = 4;

export interface MatmulOptions {
  gemv?: GemvOptions;
  gemm?: GemmOptions;
  /** Largest M that still runs as GEMV (a GEMV re-reads B per row; the GEMM tiles it). Default GEMV_MAX_ROWS. */
  gemvMaxRows?: number;
}

/**
 * Y[M, N] = A[M, K] · dequant(B) (+ bias): GEMV for decoding-sized M, tiled GEMM above (which takes no `norm`:
 * RangeError).
 */
export function matmul(
  device: GPUDevice,
  args: MatmulArgs,
  options: MatmulOptions = {},
  encoder?: GPUCommandEncoder,
): GPUBuffer {
  return args.M <= (options.gemvMaxRows ?? GEMV_MAX_ROWS)
    ? gemv(device, args, options.gemv, encoder)
    : gemm(device, args, options.gemm, encoder);
}
