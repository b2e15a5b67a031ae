/**
 * Dequantize a MatMulNBits weight back to fp32 B[K, N] (row-major): w = (q - zero_point) * scale.
 * One thread per output element, n fastest, so the writes of a workgroup are contiguous.
 */
import { bindBuffers, dispatch, getPipeline, uniformBuffer, withEncoder } from './pipelines';
import { createStorage, shapeOf, type GpuQuantizedWeight } from './weights';
import { bitsConstants, dispatchLinear, linearIndexFn, storage, uniforms, unpackFns, zeroPointFn } from './wgsl';
import type { Bits } from './layout';

const WG = 64;

function dequantizeWgsl(bits: Bits, asymmetric: boolean): string {
  return `${uniforms(0, ['K', 'N', 'k_blocks', 'block_size', 'words_per_col', 'zp_row_bytes'])}
${bitsConstants(bits)}
${unpackFns()}
${linearIndexFn(WG)}
${storage(1, 'data', 'array<u32>')}
${storage(2, 'scales', 'array<f32>')}
${storage(3, 'out', 'array<f32>', 'read_write')}
${asymmetric ? storage(4, 'zero_points', 'array<u32>') : ''}
${zeroPointFn(asymmetric)}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg);
  if (i >= u.K * u.N) { return; }
  let n = i % u.N;
  let k = i / u.N;
  let kb = k / u.block_size;
  let word = data[n * u.words_per_col + k / CPW];
  out[i] = (f32(code_at(word, k % CPW)) - zero_point(n, kb)) * scales[n * u.k_blocks + kb];
}`;
}

/** fp32 B[K, N] from a quantized weight. Records into `encoder` when given, else submits at once. */
export function dequantize(device: GPUDevice, w: GpuQuantizedWeight, encoder?: GPUCommandEncoder): GPUBuffer {
  const s = shapeOf(w);
  const asym = w.zeroPoints !== undefined;
  const pipeline = getPipeline(device, 'dequantize', { bits: w.bits, asymmetric: asym, workgroup: WG }, (v) =>
    dequantizeWgsl(v.bits, v.asymmetric),
  );
  const u = uniformBuffer(device, [w.K, w.N, s.kBlocks, w.blockSize, s.wordsPerColumn, s.zpRowBytes]);
  const out = createStorage(device, w.K * w.N * 4, 'webq.dequantized');
  const buffers = [u, w.data, w.scales, out, ...(w.zeroPoints ? [w.zeroPoints] : [])];
  withEncoder(device, encoder, (e) =>
    dispatch(e, pipeline, bindBuffers(device, pipeline, buffers), dispatchLinear(w.K * w.N, WG)),
  );
  return out;
}
