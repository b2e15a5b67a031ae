/**
 * Quantized tiled GEMM for many rows (prefill, encoders): Y[M, N] = A[M, K] · dequant(B) (+ bias).
 *
 * A workgroup [TX, TY, 1] computes a tile of MT = TY·RM rows × NT = TX·RN columns; thread (x, y) holds RM×RN
 * accumulators for rows y·RM + r and columns x + c·TX. K is walked in steps of KT: the workgroup stages A[MT, KT]
 * and the dequantized B[KT, NT] in workgroup memory, both k-contiguous (vec4 along k, rows padded by one vec4 so
 * that the threads of a 128-bit access phase hit different banks), so each packed word is unpacked once per tile
 * rather than once per row of A. The global loads of the next step are issued before the current step is
 * computed (register prefetch), so their latency overlaps the arithmetic.
 *
 * Split-K: a grid of few tiles (small M, or small N) cannot fill a large GPU while each workgroup walks all of K.
 * The K range is then cut into S slices, one per workgroup (grid z), each writing its partial sums to a scratch
 * buffer, and a second dispatch in the same pass adds the S partials (and the bias) into Y. S is chosen so that
 * the grid has about TARGET_WORKGROUPS workgroups, with at least MIN_SLICE_STEPS K steps per slice (option splitK);
 * not on a CPU implementation (SwiftShader, llvmpipe), where it only adds work (3.5–5.6× slower there).
 */
import {
  bindBuffers,
  dispatchAll,
  getPipeline,
  isSoftwareAdapter,
  scratchBuffer,
  uniformBuffer,
  withEncoder,
} from './pipelines';
import { createStorage, matmulBuffers, shapeOf } from './weights';
import {
  activationReadFn,
  bitsConstants,
  dispatchLinear,
  linearIndexFn,
  magicCodesFns,
  matmulBindings,
  range,
  storage,
  uniforms,
  zeroPointFn,
} from './wgsl';
import { GEMM_UNSTAGED_DEFAULTS, gemmUnstaged } from './gemm-unstaged';
import type { MatmulArgs, MatmulVariant } from './gemv';

/** The tiles a GEMM runs at where its options leave them out. */
export const GEMM_DEFAULTS = { workgroupSize: [16, 8, 1], rowsPerThread: 4, colsPerThread: 4, kTile: 32 } as const;

export interface GemmOptions {
  /** Threads [x along N, y along M, 1]. Default [16, 8, 1]. */
  workgroupSize?: readonly [number, number, number];
  /** Outputs per thread: rows (along M) and columns (along N). Default 4 × 4. */
  rowsPerThread?: number;
  colsPerThread?: number;
  /** K step staged in workgroup memory; a multiple of 16 (one u32 word holds up to 16 codes). Default 32. */
  kTile?: number;
  /** K slices computed by separate workgroups and summed by a second dispatch (1: no split). Default: automatic. */
  splitK?: number;
  /**
   * Stage tiles of A and B in workgroup memory (default true). false runs gemm-unstaged.ts, each thread reading
   * global memory (for CPU-emulated adapters): workgroupSize must then be [x, 1, 1] and there is no kTile or splitK;
   * what is left out comes from GEMM_UNSTAGED_DEFAULTS.
   */
  stage?: boolean;
}

/** Automatic split-K: aim for about this many workgroups … */
const TARGET_WORKGROUPS = 256;
/** … without slices shorter than this many K steps. */
const MIN_SLICE_STEPS = 2;

/** `bias` and `accumulate` are this pass's: when split, the reduction adds the bias and into Y instead. */
interface GemmVariant extends MatmulVariant {
  tx: number;
  ty: number;
  rm: number;
  rn: number;
  kt: number;
}

function gemmWgsl(v: GemmVariant): string {
  const mt = v.ty * v.rm;
  const nt = v.tx * v.rn;
  const threads = v.tx * v.ty;
  const kt4 = v.kt / 4;
  const cpw = 32 / v.bits;
  const wt = v.kt / cpw;
  const aLoads = Math.ceil((mt * kt4) / threads);
  const bLoads = Math.ceil((nt * wt) / threads);
  const acc = (r: number, c: number): string => `acc_${r}_${c}`;
  const load = (kstep: string): string => `
    {
      let kstep = ${kstep};
${range(aLoads)
  .map(
    (i) => `      {
        let idx = lidx + ${i * threads}u;
        let m = m0 + idx / KT4;
        ra${i} = select(vec4<f32>(0.0), a_at(min(m, u.M - 1u) * u.K, kstep + 4u * (idx % KT4)), m < u.M && idx < MT * KT4);
      }`,
  )
  .join('\n')}
${range(bLoads)
  .map(
    (i) => `      {
        let idx = lidx + ${i * threads}u;
        let n = n0 + idx / WT;
        let word = kstep / CPW + idx % WT;
        let nn = min(n, u.N - 1u);
        let ww = min(word, u.words_per_col - 1u);
        let kb = ww / u.words_per_block;
        rw${i} = data[nn * u.words_per_col + ww];
        // a word past the column (or a column past N) dequantizes to 0
        rs${i} = select(0.0, scales[nn * u.k_blocks + kb], n < u.N && word < u.words_per_col && idx < NT * WT);
        rz${i} = MAGIC + zero_point(nn, kb);
      }`,
  )
  .join('\n')}
    }`;
  const store = `
${range(aLoads)
  .map(
    (i) => `    {
      let idx = lidx + ${i * threads}u;
      if (idx < MT * KT4) { tile_a[(idx / KT4) * KTP4 + idx % KT4] = ra${i}; }
    }`,
  )
  .join('\n')}
${range(bLoads)
  .map(
    (i) => `    {
      let idx = lidx + ${i * threads}u;
      if (idx < NT * WT) {
        let base = (idx / WT) * KTP4 + (idx % WT) * VPW;
${range(cpw / 4)
  .map((q) => `        tile_b[base + ${q}u] = (codes4m(rw${i}, ${4 * q * v.bits}u) - vec4<f32>(rz${i})) * rs${i};`)
  .join('\n')}
      }
    }`,
  )
  .join('\n')}`;
  return `${uniforms(0, ['M', 'K', 'N', 'k_blocks', 'words_per_col', 'words_per_block', 'zp_row_bytes', 'slice_len'])}
${bitsConstants(v.bits)}
${magicCodesFns()}
const TX: u32 = ${v.tx}u;
const TY: u32 = ${v.ty}u;
const KT: u32 = ${v.kt}u;
const KT4: u32 = ${kt4}u;
const KTP4: u32 = ${kt4 + 1}u; // padded row of a tile, in vec4s
const MT: u32 = ${mt}u;
const NT: u32 = ${nt}u;
const WT: u32 = ${wt}u; // packed words per column per K step
const VPW: u32 = ${cpw / 4}u; // vec4s of codes per word
${matmulBindings(v, 'out')}
${zeroPointFn(v.asymmetric)}
${activationReadFn(v.vec4A)}
var<workgroup> tile_a: array<vec4<f32>, ${mt * (kt4 + 1)}>; // [MT][KTP4]
var<workgroup> tile_b: array<vec4<f32>, ${nt * (kt4 + 1)}>; // [NT][KTP4], dequantized

@compute @workgroup_size(${v.tx}, ${v.ty}, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) lidx: u32,
        @builtin(workgroup_id) wid: vec3<u32>) {
  let m0 = wid.y * MT;
  let n0 = wid.x * NT;
  let k_begin = wid.z * u.slice_len;
  let k_end = min(u.K, k_begin + u.slice_len);
${range(v.rm)
  .map((r) =>
    range(v.rn)
      .map((c) => `  var ${acc(r, c)} = vec4<f32>(0.0);`)
      .join('\n'),
  )
  .join('\n')}
${range(aLoads)
  .map((i) => `  var ra${i}: vec4<f32>;`)
  .join('\n')}
${range(bLoads)
  .map((i) => `  var rw${i}: u32;\n  var rs${i}: f32;\n  var rz${i}: f32;`)
  .join('\n')}
${load('k_begin')}
  for (var k = k_begin; k < k_end; k += KT) {
${store}
    workgroupBarrier();
    if (k + KT < k_end) {${load('k + KT')}
    }
    for (var kv = 0u; kv < KT4; kv++) {
${range(v.rm)
  .map((r) => `      let a${r} = tile_a[(lid.y * ${v.rm}u + ${r}u) * KTP4 + kv];`)
  .join('\n')}
${range(v.rn)
  .map((c) => `      let b${c} = tile_b[(lid.x + ${c}u * TX) * KTP4 + kv];`)
  .join('\n')}
${range(v.rm)
  .map((r) =>
    range(v.rn)
      .map((c) => `      ${acc(r, c)} += a${r} * b${c};`)
      .join('\n'),
  )
  .join('\n')}
    }
    workgroupBarrier();
  }
  let out_base = wid.z * u.M;
${range(v.rm)
  .map((r) =>
    range(v.rn)
      .map(
        (c) => `  {
    let m = m0 + lid.y * ${v.rm}u + ${r}u;
    let n = n0 + lid.x + ${c}u * TX;
    let s = ${acc(r, c)};
    let i = (out_base + m) * u.N + n;
    if (m < u.M && n < u.N) { out[i] = ${v.accumulate ? 'out[i] + (' : '('}(s.x + s.y) + (s.z + s.w)${v.bias ? ' + bias[n]' : ''}); }
  }`,
      )
      .join('\n'),
  )
  .join('\n')}
}`;
}

/** Second pass of split-K: Y[i] = Σ_s partial[s][i] (+ bias), or Y[i] + that under accumulate. */
function reduceWgsl(bias: boolean, accumulate: boolean): string {
  return `${uniforms(0, ['count', 'N', 'slices'])}
${linearIndexFn(64)}
${storage(1, 'partial', 'array<f32>')}
${storage(2, 'y', 'array<f32>', 'read_write')}
${bias ? storage(3, 'bias', 'array<f32>') : ''}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg);
  if (i >= u.count) { return; }
  var s = 0.0;
  for (var j = 0u; j < u.slices; j++) { s += partial[j * u.count + i]; }
  y[i] = ${accumulate ? 'y[i] + (' : '('}s${bias ? ' + bias[i % u.N]' : ''});
}`;
}

interface Resolved {
  v: GemmVariant;
  slices: number;
  sliceLen: number;
  groups: [number, number, number];
}

function resolve(device: GPUDevice, args: MatmulArgs, options: GemmOptions): Resolved {
  const [tx, ty, tz] = options.workgroupSize ?? GEMM_DEFAULTS.workgroupSize;
  const rm = options.rowsPerThread ?? GEMM_DEFAULTS.rowsPerThread;
  const rn = options.colsPerThread ?? GEMM_DEFAULTS.colsPerThread;
  const kt = options.kTile ?? GEMM_DEFAULTS.kTile;
  const ok = (x: number): boolean => Number.isInteger(x) && x >= 1;
  if (!(ok(tx) && ok(ty) && tz === 1 && ok(rm) && ok(rn) && ok(kt) && kt % 16 === 0)) {
    throw new RangeError(
      `bad gemm options: workgroupSize ${tx},${ty},${tz} rows ${rm} cols ${rn} kTile ${kt} (kTile a multiple of 16)`,
    );
  }
  if (options.splitK !== undefined && !(ok(options.splitK) && options.splitK <= 65535)) {
    throw new RangeError(`gemm splitK must be an integer 1..65535; got ${options.splitK}`);
  }
  const l = device.limits;
  const sharedBytes = (ty * rm + tx * rn) * (kt + 4) * 4;
  if (
    tx * ty > l.maxComputeInvocationsPerWorkgroup ||
    tx > l.maxComputeWorkgroupSizeX ||
    ty > l.maxComputeWorkgroupSizeY ||
    sharedBytes > l.maxComputeWorkgroupStorageSize
  ) {
    throw new RangeError(`gemm tile ${tx}x${ty} (${rm}x${rn} per thread, kTile ${kt}) exceeds the device limits`);
  }
  const { w, M } = args;
  const gx = Math.ceil(w.N / (tx * rn));
  const gy = Math.ceil(M / (ty * rm));
  if (gx > 65535 || gy > 65535) throw new RangeError(`gemm grid ${gx}x${gy} too large`);
  const steps = Math.ceil(w.K / kt);
  const wanted =
    options.splitK ??
    (gx * gy >= TARGET_WORKGROUPS || isSoftwareAdapter(device)
      ? 1
      : Math.min(Math.ceil(TARGET_WORKGROUPS / (gx * gy)), Math.floor(steps / MIN_SLICE_STEPS)));
  const sliceSteps = Math.ceil(steps / Math.max(1, Math.min(wanted, steps)));
  const slices = Math.ceil(steps / sliceSteps); // no empty slice
  const v: GemmVariant = {
    bits: w.bits,
    asymmetric: w.zeroPoints !== undefined,
    bias: args.bias !== undefined && slices === 1,
    accumulate: args.accumulate === true && slices === 1,
    vec4A: w.K % 4 === 0,
    tx,
    ty,
    rm,
    rn,
    kt,
  };
  return { v, slices, sliceLen: sliceSteps * kt, groups: [gx, gy, slices] };
}

/** Y = A · dequant(B) (+ bias). Records into `encoder` when given, else submits at once. */
export function gemm(
  device: GPUDevice,
  args: MatmulArgs,
  options: GemmOptions = {},
  encoder?: GPUCommandEncoder,
): GPUBuffer {
  if (args.norm)
    throw new RangeError('gemm does not normalize A (norm is fused into the GEMV only): run rmsNorm first');
  if (options.stage === false) return unstaged(device, args, options, encoder);
  const { w, M } = args;
  if (args.accumulate && !args.y) throw new RangeError('gemm accumulate adds into y: pass y');
  const { v, slices, sliceLen, groups } = resolve(device, args, options);
  const s = shapeOf(w);
  const pipeline = getPipeline(device, 'gemm', { ...v }, gemmWgsl);
  const u = uniformBuffer(device, [M, w.K, w.N, s.kBlocks, s.wordsPerColumn, s.wordsPerBlock, s.zpRowBytes, sliceLen]);
  const y = args.y ?? createStorage(device, M * w.N * 4, 'webq.gemm.y');
  const out = slices === 1 ? y : scratchBuffer(device, 'gemm.partial', slices * M * w.N * 4);
  const buffers = matmulBuffers(u, args.a, w, out, v.bias ? args.bias : undefined);
  const steps = [{ pipeline, bindGroup: bindBuffers(device, pipeline, buffers), groups }];
  if (slices > 1) {
    const bias = args.bias !== undefined;
    const accumulate = args.accumulate === true;
    const reduce = getPipeline(device, 'gemm-reduce', { bias, accumulate }, (r) => reduceWgsl(r.bias, r.accumulate));
    const count = M * w.N;
    const ru = uniformBuffer(device, [count, w.N, slices]);
    const rb = bindBuffers(device, reduce, [ru, out, y, ...(bias ? [args.bias!] : [])]);
    const [rx, ry] = dispatchLinear(count, 64);
    steps.push({ pipeline: reduce, bindGroup: rb, groups: [rx, ry, 1] });
  }
  withEncoder(device, encoder, (e) => dispatchAll(e, pipeline.label, steps));
  return y;
}

function unstaged(device: GPUDevice, args: MatmulArgs, options: GemmOptions, encoder?: GPUCommandEncoder): GPUBuffer {
  const [tx, ty, tz] = options.workgroupSize ?? GEMM_UNSTAGED_DEFAULTS.workgroupSize;
  if (ty !== 1 || tz !== 1 || options.kTile !== undefined || (options.splitK ?? 1) !== 1) {
    throw new RangeError(
      `gemm stage false takes workgroupSize [x, 1, 1] and no kTile or splitK; got workgroupSize ${tx},${ty},${tz}` +
        `${options.kTile !== undefined ? ` kTile ${options.kTile}` : ''}${options.splitK !== undefined ? ` splitK ${options.splitK}` : ''}`,
    );
  }
  const tiles = {
    threads: tx,
    rowsPerThread: options.rowsPerThread ?? GEMM_UNSTAGED_DEFAULTS.rowsPerThread,
    colsPerThread: options.colsPerThread ?? GEMM_UNSTAGED_DEFAULTS.colsPerThread,
  };
  return gemmUnstaged(device, args, tiles, encoder);
}
