/**
 * Rotary position embedding of a Llama/Qwen2 decoder, Hugging Face's non-interleaved form (`rotate_half`), in
 * place on x viewed as [tokens, heads, headDim]: with half = headDim / 2 and (c, s) = (cos, sin)[position0 + t, j],
 * for j < half: out[j] = x[j]·c − x[j + half]·s and out[j + half] = x[j + half]·c + x[j]·s.
 *
 * The cos/sin tables ([positions, half] f32, row p = position p) are computed on the CPU: the angles p·θ_j reach
 * thousands of radians, and WGSL only specifies cos/sin accuracy in [−π, π], so no angle goes through the GPU.
 * One invocation per (token, head, j) pair: it reads both halves and writes both, so the update in place needs no
 * second buffer and no synchronisation. Shapes and position0 are uniforms: one pipeline serves every step.
 */
import { checkBuffer, checkNonNegative, checkPositive } from './args';
import { bindBuffers, dispatch, getPipeline, uniformBuffer, withEncoder } from './pipelines';
import { dispatchLinear, linearIndexFn, storage, uniforms } from './wgsl';

const WG = 64;

export interface RopeArgs {
  /** f32 [tokens, heads, headDim], rotated in place. */
  x: GPUBuffer;
  /** f32 [positions, headDim / 2]. */
  cos: GPUBuffer;
  /** f32 [positions, headDim / 2]. */
  sin: GPUBuffer;
  tokens: number;
  heads: number;
  /** Even. */
  headDim: number;
  /** Position of token 0 (the number of tokens already in the KV cache). */
  position0: number;
  /** Rows of the cos/sin tables; position0 + tokens must not exceed it. */
  positions: number;
}

function ropeWgsl(wg: number): string {
  return `${uniforms(0, ['pairs', 'heads', 'head_dim', 'half', 'position0'])}
${linearIndexFn(wg)}
${storage(1, 'x', 'array<f32>', 'read_write')}
${storage(2, 'cos_table', 'array<f32>')}
${storage(3, 'sin_table', 'array<f32>')}
@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg);
  if (i >= u.pairs) { return; }
  let j = i % u.half;
  let token_head = i / u.half;
  let t = token_head / u.heads;
  let table = (u.position0 + t) * u.half + j;
  let c = cos_table[table];
  let s = sin_table[table];
  let lo = token_head * u.head_dim + j;
  let hi = lo + u.half;
  let x1 = x[lo];
  let x2 = x[hi];
  x[lo] = x1 * c - x2 * s;
  x[hi] = x2 * c + x1 * s;
}`;
}

/** Rotate x in place by the positions position0 … position0 + tokens − 1. Records into `encoder` when given. */
export function rope(device: GPUDevice, args: RopeArgs, encoder?: GPUCommandEncoder): void {
  const { x, cos, sin, tokens, heads, headDim, position0, positions } = args;
  checkPositive('tokens', tokens);
  checkPositive('heads', heads);
  checkPositive('headDim', headDim);
  if (headDim % 2 !== 0) throw new RangeError(`headDim must be even, got ${headDim}`);
  checkNonNegative('position0', position0);
  checkPositive('positions', positions);
  if (position0 + tokens > positions) {
    throw new RangeError(`position0 + tokens = ${position0 + tokens} exceeds the table's positions (${positions})`);
  }
  const half = headDim / 2;
  checkBuffer('x', x, tokens * heads * headDim);
  checkBuffer('cos', cos, positions * half);
  checkBuffer('sin', sin, positions * half);
  if (x === cos || x === sin) throw new RangeError('x must be a different buffer from cos and sin');
  const pairs = tokens * heads * half;
  const pipeline = getPipeline(device, 'rope', { workgroup: WG }, (v) => ropeWgsl(v.workgroup));
  const u = uniformBuffer(device, [pairs, heads, headDim, half, position0]);
  withEncoder(device, encoder, (e) =>
    dispatch(e, pipeline, bindBuffers(device, pipeline, [u, x, cos, sin]), dispatchLinear(pairs, WG)),
  );
}
