/**
 * Quantized GEMV for decoding: Y[m, :] = A[m, :] · dequant(B) (+ bias), one workgroup row per output
 * column, for small M (each row of A is its own slice of the dispatch, z = m).
 *
 * Workgroup [TX, TY, 1]: TY output columns per workgroup, TX threads along K per column. Column n's packed
 * data is contiguous ([kBlocks, blockBytes]), so thread x reads words x, x+TX, x+2TX, … of it: neighbouring
 * threads read neighbouring words (coalesced), and each word is one block's 32/bits codes, so the scale and
 * zero point are read once per word. Accumulation is fp32: per word Σ (q − zp)·a, times the scale.
 * The TX partial sums of a column are reduced with subgroupAdd plus a short shared-memory step when the device
 * has `subgroups`, else with a shared-memory tree.
 */
import { bindBuffers, dispatch, getPipeline, hasSubgroups, subgroupMaxSize, uniformBuffer, withEncoder } from './pipelines.ts';
import { createStorage, shapeOf, type GpuQuantizedWeight } from './weights.ts';
import { bitsConstants, storage, uniforms, unpackFns, zeroPointFn } from './wgsl.ts';
import type { Bits } from './layout.ts';

export interface GemvOptions {
  /** [threads along K per column, columns per workgroup, 1]; x a power of two. Default [64, 4, 1]. */
  workgroupSize?: readonly [number, number, number];
  /** Use subgroup operations when the device has them (default true). */
  subgroups?: boolean;
}

export interface MatmulArgs {
  /** fp32 A[M, K], row-major. */
  a: GPUBuffer;
  M: number;
  w: GpuQuantizedWeight;
  /** fp32 [N]. */
  bias?: GPUBuffer;
  /** fp32 Y[M, N]; allocated when absent. */
  y?: GPUBuffer;
}

interface GemvVariant {
  bits: Bits;
  asymmetric: boolean;
  bias: boolean;
  /** A bound as vec4s (K % 4 == 0: every row starts 16-byte aligned). */
  vec4A: boolean;
  tx: number;
  ty: number;
  subgroups: boolean;
}

function reduceWgsl(v: GemvVariant): string {
  if (v.subgroups) {
    // Assumes subgroup lanes are consecutive local_invocation_index values (as Dawn's backends lay out
    // 1-D-contiguous workgroups) and TX is a multiple of the subgroup size, so no subgroup spans two columns.
    return `
  let sg_sum = subgroupAdd(acc);
  if (sg_lane == 0u) { part[lidx / sg_size] = sg_sum; }
  workgroupBarrier();
  var total = 0.0;
  if (lid.x == 0u) {
    let first = (lid.y * TX) / sg_size;
    for (var i = 0u; i < TX / sg_size; i++) { total += part[first + i]; }
  }`;
  }
  return `
  part[lidx] = acc;
  workgroupBarrier();
  for (var s = TX / 2u; s > 0u; s >>= 1u) {
    if (lid.x < s) { part[lidx] += part[lidx + s]; }
    workgroupBarrier();
  }
  let total = part[lidx];`;
}

function gemvWgsl(v: GemvVariant): string {
  const aRead = v.vec4A
    ? 'let av = a4[(a_row + k0 + j) / 4u];'
    : 'let av = vec4<f32>(a[a_row + k0 + j], a[a_row + k0 + j + 1u], a[a_row + k0 + j + 2u], a[a_row + k0 + j + 3u]);';
  return `${v.subgroups ? 'enable subgroups;' : ''}
${uniforms(0, ['K', 'N', 'k_blocks', 'words_per_col', 'words_per_block', 'zp_row_bytes', 'col_groups_x'])}
${bitsConstants(v.bits)}
${unpackFns()}
const TX: u32 = ${v.tx}u;
const TY: u32 = ${v.ty}u;
${storage(1, v.vec4A ? 'a4' : 'a', v.vec4A ? 'array<vec4<f32>>' : 'array<f32>')}
${storage(2, 'data', 'array<u32>')}
${storage(3, 'scales', 'array<f32>')}
${storage(4, 'y', 'array<f32>', 'read_write')}
${v.asymmetric ? storage(5, 'zero_points', 'array<u32>') : ''}
${v.bias ? storage(v.asymmetric ? 6 : 5, 'bias', 'array<f32>') : ''}
${zeroPointFn(v.asymmetric)}
var<workgroup> part: array<f32, ${v.tx * v.ty}>;

@compute @workgroup_size(${v.tx}, ${v.ty}, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) lidx: u32,
        @builtin(workgroup_id) wid: vec3<u32>${v.subgroups ? ', @builtin(subgroup_invocation_id) sg_lane: u32, @builtin(subgroup_size) sg_size: u32' : ''}) {
  let n = (wid.x + wid.y * u.col_groups_x) * TY + lid.y;
  let m = wid.z;
  let a_row = m * u.K;
  var acc = 0.0;
  if (n < u.N) {
    let col = n * u.words_per_col;
    for (var w = lid.x; w < u.words_per_col; w += TX) {
      let kb = w / u.words_per_block;
      let zp = zero_point(n, kb);
      let word = data[col + w];
      let k0 = w * CPW;
      var s = 0.0;
      if (k0 + CPW <= u.K) {
        for (var j = 0u; j < CPW; j += 4u) {
          ${aRead}
          s += dot(codes4(word, j) - vec4<f32>(zp), av);
        }
      } else {
        // last word of a K that is not a multiple of it: codes past K are padding and A has no element there
        for (var j = 0u; k0 + j < u.K; j++) { s += (f32(code_at(word, j)) - zp) * ${v.vec4A ? 'a4[(a_row + k0 + j) / 4u][(k0 + j) % 4u]' : 'a[a_row + k0 + j]'}; }
      }
      acc += s * scales[n * u.k_blocks + kb];
    }
  }
${reduceWgsl(v)}
  if (lid.x == 0u && n < u.N) {
    y[m * u.N + n] = total${v.bias ? ' + bias[n]' : ''};
  }
}`;
}

function resolveVariant(device: GPUDevice, args: MatmulArgs, options: GemvOptions): GemvVariant {
  const [tx, ty, tz] = options.workgroupSize ?? [64, 4, 1];
  if (tz !== 1 || tx < 1 || ty < 1 || (tx & (tx - 1)) !== 0) throw new RangeError(`gemv workgroupSize must be [2^i, y, 1]; got ${tx},${ty},${tz}`);
  const limits = device.limits;
  if (tx * ty > limits.maxComputeInvocationsPerWorkgroup || tx > limits.maxComputeWorkgroupSizeX || ty > limits.maxComputeWorkgroupSizeY) {
    throw new RangeError(`gemv workgroupSize ${tx}x${ty} exceeds the device limits`);
  }
  const sgMax = subgroupMaxSize(device);
  // Without a known subgroup size the layout assumption of reduceWgsl cannot be checked: use shared memory.
  const subgroups = (options.subgroups ?? true) && hasSubgroups(device) && sgMax !== undefined && tx % sgMax === 0;
  return {
    bits: args.w.bits, asymmetric: args.w.zeroPoints !== undefined, bias: args.bias !== undefined,
    vec4A: args.w.K % 4 === 0, tx, ty, subgroups,
  };
}

/** Y = A · dequant(B) (+ bias) for small M. Records into `encoder` when given, else submits at once. */
export function gemv(device: GPUDevice, args: MatmulArgs, options: GemvOptions = {}, encoder?: GPUCommandEncoder): GPUBuffer {
  const { w, M } = args;
  if (!(M >= 1 && M <= 65535)) throw new RangeError(`gemv M must be 1..65535; got ${M}`);
  const v = resolveVariant(device, args, options);
  const s = shapeOf(w);
  const key = `gemv/b${v.bits}/${v.asymmetric ? 'asym' : 'sym'}/bias=${v.bias}/vec4A=${v.vec4A}/wg${v.tx}x${v.ty}/sg=${v.subgroups}`;
  const pipeline = getPipeline(device, key, () => gemvWgsl(v));
  const colGroups = Math.ceil(w.N / v.ty);
  const gx = Math.min(colGroups, 65535);
  const gy = Math.ceil(colGroups / gx);
  const u = uniformBuffer(device, [w.K, w.N, s.kBlocks, s.wordsPerColumn, s.wordsPerBlock, s.zpRowBytes, gx]);
  const y = args.y ?? createStorage(device, M * w.N * 4, 'webq.gemv.y');
  const buffers = [u, args.a, w.data, w.scales, y, ...(w.zeroPoints ? [w.zeroPoints] : []), ...(args.bias ? [args.bias] : [])];
  withEncoder(device, encoder, (e) => dispatch(e, pipeline, bindBuffers(device, pipeline, buffers), [gx, gy, M]));
  return y;
}
