/**
 * Quantized tiled GEMM for many rows (prefill, encoders): Y[M, N] = A[M, K] · dequant(B) (+ bias).
 *
 * A workgroup [TX, TY, 1] computes a tile of MT = TY·RM rows × NT = TX·RN columns; thread (x, y) holds RM×RN
 * fp32 accumulators for rows y·RM + r and columns x + c·TX (columns strided by TX so that a warp's shared-memory
 * reads and global writes are contiguous). K is walked in steps of KT: the workgroup stages A[MT, KT] and the
 * dequantized B[KT, NT] in workgroup memory, so each packed word is unpacked once per tile rather than once
 * per row of A — this is what makes the GEMM cheaper than M GEMVs.
 */
import { bindBuffers, dispatch, getPipeline, uniformBuffer, withEncoder } from './pipelines.ts';
import { createStorage, shapeOf } from './weights.ts';
import { bitsConstants, storage, uniforms, unpackFns, zeroPointFn } from './wgsl.ts';
import type { Bits } from './layout.ts';
import type { MatmulArgs } from './gemv.ts';

export interface GemmOptions {
  /** Threads [x along N, y along M, 1]. Default [16, 8, 1]. */
  workgroupSize?: readonly [number, number, number];
  /** Outputs per thread: rows (along M) and columns (along N). Default 4 × 4. */
  rowsPerThread?: number;
  colsPerThread?: number;
  /** K step staged in workgroup memory; a multiple of 16 (one u32 word holds up to 16 codes). Default 32. */
  kTile?: number;
}

interface GemmVariant {
  bits: Bits;
  asymmetric: boolean;
  bias: boolean;
  tx: number;
  ty: number;
  rm: number;
  rn: number;
  kt: number;
}

function gemmWgsl(v: GemmVariant): string {
  const mt = v.ty * v.rm;
  const nt = v.tx * v.rn;
  return `${uniforms(0, ['M', 'K', 'N', 'k_blocks', 'words_per_col', 'words_per_block', 'zp_row_bytes'])}
${bitsConstants(v.bits)}
${unpackFns()}
const TX: u32 = ${v.tx}u;
const TY: u32 = ${v.ty}u;
const RM: u32 = ${v.rm}u;
const RN: u32 = ${v.rn}u;
const KT: u32 = ${v.kt}u;
const MT: u32 = ${mt}u;
const NT: u32 = ${nt}u;
const WT: u32 = KT / CPW; // packed words per column per K step
const THREADS: u32 = ${v.tx * v.ty}u;
${storage(1, 'a', 'array<f32>')}
${storage(2, 'data', 'array<u32>')}
${storage(3, 'scales', 'array<f32>')}
${storage(4, 'y', 'array<f32>', 'read_write')}
${v.asymmetric ? storage(5, 'zero_points', 'array<u32>') : ''}
${v.bias ? storage(v.asymmetric ? 6 : 5, 'bias', 'array<f32>') : ''}
${zeroPointFn(v.asymmetric)}
var<workgroup> tile_a: array<f32, ${mt * v.kt}>;   // [MT][KT]
var<workgroup> tile_b: array<f32, ${v.kt * nt}>;   // [KT][NT], dequantized

@compute @workgroup_size(${v.tx}, ${v.ty}, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) lidx: u32,
        @builtin(workgroup_id) wid: vec3<u32>) {
  let m0 = wid.y * MT;
  let n0 = wid.x * NT;
  var acc: array<f32, ${v.rm * v.rn}>;
  for (var k_step = 0u; k_step < u.K; k_step += KT) {
    for (var i = lidx; i < MT * KT; i += THREADS) {
      let m = m0 + i / KT;
      let k = k_step + i % KT;
      var value = 0.0;
      if (m < u.M && k < u.K) { value = a[m * u.K + k]; }
      tile_a[i] = value;
    }
    for (var i = lidx; i < NT * WT; i += THREADS) {
      let c = i / WT;
      let n = n0 + c;
      let w = k_step / CPW + i % WT;
      let kk = (i % WT) * CPW;
      if (n < u.N && w < u.words_per_col) {
        let kb = w / u.words_per_block;
        let zp = zero_point(n, kb);
        let scale = scales[n * u.k_blocks + kb];
        let word = data[n * u.words_per_col + w];
        for (var j = 0u; j < CPW; j++) {
          // codes past K are padding: A is 0 there, but keep B finite-and-zero regardless of the padding code
          let valid = k_step + kk + j < u.K;
          tile_b[(kk + j) * NT + c] = select(0.0, (f32(code_at(word, j)) - zp) * scale, valid);
        }
      } else {
        for (var j = 0u; j < CPW; j++) { tile_b[(kk + j) * NT + c] = 0.0; }
      }
    }
    workgroupBarrier();
    for (var kk = 0u; kk < KT; kk++) {
      for (var r = 0u; r < RM; r++) {
        let av = tile_a[(lid.y * RM + r) * KT + kk];
        for (var c = 0u; c < RN; c++) {
          acc[r * RN + c] += av * tile_b[kk * NT + lid.x + c * TX];
        }
      }
    }
    workgroupBarrier();
  }
  for (var r = 0u; r < RM; r++) {
    let m = m0 + lid.y * RM + r;
    for (var c = 0u; c < RN; c++) {
      let n = n0 + lid.x + c * TX;
      if (m < u.M && n < u.N) { y[m * u.N + n] = acc[r * RN + c]${v.bias ? ' + bias[n]' : ''}; }
    }
  }
}`;
}

function resolveVariant(device: GPUDevice, args: MatmulArgs, options: GemmOptions): GemmVariant {
  const [tx, ty, tz] = options.workgroupSize ?? [16, 8, 1];
  const rm = options.rowsPerThread ?? 4;
  const rn = options.colsPerThread ?? 4;
  const kt = options.kTile ?? 32;
  const ok = (x: number): boolean => Number.isInteger(x) && x >= 1;
  if (!(ok(tx) && ok(ty) && tz === 1 && ok(rm) && ok(rn) && ok(kt) && kt % 16 === 0)) {
    throw new RangeError(`bad gemm options: workgroupSize ${tx},${ty},${tz} rows ${rm} cols ${rn} kTile ${kt} (kTile a multiple of 16)`);
  }
  const l = device.limits;
  const sharedBytes = (ty * rm * kt + kt * tx * rn) * 4;
  if (tx * ty > l.maxComputeInvocationsPerWorkgroup || tx > l.maxComputeWorkgroupSizeX || ty > l.maxComputeWorkgroupSizeY
    || sharedBytes > l.maxComputeWorkgroupStorageSize) {
    throw new RangeError(`gemm tile ${tx}x${ty} (${rm}x${rn} per thread, kTile ${kt}) exceeds the device limits`);
  }
  return { bits: args.w.bits, asymmetric: args.w.zeroPoints !== undefined, bias: args.bias !== undefined, tx, ty, rm, rn, kt };
}

/** Y = A · dequant(B) (+ bias). Records into `encoder` when given, else submits at once. */
export function gemm(device: GPUDevice, args: MatmulArgs, options: GemmOptions = {}, encoder?: GPUCommandEncoder): GPUBuffer {
  const { w, M } = args;
  const v = resolveVariant(device, args, options);
  const s = shapeOf(w);
  const key = `gemm/b${v.bits}/${v.asymmetric ? 'asym' : 'sym'}/bias=${v.bias}/wg${v.tx}x${v.ty}/r${v.rm}x${v.rn}/kt${v.kt}`;
  const pipeline = getPipeline(device, key, () => gemmWgsl(v));
  const groups = [Math.ceil(w.N / (v.tx * v.rn)), Math.ceil(M / (v.ty * v.rm))] as const;
  if (groups[0] > 65535 || groups[1] > 65535) throw new RangeError(`gemm grid ${groups.join('x')} too large`);
  const u = uniformBuffer(device, [M, w.K, w.N, s.kBlocks, s.wordsPerColumn, s.wordsPerBlock, s.zpRowBytes]);
  const y = args.y ?? createStorage(device, M * w.N * 4, 'webq.gemm.y');
  const buffers = [u, args.a, w.data, w.scales, y, ...(w.zeroPoints ? [w.zeroPoints] : []), ...(args.bias ? [args.bias] : [])];
  withEncoder(device, encoder, (e) => dispatch(e, pipeline, bindBuffers(device, pipeline, buffers), groups));
  return y;
}
