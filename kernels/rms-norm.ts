/**
 * RMS normalization of a Llama/Qwen2/Qwen3 decoder (ONNX SimplifiedLayerNormalization / RMSNormalization over the
 * last axis): for each row r of x [rows, dim], ms = mean(x[r, :]²) and y[r, d] = (x[r, d] / sqrt(ms + eps)) ·
 * weight[d]. Qwen3's q/k norms are the same over rows = tokens × heads of dim = headDim.
 *
 * One workgroup of 64 threads per row: a row is a few thousand floats at most, which one workgroup reads with
 * coalesced strided loads; each thread sums the squares of its stride into a register, and a shared-memory tree
 * (fixed order, so results are deterministic) adds the 64 partial sums. Rows are spread over a 2-D grid
 * (row = workgroup_id.x + workgroup_id.y · num_workgroups.x) so a long prompt can exceed 65535 rows. eps is an f32
 * passed as its bit pattern in the u32 uniform. `x` and `y` must be different buffers: WebGPU does not let one
 * buffer be bound as read-only and as read-write in the same dispatch.
 */
import { checkBuffer, checkPositive, f32Bits } from './args';
import { bindBuffers, dispatch, getPipeline, uniformBuffer, withEncoder } from './pipelines';
import { dispatchLinear, storage, uniforms } from './wgsl';

const WG = 64;

export interface RmsNormArgs {
  /** f32 [rows, dim]. */
  x: GPUBuffer;
  /** f32 [dim]. */
  weight: GPUBuffer;
  /** f32 [rows, dim], written; not the same buffer as `x`. */
  y: GPUBuffer;
  rows: number;
  dim: number;
  /** Added to the mean square before the square root (finite, ≥ 0). */
  eps: number;
}

function rmsNormWgsl(wg: number): string {
  return `${uniforms(0, ['rows', 'dim', 'eps'])}
${storage(1, 'x', 'array<f32>')}
${storage(2, 'weight', 'array<f32>')}
${storage(3, 'y', 'array<f32>', 'read_write')}
const WG: u32 = ${wg}u;
var<workgroup> partial: array<f32, WG>;
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= u.rows) { return; } // uniform across the workgroup: no barrier is skipped by part of it
  let base = row * u.dim;
  var s = 0.0;
  for (var d = lid; d < u.dim; d += WG) {
    let v = x[base + d];
    s += v * v;
  }
  partial[lid] = s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { partial[lid] += partial[lid + stride]; }
    workgroupBarrier();
  }
  let denom = sqrt(partial[0] / f32(u.dim) + bitcast<f32>(u.eps));
  for (var d = lid; d < u.dim; d += WG) {
    y[base + d] = (x[base + d] / denom) * weight[d];
  }
}`;
}

/** y = rmsNorm(x) · weight per row. Records into `encoder` when given, else submits at once. */
export function rmsNorm(device: GPUDevice, args: RmsNormArgs, encoder?: GPUCommandEncoder): void {
  const { x, weight, y, rows, dim, eps } = args;
  checkPositive('rows', rows);
  checkPositive('dim', dim);
  if (!(Number.isFinite(eps) && eps >= 0)) throw new RangeError(`eps must be finite and >= 0, got ${eps}`);
  checkBuffer('x', x, rows * dim);
  checkBuffer('weight', weight, dim);
  checkBuffer('y', y, rows * dim);
  if (x === y) throw new RangeError('y must be a different buffer from x (WebGPU cannot bind one buffer twice)');
  const pipeline = getPipeline(device, 'rmsNorm', { workgroup: WG }, (v) => rmsNormWgsl(v.workgroup));
  const u = uniformBuffer(device, [rows, dim, f32Bits(eps)]);
  withEncoder(device, encoder, (e) =>
    dispatch(e, pipeline, bindBuffers(device, pipeline, [u, x, weight, y]), dispatchLinear(rows, 1)),
  );
}
