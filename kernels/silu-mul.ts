/**
 * The gated activation of a Llama/Qwen2 MLP: out[i] = (gate[i] · sigmoid(gate[i])) · up[i], with
 * sigmoid(g) = 1 / (1 + exp(−g)) — the ONNX graph's Sigmoid, Mul, Mul in that order, so the rounding follows it.
 *
 * WGSL leaves exp of an overflowing argument indeterminate (inf, NaN or garbage, by implementation), so for
 * g ≤ −88 (where e^g < 6.1e−39, below f32’s smallest normal) the sigmoid is taken as 0 and exp only ever sees
 * arguments below 88 (exp(88) ≈ 1.65e38 is finite): silu(g) is then ±0 where the exact value is at most 5.4e−37 in
 * magnitude, never NaN. (Clamping the argument alone would not do: 1 / (1 + exp(88)) ≈ 6e−39 times g = −1e38
 * would give −0.6.)
 * One invocation per element (`dispatchLinear`); the count is a uniform.
 */
import { checkBuffer, checkPositive } from './args';
import { bindBuffers, dispatch, getPipeline, uniformBuffer, withEncoder } from './pipelines';
import { dispatchLinear, linearIndexFn, storage, uniforms } from './wgsl';

const WG = 64;

export interface SiluMulArgs {
  /** f32 [count]. */
  gate: GPUBuffer;
  /** f32 [count]. */
  up: GPUBuffer;
  /** f32 [count], written; not `gate` or `up`. */
  out: GPUBuffer;
  count: number;
}

/** silu(g) · x, as the header says (the same expression for both layouts). */
const SILU_MUL_FN = `fn silu_mul(g: f32, x: f32) -> f32 {
  let sigmoid = select(0.0, 1.0 / (1.0 + exp(min(-g, 88.0))), g > -88.0);
  return (g * sigmoid) * x;
}`;

function siluMulWgsl(wg: number): string {
  return `${uniforms(0, ['count'])}
${linearIndexFn(wg)}
${storage(1, 'gate', 'array<f32>')}
${storage(2, 'up', 'array<f32>')}
${storage(3, 'out', 'array<f32>', 'read_write')}
${SILU_MUL_FN}
@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg);
  if (i >= u.count) { return; }
  out[i] = silu_mul(gate[i], up[i]);
}`;
}

/** Rows of [gate | up] (one GEMV/GEMM over both weights side by side) → rows of silu(gate) · up. */
function siluMulRowsWgsl(wg: number): string {
  return `${uniforms(0, ['count', 'width'])}
${linearIndexFn(wg)}
${storage(1, 'gate_up', 'array<f32>')}
${storage(2, 'out', 'array<f32>', 'read_write')}
${SILU_MUL_FN}
@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg);
  if (i >= u.count) { return; }
  let row = i / u.width;
  let g = row * 2u * u.width + (i - row * u.width);
  out[i] = silu_mul(gate_up[g], gate_up[g + u.width]);
}`;
}

export interface SiluMulRowsArgs {
  /** f32 [rows, 2 · width]: each row's gate values, then its up values. */
  gateUp: GPUBuffer;
  /** f32 [rows, width], written; not `gateUp`. */
  out: GPUBuffer;
  rows: number;
  width: number;
}

/**
 * out[r, j] = silu(gateUp[r, j]) · gateUp[r, width + j]: the MLP's gate and up projections computed as one matmul
 * over their weights side by side (native/decoder.ts), one dispatch and one read of the activations fewer per layer.
 */
export function siluMulRows(device: GPUDevice, args: SiluMulRowsArgs, encoder?: GPUCommandEncoder): void {
  const { gateUp, out, rows, width } = args;
  checkPositive('rows', rows);
  checkPositive('width', width);
  checkBuffer('gateUp', gateUp, 2 * rows * width);
  checkBuffer('out', out, rows * width);
  if (out === gateUp) throw new RangeError('out must be a different buffer from gateUp');
  const pipeline = getPipeline(device, 'siluMulRows', { workgroup: WG }, (v) => siluMulRowsWgsl(v.workgroup));
  const u = uniformBuffer(device, [rows * width, width]);
  withEncoder(device, encoder, (e) =>
    dispatch(e, pipeline, bindBuffers(device, pipeline, [u, gateUp, out]), dispatchLinear(rows * width, WG)),
  );
}

/** out = silu(gate) · up. Records into `encoder` when given, else submits at once. */
export function siluMul(device: GPUDevice, args: SiluMulArgs, encoder?: GPUCommandEncoder): void {
  const { gate, up, out, count } = args;
  checkPositive('count', count);
  checkBuffer('gate', gate, count);
  checkBuffer('up', up, count);
  checkBuffer('out', out, count);
  if (out === gate || out === up) throw new RangeError('out must be a different buffer from gate and up');
  const pipeline = getPipeline(device, 'siluMul', { workgroup: WG }, (v) => siluMulWgsl(v.workgroup));
  const u = uniformBuffer(device, [count]);
  withEncoder(device, encoder, (e) =>
    dispatch(e, pipeline, bindBuffers(device, pipeline, [u, gate, up, out]), dispatchLinear(count, WG)),
  );
}
