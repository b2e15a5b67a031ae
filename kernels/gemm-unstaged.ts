/**
 * Quantized GEMM without workgroup memory: Y[M, N] = A[M, K] · dequant(B) (+ bias), each thread computing RM rows ×
 * RN columns straight from global memory. It is gemm.ts's variant for CPU-emulated adapters (SwiftShader,
 * lavapipe), where a workgroup barrier is a coroutine switch and a workgroup-memory access costs as much as a cached
 * global one, so staging tiles only adds work; on a GPU its uncoalesced weight reads make it the slower one.
 *
 * Thread layout: a workgroup of TX threads covers TX·RN columns; grid y covers M in steps of RM rows. K is walked
 * block by block: a column's scale and zero point are read once per block, each packed word once per thread, and a
 * dequantized vec4 of codes serves all RM rows (RM·RN vec4 FMAs per RM + RN vec4 reads).
 */
import { bindBuffers, dispatch, getPipeline, uniformBuffer, withEncoder } from './pipelines';
import { createStorage, matmulBuffers, shapeOf } from './weights';
import { activationReadFn, bitsConstants, magicCodesFns, matmulBindings, range, uniforms, zeroPointFn } from './wgsl';
import type { MatmulArgs, MatmulVariant } from './gemv';

/**
 * The tiles it runs at where gemm's options leave them out, chosen on SwiftShader at M = 16 (bench/kernels.mjs):
 * four threads of 16×8 outputs. Fewer outputs per thread read A and B more often (kernels/README.md lists the
 * tiles tried); 16×16 ran up to 1.2× faster but its first call, which compiles it, takes about twice as long
 * (3.6–4.2 s against 1.3–2.1 s on Dawn for Node, bench/kernels-tune.ts), which a decode engine's first prefill pays.
 */
export const GEMM_UNSTAGED_DEFAULTS = { workgroupSize: [4, 1, 1], rowsPerThread: 16, colsPerThread: 8 } as const;

export interface UnstagedTiles {
  /** Threads per workgroup, along N. */
  threads: number;
  rowsPerThread: number;
  colsPerThread: number;
}

interface UnstagedVariant extends MatmulVariant {
  tx: number;
  rm: number;
  rn: number;
}

function unstagedWgsl(v: UnstagedVariant): string {
  const rows = range(v.rm);
  const cols = range(v.rn);
  const vecsPerWord = 32 / v.bits / 4;
  return `${uniforms(0, ['M', 'K', 'N', 'k_blocks', 'words_per_col', 'words_per_block', 'zp_row_bytes'])}
${bitsConstants(v.bits)}
${magicCodesFns()}
${matmulBindings(v, 'out')}
${zeroPointFn(v.asymmetric)}
${activationReadFn(v.vec4A)}

@compute @workgroup_size(${v.tx}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let n0 = gid.x * ${v.rn}u;
  let m0 = wid.y * ${v.rm}u;
  // Rows and columns past the matrix read the last one (in bounds) and are not written.
${rows.map((r) => `  let row${r} = min(m0 + ${r}u, u.M - 1u) * u.K;`).join('\n')}
${cols.map((c) => `  let col${c} = min(n0 + ${c}u, u.N - 1u);`).join('\n')}
${rows.map((r) => cols.map((c) => `  var acc_${r}_${c} = vec4<f32>(0.0);`).join('\n')).join('\n')}
  for (var kb = 0u; kb < u.k_blocks; kb++) {
${cols
  .map(
    (c) => `    let s${c} = scales[col${c} * u.k_blocks + kb];
    let z${c} = MAGIC + zero_point(col${c}, kb);`,
  )
  .join('\n')}
    for (var wb = 0u; wb < u.words_per_block; wb++) {
      let word = kb * u.words_per_block + wb;
      let k = word * CPW;
${cols.map((c) => `      let w${c} = data[col${c} * u.words_per_col + word];`).join('\n')}
${range(vecsPerWord)
  .map(
    (q) => `      {
${cols.map((c) => `        let b${c} = (codes4m(w${c}, ${4 * q * v.bits}u) - vec4<f32>(z${c})) * s${c};`).join('\n')}
${rows
  .map(
    (r) => `        let a${r} = a_at(row${r}, k + ${4 * q}u);
${cols.map((c) => `        acc_${r}_${c} += a${r} * b${c};`).join('\n')}`,
  )
  .join('\n')}
      }`,
  )
  .join('\n')}
    }
  }
${rows
  .map((r) =>
    cols
      .map(
        (c) => `  {
    let m = m0 + ${r}u;
    let n = n0 + ${c}u;
    let s = acc_${r}_${c};
    let i = m * u.N + n;
    if (m < u.M && n < u.N) { out[i] = ${v.accumulate ? 'out[i] + (' : '('}(s.x + s.y) + (s.z + s.w)${v.bias ? ' + bias[n]' : ''}); }
  }`,
      )
      .join('\n'),
  )
  .join('\n')}
}`;
}

/** Y = A · dequant(B) (+ bias) by the unstaged kernel; records into `encoder`, else submits at once. */
export function gemmUnstaged(
  device: GPUDevice,
  args: MatmulArgs,
  tiles: UnstagedTiles,
  encoder?: GPUCommandEncoder,
): GPUBuffer {
  const { w, M } = args;
  const { threads: tx, rowsPerThread: rm, colsPerThread: rn } = tiles;
  const ok = (x: number): boolean => Number.isInteger(x) && x >= 1;
  if (!(ok(tx) && ok(rm) && ok(rn)) || tx > device.limits.maxComputeWorkgroupSizeX) {
    throw new RangeError(`bad unstaged gemm tiles: ${tx} threads, ${rm} rows × ${rn} cols per thread`);
  }
  if (args.accumulate && !args.y) throw new RangeError('gemm accumulate adds into y: pass y');
  const gx = Math.ceil(w.N / (tx * rn));
  const gy = Math.ceil(M / rm);
  if (gx > 65535 || gy > 65535) throw new RangeError(`gemm grid ${gx}x${gy} too large`);
  const v: UnstagedVariant = {
    bits: w.bits,
    asymmetric: w.zeroPoints !== undefined,
    bias: args.bias !== undefined,
    accumulate: args.accumulate === true,
    vec4A: w.K % 4 === 0,
    tx,
    rm,
    rn,
  };
  const s = shapeOf(w);
  const pipeline = getPipeline(device, 'gemm-unstaged', { ...v }, unstagedWgsl);
  const u = uniformBuffer(device, [M, w.K, w.N, s.kBlocks, s.wordsPerColumn, s.wordsPerBlock, s.zpRowBytes]);
  const y = args.y ?? createStorage(device, M * w.N * 4, 'webq.gemm.y');
  const buffers = matmulBuffers(u, args.a, w, y, args.bias);
  withEncoder(device, encoder, (e) => dispatch(e, pipeline, bindBuffers(device, pipeline, buffers), [gx, gy, 1]));
  return y;
}
