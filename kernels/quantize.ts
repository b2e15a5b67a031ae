/**
 * Quantize fp32 weights B[K, N] (row-major, ONNX MatMul layout) into the MatMulNBits layout on the GPU,
 * following the definitions at the top of kernels/README.md exactly (same codes as the TypeScript quantizer).
 *
 * Passes (each one dispatch; shapes are uniforms, the WGSL depends only on bits/scheme/search):
 *   stats    one thread per tile (block kb of column n): min and max of the tile.
 *   reduce   per tensor only, one workgroup: min/max over all tiles, stored after the tiles.
 *   errors   scale search only, one thread per tile: squared error of every candidate ratio.
 *   reduce   per tensor + search only: error sums over all tiles, stored after the tiles.
 *   params   one thread per tile: pick the candidate, write the scale and the (unpacked) zero point.
 *   pack     one thread per u32 word of data: quantize and pack 32/bits codes.
 *   packZp   asymmetric only, one thread per u32 word of zero points (rows are not word-aligned).
 * Threads of the tile passes and of pack walk n fastest, so neighbouring threads read neighbouring
 * elements of a row of B (coalesced reads; the packed writes are the smaller side).
 *
 * Every pass but the two reductions is one-dimensional: one invocation per tile or per word, each computing its
 * output alone. `workgroupSize` [x, y, z] (default [64, 1, 1]) sets their workgroup; its x·y·z invocations take
 * consecutive indices, so the shape changes only the grouping, never a result. The reductions keep one
 * workgroup of 256: their summation tree is part of the per-tensor search's result.
 */
import { blockSizeFor, packedShape, SEARCH_RATIOS, type Bits, type QuantizeOptions } from './layout';
import { bindBuffers, dispatch, getPipeline, uniformBuffer, withEncoder } from './pipelines';
import { createStorage, type GpuQuantizedWeight } from './weights';
import { bitsConstants, dispatchLinear, storage, uniforms } from './wgsl';

type Pass = 'stats' | 'reduceStats' | 'errors' | 'reduceErrors' | 'params' | 'pack' | 'packZp';
type Workgroup = readonly [number, number, number];

export const DEFAULT_QUANTIZE_WORKGROUP: Workgroup = Object.freeze([64, 1, 1] as const);
const REDUCE_WG = 256;
const U_FIELDS = [
  'K',
  'N',
  'k_blocks',
  'block_size',
  'tiles',
  'per_tensor',
  'zp_row_bytes',
  'words',
  'zp_words',
] as const;

/**
 * An f32 constant as an exact hexadecimal float literal (`0x1.111112p-4f`), so WGSL gets exactly the fp32 value JS
 * computed. (Not `bitcast<f32>(0x…u)`: Firefox's WGSL compiler, naga, does not evaluate bitcast in a const.)
 */
export function f32Literal(x: number): string {
  const view = new DataView(new ArrayBuffer(4));
  view.setFloat32(0, x, true);
  const bits = view.getUint32(0, true);
  const sign = bits >>> 31 ? '-' : '';
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = ((bits & 0x7fffff) << 1).toString(16).padStart(6, '0'); // 23 bits → 6 hex digits
  if (exponent === 0xff) throw new RangeError(`no WGSL literal for ${x}`);
  if (exponent === 0) return bits & 0x7fffff ? `${sign}0x0.${mantissa}p-126f` : `${sign}0.0f`;
  return `${sign}0x1.${mantissa}p${exponent - 127}f`;
}

/** fp32 ops of kernels/README.md: parameters of candidate ratio r, and the code of one weight. */
function quantMathWgsl(bits: Bits, asymmetric: boolean): string {
  const ratios = SEARCH_RATIOS.map(f32Literal).join(', ');
  const params = asymmetric
    ? `let lo = min(lo_in, 0.0) * r;
  let hi = max(hi_in, 0.0) * r;
  let scale = (hi - lo) * INV_QMAX;
  if (scale == 0.0) { return QParams(0.0, 0.0); }
  return QParams(scale, clamp(round(-lo / scale), 0.0, QMAX));`
    : `let m = select(hi_in, lo_in, -lo_in >= hi_in) * r;
  return QParams(m * NEG_INV_MID, MID);`;
  return `${bitsConstants(bits)}
const INV_QMAX: f32 = ${f32Literal(1 / ((1 << bits) - 1))};
const NEG_INV_MID: f32 = ${f32Literal(-1 / (1 << (bits - 1)))};
const RATIOS = array<f32, ${SEARCH_RATIOS.length}>(${ratios});
const CANDIDATES: u32 = ${SEARCH_RATIOS.length}u;
struct QParams { scale: f32, zp: f32 }
fn qparams(lo_in: f32, hi_in: f32, r: f32) -> QParams {
  ${params}
}
fn quant(w: f32, p: QParams) -> f32 {
  if (p.scale == 0.0) { return p.zp; }
  return clamp(round(w / p.scale) + p.zp, 0.0, QMAX);
}
fn group_of(tile: u32) -> u32 { return select(tile, u.tiles, u.per_tensor == 1u); }`;
}

/**
 * The entry point of a one-dimensional pass: `i`, the invocation's index over the whole dispatch (consecutive
 * within a workgroup of any shape, then workgroup after workgroup of a [x, y] grid from `dispatchLinear`).
 */
function linearMain(wg: Workgroup, body: string): string {
  return `
const WG_INVOCATIONS: u32 = ${wg[0] * wg[1] * wg[2]}u;
@compute @workgroup_size(${wg.join(', ')})
fn main(@builtin(local_invocation_index) lidx: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = lidx + (wid.x + wid.y * nwg.x) * WG_INVOCATIONS;
  ${body}
}`;
}

function passWgsl(pass: Pass, bits: Bits, asymmetric: boolean, search: boolean, wg: Workgroup): string {
  const head = `${uniforms(0, U_FIELDS)}\n${quantMathWgsl(bits, asymmetric)}`;
  // Tile passes: invocation i is tile (n, kb) with n = i % N fastest.
  const tileMain = (body: string): string =>
    linearMain(
      wg,
      `if (i >= u.tiles) { return; }
  let n = i % u.N;
  let kb = i / u.N;
  let tile = n * u.k_blocks + kb;
  let k_begin = kb * u.block_size;
  let k_end = min(u.K, k_begin + u.block_size);
  ${body}`,
    );
  switch (pass) {
    case 'stats':
      return `${head}
${storage(1, 'b', 'array<f32>')}
${storage(2, 'stats', 'array<vec2<f32>>', 'read_write')}
${tileMain(`var lo = b[k_begin * u.N + n];
  var hi = lo;
  for (var k = k_begin + 1u; k < k_end; k++) { let v = b[k * u.N + n]; lo = min(lo, v); hi = max(hi, v); }
  stats[tile] = vec2<f32>(lo, hi);`)}`;
    case 'errors':
      return `${head}
${storage(1, 'b', 'array<f32>')}
${storage(2, 'stats', 'array<vec2<f32>>')}
${storage(3, 'errs', 'array<f32>', 'read_write')}
${tileMain(`let s = stats[group_of(tile)];
  for (var c = 0u; c < CANDIDATES; c++) {
    let p = qparams(s.x, s.y, RATIOS[c]);
    var err = 0.0;
    for (var k = k_begin; k < k_end; k++) {
      let w = b[k * u.N + n];
      let e = w - (quant(w, p) - p.zp) * p.scale;
      err += e * e;
    }
    errs[tile * CANDIDATES + c] = err;
  }`)}`;
    case 'params':
      return `${head}
${storage(1, 'stats', 'array<vec2<f32>>')}
${storage(2, 'errs', 'array<f32>')}
${storage(3, 'scales', 'array<f32>', 'read_write')}
${storage(4, 'zp_codes', 'array<u32>', 'read_write')}
const SEARCH: bool = ${search};
${tileMain(`let g = group_of(tile);
  var best = 0u;
  if (SEARCH) {
    for (var c = 1u; c < CANDIDATES; c++) {
      // strict < keeps the smaller ratio index on equal error (README: less clipping wins ties)
      if (errs[g * CANDIDATES + c] < errs[g * CANDIDATES + best]) { best = c; }
    }
  }
  let s = stats[g];
  let p = qparams(s.x, s.y, RATIOS[best]);
  scales[tile] = p.scale;
  zp_codes[tile] = u32(p.zp);`)}`;
    case 'reduceStats':
    case 'reduceErrors': {
      const isStats = pass === 'reduceStats';
      const T = isStats ? 'vec2<f32>' : 'f32';
      const combine = isStats
        ? (x: string, y: string) => `vec2<f32>(min(${x}.x, ${y}.x), max(${x}.y, ${y}.y))`
        : (x: string, y: string) => `${x} + ${y}`;
      const count = isStats ? '1u' : 'CANDIDATES';
      const at = (t: string) => (isStats ? `src[${t}]` : `src[${t} * CANDIDATES + c]`);
      const out = isStats ? 'src[u.tiles]' : 'src[u.tiles * CANDIDATES + c]';
      return `${head}
${storage(1, 'src', `array<${T}>`, 'read_write')}
var<workgroup> part: array<${T}, ${REDUCE_WG}>;
@compute @workgroup_size(${REDUCE_WG})
fn main(@builtin(local_invocation_index) lid: u32) {
  for (var c = 0u; c < ${count}; c++) {
    var acc = ${at('min(lid, u.tiles - 1u)')};
    ${isStats ? '' : 'if (lid >= u.tiles) { acc = 0.0; }'}
    for (var t = lid + ${REDUCE_WG}u; t < u.tiles; t += ${REDUCE_WG}u) { acc = ${combine('acc', at('t'))}; }
    part[lid] = acc;
    workgroupBarrier();
    for (var s = ${REDUCE_WG / 2}u; s > 0u; s >>= 1u) {
      if (lid < s) { part[lid] = ${combine('part[lid]', 'part[lid + s]')}; }
      workgroupBarrier();
    }
    if (lid == 0u) { ${out} = part[0]; }
    workgroupBarrier();
  }
}`;
    }
    case 'pack':
      return `${head}
${storage(1, 'b', 'array<f32>')}
${storage(2, 'scales', 'array<f32>')}
${storage(3, 'zp_codes', 'array<u32>')}
${storage(4, 'data', 'array<u32>', 'read_write')}
${linearMain(
  wg,
  `if (i >= u.words) { return; }
  let n = i % u.N;
  let word_in_col = i / u.N;
  let k0 = word_in_col * CPW;
  let tile = n * u.k_blocks + k0 / u.block_size;
  let p = QParams(scales[tile], f32(zp_codes[tile]));
  var word = 0u;
  for (var j = 0u; j < CPW; j++) {
    let k = k0 + j;
    var q = p.zp; // padding past K dequantizes to 0
    if (k < u.K) { q = quant(b[k * u.N + n], p); }
    word |= u32(q) << (j * BITS);
  }
  data[n * (u.words / u.N) + word_in_col] = word;`,
)}`;
    case 'packZp':
      return `${head}
${storage(1, 'zp_codes', 'array<u32>')}
${storage(2, 'zero_points', 'array<u32>', 'read_write')}
${linearMain(
  wg,
  `if (i >= u.zp_words) { return; }
  var word = 0u;
  for (var byte_in_word = 0u; byte_in_word < 4u; byte_in_word++) {
    let byte_index = i * 4u + byte_in_word;
    let n = byte_index / u.zp_row_bytes;
    if (n >= u.N) { break; }
    var zp_byte = 0u;
    for (var j = 0u; j < 8u / BITS; j++) {
      let kb = (byte_index % u.zp_row_bytes) * (8u / BITS) + j;
      if (kb < u.k_blocks) { zp_byte |= zp_codes[n * u.k_blocks + kb] << (j * BITS); }
    }
    word |= zp_byte << (byte_in_word * 8u);
  }
  zero_points[i] = word;`,
)}`;
  }
}

export interface QuantizeInput {
  /** fp32 B[K, N], row-major. */
  weights: GPUBuffer;
  K: number;
  N: number;
}

/** Options of the kernel itself (not of the quantization: they never change a result). */
export interface QuantizeKernelOptions {
  /** Workgroup of the one-dimensional passes, [x, y, z]; x·y·z invocations. Default [64, 1, 1]. */
  workgroupSize?: Workgroup;
  /**
   * Receives the passes' temporary buffers, for a caller that records into its own encoder and destroys them
   * once its submit is done. Without it they are left to the garbage collector.
   */
  scratch?: GPUBuffer[];
}

/** Throws RangeError unless `wg` is a workgroup the device can run. */
export function checkQuantizeWorkgroup(device: GPUDevice, wg: Workgroup): void {
  const l = device.limits;
  if (wg.length !== 3 || !wg.every((d) => Number.isInteger(d) && d >= 1))
    throw new RangeError(`quantize workgroupSize must be [x, y, z] of positive integers; got ${wg.join(',')}`);
  const [x, y, z] = wg;
  if (
    x > l.maxComputeWorkgroupSizeX ||
    y > l.maxComputeWorkgroupSizeY ||
    z > l.maxComputeWorkgroupSizeZ ||
    x * y * z > l.maxComputeInvocationsPerWorkgroup
  ) {
    throw new RangeError(
      `quantize workgroupSize [${wg.join(', ')}] exceeds the device limits (at most [${l.maxComputeWorkgroupSizeX}, ${l.maxComputeWorkgroupSizeY}, ${l.maxComputeWorkgroupSizeZ}] and ${l.maxComputeInvocationsPerWorkgroup} invocations)`,
    );
  }
}

/**
 * Quantize on the GPU. Records into `encoder` when given (the caller submits), else submits at once.
 * Per-channel and per-tensor map to one block spanning K (kernels/README.md).
 */
export function quantize(
  device: GPUDevice,
  input: QuantizeInput,
  options: QuantizeOptions & QuantizeKernelOptions,
  encoder?: GPUCommandEncoder,
): GpuQuantizedWeight {
  const { K, N } = input;
  const { bits, scheme, groupSize } = options;
  const search = options.scaleSearch ?? bits === 2; // the default of extension/quant/types.ts
  const asym = scheme === 'asymmetric';
  const wg = options.workgroupSize ?? DEFAULT_QUANTIZE_WORKGROUP;
  checkQuantizeWorkgroup(device, wg);
  const invocations = wg[0] * wg[1] * wg[2];
  const blockSize = blockSizeFor(groupSize, K);
  const s = packedShape(bits, K, N, blockSize);
  if (input.weights.size < K * N * 4)
    throw new RangeError(`weights buffer has ${input.weights.size} bytes, B[${K},${N}] needs ${K * N * 4}`);
  const tiles = N * s.kBlocks;
  const perTensor = groupSize === -1 ? 1 : 0;
  const zpWords = Math.ceil(s.zpBytes / 4);
  const u = uniformBuffer(device, [
    K,
    N,
    s.kBlocks,
    blockSize,
    tiles,
    perTensor,
    s.zpRowBytes,
    s.dataBytes / 4,
    zpWords,
  ]);
  const out: GpuQuantizedWeight = {
    bits,
    scheme,
    K,
    N,
    blockSize,
    groupSize,
    kBlocks: s.kBlocks,
    data: createStorage(device, s.dataBytes, 'webq.data'),
    scales: createStorage(device, tiles * 4, 'webq.scales'),
    zeroPoints: asym ? createStorage(device, s.zpBytes, 'webq.zeroPoints') : undefined,
  };
  const stats = createStorage(device, (tiles + 1) * 8, 'webq.q.stats');
  // errs is bound by `params` even without search (then it is never read), so it always exists.
  const errs = createStorage(device, search ? (tiles + 1) * SEARCH_RATIOS.length * 4 : 4, 'webq.q.errs');
  const zpCodes = createStorage(device, tiles * 4, 'webq.q.zpCodes');
  options.scratch?.push(stats, errs, zpCodes);

  const run = (e: GPUCommandEncoder, pass: Pass, buffers: GPUBuffer[], groups: readonly [number, number?]): void => {
    const reduce = pass === 'reduceStats' || pass === 'reduceErrors';
    // Only the params pass compiles `search` in; the reductions have a fixed workgroup.
    const variant = { pass, bits, asymmetric: asym, search: pass === 'params' && search, workgroup: reduce ? [] : wg };
    const p = getPipeline(device, 'quantize', variant, (v) => passWgsl(v.pass, v.bits, v.asymmetric, search, wg));
    dispatch(e, p, bindBuffers(device, p, [u, ...buffers]), groups);
  };
  const tileGroups = dispatchLinear(tiles, invocations);
  withEncoder(device, encoder, (e) => {
    run(e, 'stats', [input.weights, stats], tileGroups);
    if (perTensor) run(e, 'reduceStats', [stats], [1]);
    if (search) {
      run(e, 'errors', [input.weights, stats, errs], tileGroups);
      if (perTensor) run(e, 'reduceErrors', [errs], [1]);
    }
    run(e, 'params', [stats, errs, out.scales, zpCodes], tileGroups);
    run(e, 'pack', [input.weights, out.scales, zpCodes, out.data], dispatchLinear(s.dataBytes / 4, invocations));
    if (out.zeroPoints) run(e, 'packZp', [zpCodes, out.zeroPoints], dispatchLinear(zpWords, invocations));
  });
  return out;
}
