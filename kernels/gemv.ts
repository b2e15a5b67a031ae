/**
 * Quantized GEMV for decoding: Y[m, :] = A[m, :] · dequant(B) (+ bias), for small M (each row of A is its own
 * slice of the dispatch, z = m).
 *
 * Workgroup [TX, TY, 1] with RN columns per thread: the workgroup computes TY·RN output columns, TX threads along
 * K for each. K is walked in *chunks* of one block's codes (at most 32: 2, 4 or 8 u32 words at 2, 4, 8 bits, or
 * the whole block when it is smaller), so that
 *  - each thread reads a chunk of each of its columns with one vector load (vec2/vec4<u32>), neighbouring threads
 *    neighbouring chunks (coalesced), and the chunk's scale and zero point once;
 *  - A is read once per chunk for all RN columns (the codes of column r are multiplied by the same A values);
 *  - codes become floats without an integer conversion (wgsl.ts `codes4m`), and the loop over a chunk is
 *    unrolled here, so every word index and shift is a constant.
 * A is staged in workgroup memory per tile of TX chunks (TX·32 floats) when that fits the device's workgroup
 * storage (option `stageA`), loaded once per workgroup with coalesced vec4 reads and read back in a swizzled
 * order that avoids bank conflicts; else each thread reads its A values from global memory (cached).
 * Accumulation is fp32: per chunk Σ (q − zp)·a, times the scale. The TX partial sums of a column are reduced with
 * subgroupAdd plus a short shared-memory step when the device has `subgroups`, else with a shared-memory tree.
 *
 * `norm` fuses a decoder's RMSNorm into the GEMV: Y = (rmsNorm(A) · weight) · dequant(B), i.e. per row
 * Σ_k (x_k · g_k)·b_k / sqrt(mean(x²) + eps). Each thread reads every A value of its chunks anyway, so it also sums
 * their squares; that sum is reduced with the columns' (one more value per thread) and the column total divided by
 * the root at the end. It saves the norm's dispatch and its write and read of the normalized row.
 */
import {
  bindBuffers,
  dispatch,
  getPipeline,
  hasSubgroups,
  subgroupMaxSize,
  uniformBuffer,
  withEncoder,
} from './pipelines';
import { createStorage, matmulBuffers, shapeOf, type GpuQuantizedWeight } from './weights';
import { checkBuffer, f32Bits } from './args';
import { activationReadFn, bitsConstants, magicCodesFns, matmulBindings, storage, uniforms, zeroPointFn } from './wgsl';
import type { Bits } from './layout';

/** The tiles a GEMV runs at where its options leave them out. */
export const GEMV_DEFAULTS = { workgroupSize: [64, 4, 1], colsPerThread: 2 } as const;

export interface GemvOptions {
  /** [threads along K per column, rows of threads, 1]; x a power of two. Default [64, 4, 1]. */
  workgroupSize?: readonly [number, number, number];
  /** Output columns per thread (they share the A values a thread reads). Default 2. */
  colsPerThread?: number;
  /** Use subgroup operations when the device has them (default true). */
  subgroups?: boolean;
  /**
   * Stage A in workgroup memory (tiles of x·32 floats, shared by the workgroup's columns). Default: when it fits
   * the device's maxComputeWorkgroupStorageSize; `true` where it does not fit throws RangeError.
   */
  stageA?: boolean;
}

export interface MatmulArgs {
  /** fp32 A[M, K], row-major. */
  a: GPUBuffer;
  M: number;
  w: GpuQuantizedWeight;
  /** fp32 [N]. */
  bias?: GPUBuffer;
  /**
   * RMS-normalize each row of A first (GEMV only, M ≤ matmul's gemvMaxRows): A is then the un-normalized row and
   * `weight` (fp32 [K]) the norm's scale; eps is added to the mean square (finite, ≥ 0).
   */
  norm?: { weight: GPUBuffer; eps: number };
  /** fp32 Y[M, N]; allocated when absent. */
  y?: GPUBuffer;
  /**
   * Add into `y` (Y = Y + (A · dequant(B) + bias), rounded as a separate add would) instead of overwriting it: a
   * residual add recorded in the matmul's own dispatch. Needs `y`.
   */
  accumulate?: boolean;
}

/** What every quantized matmul kernel's code depends on (each kernel adds its tiles). */
export interface MatmulVariant {
  bits: Bits;
  asymmetric: boolean;
  /** The pass adds the bias. */
  bias: boolean;
  /** The pass adds into Y. */
  accumulate: boolean;
  /** A bound as vec4s (K % 4 == 0: every row starts 16-byte aligned). */
  vec4A: boolean;
}

interface GemvVariant extends MatmulVariant {
  tx: number;
  ty: number;
  rn: number;
  subgroups: boolean;
  /** u32 words per chunk: min(bits, wordsPerBlock) — 1, 2, 4 or 8; a chunk never spans two blocks. */
  cw: number;
  stageA: boolean;
  /** RMSNorm of A fused (args.norm). */
  norm: boolean;
}

/** Codes per chunk (16 or 32) and vec4 steps per chunk. */
const codesPerChunk = (v: Pick<GemvVariant, 'cw' | 'bits'>): number => (v.cw * 32) / v.bits;

/** The vector type a chunk's words are loaded as, and how many such loads a chunk takes. */
function chunkType(cw: number): { type: string; loads: number } {
  if (cw === 1) return { type: 'u32', loads: 1 };
  if (cw === 2) return { type: 'vec2<u32>', loads: 1 };
  return { type: 'vec4<u32>', loads: cw / 4 };
}

/** WGSL expression for word i of column r's chunk (loaded as w{r}_{h}). */
function wordOf(cw: number, r: number, i: number): string {
  if (cw === 1) return `w${r}_0`;
  const lanes = 'xyzw';
  if (cw === 2) return `w${r}_0.${lanes[i]}`;
  return `w${r}_${Math.floor(i / 4)}.${lanes[i % 4]}`;
}

/** Values each thread reduces: its RN column sums, and with `norm` its sum of squares of A (value RN). */
const reducedValues = (v: Pick<GemvVariant, 'rn' | 'norm'>): number => v.rn + (v.norm ? 1 : 0);

function reduceWgsl(v: GemvVariant): string {
  const cols = Array.from({ length: v.rn }, (_, r) => r);
  const sums = v.norm ? [...cols.map((r) => `acc${r}`), 'sq'] : cols.map((r) => `acc${r}`);
  // The row's RMS denominator, from the reduced sum of squares (value RN), read once per thread that writes.
  const denom = (partIndex: (i: string) => string, count: string): string =>
    v.norm
      ? `
  var sq_total = 0.0;
  for (var i = 0u; i < ${count}; i++) { sq_total += part[${partIndex('i')}]; }
  let denom = sqrt(sq_total / f32(u.K) + bitcast<f32>(u.eps));`
      : '';
  const normed = (total: string): string => (v.norm ? `${total} / denom` : total);
  if (v.subgroups) {
    // Assumes subgroup lanes are consecutive local_invocation_index values (as Dawn's backends lay out
    // 1-D-contiguous workgroups) and TX is a multiple of the subgroup size, so no subgroup spans two columns.
    return `
  let per_col = TX / sg_size;
${sums.map((x, r) => `  let sg${r} = subgroupAdd(${x});`).join('\n')}
  if (sg_lane == 0u) {
${sums.map((_, r) => `    part[(lid.y * NV + ${r}u) * per_col + lid.x / sg_size] = sg${r};`).join('\n')}
  }
  workgroupBarrier();${denom((i) => `(lid.y * NV + RN) * per_col + ${i}`, 'per_col')}
  for (var r = lid.x; r < RN; r += TX) {
    var total = 0.0;
    for (var i = 0u; i < per_col; i++) { total += part[(lid.y * NV + r) * per_col + i]; }
    write_column(m, r, ${normed('total')});
  }`;
  }
  return `
${sums.map((x, r) => `  part[(lid.y * NV + ${r}u) * TX + lid.x] = ${x};`).join('\n')}
  workgroupBarrier();
  for (var s = TX / 2u; s > 0u; s >>= 1u) {
    if (lid.x < s) {
      for (var r = 0u; r < NV; r++) {
        let i = (lid.y * NV + r) * TX + lid.x;
        part[i] += part[i + s];
      }
    }
    workgroupBarrier();
  }${denom(() => `(lid.y * NV + RN) * TX`, '1u')}
  for (var r = lid.x; r < RN; r += TX) { write_column(m, r, ${normed('part[(lid.y * NV + r) * TX]')}); }`;
}

/** The norm's weight g[K] and `g_at(k)`: g[k … k + 3], zero past K (bound as A is: vec4s when K % 4 == 0). */
function normWeightWgsl(v: GemvVariant, binding: number): string {
  if (v.vec4A) {
    return `${storage(binding, 'g4', 'array<vec4<f32>>')}
fn g_at(k: u32) -> vec4<f32> { return select(vec4<f32>(0.0), g4[min(k, u.K - 4u) / 4u], k < u.K); }`;
  }
  return `${storage(binding, 'g', 'array<f32>')}
fn g1(k: u32) -> f32 { return select(0.0, g[min(k, u.K - 1u)], k < u.K); }
fn g_at(k: u32) -> vec4<f32> { return vec4<f32>(g1(k), g1(k + 1u), g1(k + 2u), g1(k + 3u)); }`;
}

function gemvWgsl(v: GemvVariant): string {
  const cpc = codesPerChunk(v);
  const steps = cpc / 4; // vec4s of A per chunk
  const cpw = 32 / v.bits;
  const { type: chunkT, loads } = chunkType(v.cw);
  const cols = Array.from({ length: v.rn }, (_, r) => r);
  const dataIndex = (h: number): string => (loads === 1 ? 'base_r' : `(base_r * ${loads}u + ${h}u)`);
  const loadCols = cols
    .map(
      (r) => `
    let n${r} = min(col0 + ${r}u * TY + lid.y, u.N - 1u);
    {
      let base_r = n${r} * u.chunks_per_col + cc;
${Array.from({ length: loads }, (_, h) => `      w${r}_${h} = data[${dataIndex(h)}];`).join('\n')}
    }
    let sc${r} = scales[n${r} * u.k_blocks + kb];
    let zb${r} = vec4<f32>(MAGIC + zero_point(n${r}, kb));`,
    )
    .join('');
  const aStep = (j: number): string =>
    v.stageA ? `tile[swz(lid.x * ${steps}u + ${j}u)]` : `a_at(a_row, c * ${cpc}u + ${4 * j}u)`;
  const computeSteps = Array.from({ length: steps }, (_, j) => {
    const word = Math.floor((4 * j) / cpw);
    const shift = ((4 * j) % cpw) * v.bits;
    const read = v.norm
      ? `let xv = ${aStep(j)};
        sq += dot(xv, xv);
        let av = xv * g_at(c * ${cpc}u + ${4 * j}u);`
      : `let av = ${aStep(j)};`;
    return `      {
        ${read}
${cols.map((r) => `        s${r} += (codes4m(${wordOf(v.cw, r, word)}, ${shift}u) - zb${r}) * av;`).join('\n')}
      }`;
  }).join('\n');
  const tileBarrierAndStage = v.stageA
    ? `
    workgroupBarrier(); // every thread is done with the previous tile
    for (var i = lidx; i < TX * ${steps}u; i += TX * TY) { tile[swz(i)] = a_at(a_row, t * TX * ${cpc}u + 4u * i); }
    workgroupBarrier();`
    : '';
  return `${v.subgroups ? 'enable subgroups;' : ''}
${uniforms(0, ['K', 'N', 'k_blocks', 'chunks_per_col', 'chunks_per_block', 'zp_row_bytes', 'col_groups_x', 'eps'])}
${bitsConstants(v.bits)}
${magicCodesFns()}
const TX: u32 = ${v.tx}u;
const TY: u32 = ${v.ty}u;
const RN: u32 = ${v.rn}u;
const NV: u32 = ${reducedValues(v)}u; // values reduced per thread
${matmulBindings(v, 'y', `array<${chunkT}>`)}
${v.norm ? normWeightWgsl(v, 5 + Number(v.asymmetric) + Number(v.bias)) : ''}
${zeroPointFn(v.asymmetric)}
${activationReadFn(v.vec4A)}
var<workgroup> part: array<f32, ${v.tx * v.ty * reducedValues(v)}>;
${
  v.stageA
    ? `// A tile: TX chunks of ${steps} vec4s. Thread x reads vec4 j of chunk x; storing logical vec4 i at
// i ^ ((i / 8) % 8) puts the 8 threads of a 128-bit access phase on 8 different bank groups.
var<workgroup> tile: array<vec4<f32>, ${v.tx * steps}>;
fn swz(i: u32) -> u32 { return i ^ ((i >> 3u) & 7u); }`
    : ''
}

var<private> col0: u32;
fn write_column(m: u32, r: u32, total: f32) {
  let n = col0 + r * TY + local_y;
  let i = m * u.N + n;
  if (n < u.N) { y[i] = ${v.accumulate ? 'y[i] + (' : '('}total${v.bias ? ' + bias[n]' : ''}); }
}
var<private> local_y: u32;

@compute @workgroup_size(${v.tx}, ${v.ty}, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) lidx: u32,
        @builtin(workgroup_id) wid: vec3<u32>${v.subgroups ? ', @builtin(subgroup_invocation_id) sg_lane: u32, @builtin(subgroup_size) sg_size: u32' : ''}) {
  col0 = (wid.x + wid.y * u.col_groups_x) * TY * RN;
  local_y = lid.y;
  let m = wid.z;
  let a_row = m * u.K;
${cols.map((r) => `  var acc${r} = 0.0;\n${Array.from({ length: loads }, (_, h) => `  var w${r}_${h}: ${chunkT};`).join('\n')}`).join('\n')}
${v.norm ? '  var sq = 0.0; // Σ x² of the A values this thread reads' : ''}
  let tiles = (u.chunks_per_col + TX - 1u) / TX;
  for (var t = 0u; t < tiles; t++) {
    let c = t * TX + lid.x;
    let cc = min(c, u.chunks_per_col - 1u); // past the column's end: load a valid chunk, use nothing
    let kb = cc / u.chunks_per_block;
    // This tile's weights are requested before the barriers below, so their latency overlaps the staging of A.
${loadCols}
${tileBarrierAndStage}
    if (c < u.chunks_per_col) {
${cols.map((r) => `      var s${r} = vec4<f32>(0.0);`).join('\n')}
${computeSteps}
${cols.map((r) => `      acc${r} += (s${r}.x + s${r}.y + s${r}.z + s${r}.w) * sc${r};`).join('\n')}
    }
  }
${reduceWgsl(v)}
}`;
}

function resolveVariant(device: GPUDevice, args: MatmulArgs, options: GemvOptions): GemvVariant {
  const [tx, ty, tz] = options.workgroupSize ?? GEMV_DEFAULTS.workgroupSize;
  const rn = options.colsPerThread ?? GEMV_DEFAULTS.colsPerThread;
  if (tz !== 1 || tx < 1 || ty < 1 || (tx & (tx - 1)) !== 0 || !Number.isInteger(ty)) {
    throw new RangeError(`gemv workgroupSize must be [2^i, y, 1]; got ${tx},${ty},${tz}`);
  }
  if (!(Number.isInteger(rn) && rn >= 1 && rn <= 16))
    throw new RangeError(`gemv colsPerThread must be 1..16; got ${rn}`);
  const limits = device.limits;
  if (
    tx * ty > limits.maxComputeInvocationsPerWorkgroup ||
    tx > limits.maxComputeWorkgroupSizeX ||
    ty > limits.maxComputeWorkgroupSizeY
  ) {
    throw new RangeError(`gemv workgroupSize ${tx}x${ty} exceeds the device limits`);
  }
  const { bits } = args.w;
  const cw = Math.min(bits, shapeOf(args.w).wordsPerBlock);
  const norm = args.norm !== undefined;
  const partBytes = tx * ty * reducedValues({ rn, norm }) * 4;
  const tileBytes = tx * ((cw * 32) / bits) * 4;
  const fits = partBytes + tileBytes <= limits.maxComputeWorkgroupStorageSize;
  if (partBytes > limits.maxComputeWorkgroupStorageSize || (options.stageA === true && !fits)) {
    throw new RangeError(
      `gemv ${tx}x${ty} with ${rn} columns per thread${options.stageA ? ' and A staged' : ''} exceeds the device's workgroup storage`,
    );
  }
  const sgMax = subgroupMaxSize(device);
  // Without a known subgroup size the layout assumption of reduceWgsl cannot be checked: use shared memory.
  const subgroups = (options.subgroups ?? true) && hasSubgroups(device) && sgMax !== undefined && tx % sgMax === 0;
  return {
    bits,
    asymmetric: args.w.zeroPoints !== undefined,
    bias: args.bias !== undefined,
    accumulate: args.accumulate === true,
    vec4A: args.w.K % 4 === 0,
    tx,
    ty,
    rn,
    subgroups,
    cw,
    stageA: options.stageA ?? fits,
    norm,
  };
}

/** Y = A · dequant(B) (+ bias) for small M. Records into `encoder` when given, else submits at once. */
export function gemv(
  device: GPUDevice,
  args: MatmulArgs,
  options: GemvOptions = {},
  encoder?: GPUCommandEncoder,
): GPUBuffer {
  const { w, M } = args;
  if (!(M >= 1 && M <= 65535)) throw new RangeError(`gemv M must be 1..65535; got ${M}`);
  if (args.accumulate && !args.y) throw new RangeError('gemv accumulate adds into y: pass y');
  if (args.norm) checkNorm(args.norm, w.K);
  const v = resolveVariant(device, args, options);
  const s = shapeOf(w);
  const pipeline = getPipeline(device, 'gemv', { ...v }, gemvWgsl);
  const colGroups = Math.ceil(w.N / (v.ty * v.rn));
  const gx = Math.min(colGroups, 65535);
  const gy = Math.ceil(colGroups / gx);
  const chunksPerCol = s.wordsPerColumn / v.cw;
  const eps = f32Bits(args.norm?.eps ?? 0);
  const u = uniformBuffer(device, [w.K, w.N, s.kBlocks, chunksPerCol, s.wordsPerBlock / v.cw, s.zpRowBytes, gx, eps]);
  const y = args.y ?? createStorage(device, M * w.N * 4, 'webq.gemv.y');
  const buffers = [...matmulBuffers(u, args.a, w, y, args.bias), ...(args.norm ? [args.norm.weight] : [])];
  withEncoder(device, encoder, (e) => dispatch(e, pipeline, bindBuffers(device, pipeline, buffers), [gx, gy, M]));
  return y;
}

function checkNorm(norm: NonNullable<MatmulArgs['norm']>, K: number): void {
  if (!(Number.isFinite(norm.eps) && norm.eps >= 0))
    throw new RangeError(`norm.eps must be finite and >= 0, got ${norm.eps}`);
  checkBuffer('norm.weight', norm.weight, K);
}
