/**
 * Attention of a Llama/Qwen2 decoder over a KV cache kept in GPU buffers, with grouped-query attention (GQA).
 *
 * `kvWrite` appends the new tokens' key and value projections k, v [tokens, kvHeads·headDim] (head-major within a
 * row) to the caches, laid out [kvHeads, capacity, headDim] so that one head's positions are contiguous rows:
 * cache[h, position0 + t, d] = k[t, h·headDim + d]. One thread per element, k and v together.
 *
 * `attention` computes, for query token t at position p = position0 + t and query head h (kv head
 * h / (heads / kvHeads)), the causal softmax attention over cache positions 0..p:
 *   s_j = (q·k_j) · scale  (the scale multiplies the dot product, as the ONNX graph does),
 *   out[t, h·headDim + d] = Σ_j exp(s_j − max s) · v_j[d] / Σ_j exp(s_j − max s).
 * The mask is causal by construction: a query's positions stop at p, so no position beyond it is ever read.
 *
 * Why it is written this way (flash-decoding): a decode step has one query token, so one workgroup per query head
 * leaves a GPU nearly idle while it walks a long context alone. The context of each query is therefore cut into
 * `splits` chunks, one workgroup per (query head, token, split). A workgroup walks its chunk in tiles of 64 positions
 * with an online softmax: each thread scores one position of the tile (scores in workgroup memory), the tile's max
 * rescales the running sum and accumulator, then each thread adds the tile's weighted V rows for its headDim entries
 * (d = thread, thread + 64, …; V rows are read coalesced). With one split the workgroup normalises and writes `out`
 * directly (one dispatch); with more, it writes its chunk's (max, sum of exp, unnormalised V accumulator) into a
 * per-device scratch buffer and a second dispatch in the same compute pass combines the splits:
 *   M = max_s m_s,  out = Σ_s exp(m_s − M) · acc_s / Σ_s exp(m_s − M) · l_s.
 * Both cases share one compiled main pipeline (the split count is a uniform); the combine pipeline is compiled on the
 * first call with more than one split. All shapes are uniforms; all arithmetic is f32.
 *
 * Automatic split count (`splits` absent): one split per 256 positions of the longest query's context, at most 32,
 * and no more than needed for the grid to reach about 1024 workgroups (a prefill's many tokens already fill the GPU).
 */
import { bindBuffers, dispatchAll, getPipeline, scratchBuffer, uniformBuffer, withEncoder } from './pipelines';
import { dispatchLinear, linearIndexFn, storage, uniforms } from './wgsl';

/** Threads per workgroup, positions per tile of the main kernel and threads over headDim. */
const WG = 64;
/** Largest headDim: WG threads × D_PER_THREAD accumulators. */
export const MAX_HEAD_DIM = 256;
const D_PER_THREAD = MAX_HEAD_DIM / WG;
/** Automatic split: positions per split, most splits, and the grid size beyond which splitting stops. */
const POSITIONS_PER_SPLIT = 256;
const MAX_AUTO_SPLITS = 32;
const TARGET_WORKGROUPS = 1024;
/** The running max before any score: finite, so that exp(m − m_new) is 0 rather than NaN (−inf − −inf). */
const NO_SCORE = '-3.0e38';

export interface KvWriteArgs {
  /** f32 [tokens, kvHeads·headDim]: the new tokens' key projections (already rotary-embedded). */
  k: GPUBuffer;
  /** f32 [tokens, kvHeads·headDim]: the new tokens' value projections. */
  v: GPUBuffer;
  /** f32 [kvHeads, capacity, headDim]. */
  kCache: GPUBuffer;
  /** f32 [kvHeads, capacity, headDim]. */
  vCache: GPUBuffer;
  tokens: number;
  kvHeads: number;
  headDim: number;
  /** Positions the caches hold per head. */
  capacity: number;
  /** Cache position of the first new token. */
  position0: number;
}

export interface AttentionArgs {
  /** f32 [tokens, heads·headDim]: the queries (already rotary-embedded). */
  q: GPUBuffer;
  /** f32 [kvHeads, capacity, headDim], positions 0..position0+tokens−1 written. */
  kCache: GPUBuffer;
  vCache: GPUBuffer;
  /** f32 [tokens, heads·headDim], written. */
  out: GPUBuffer;
  tokens: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  capacity: number;
  /** Position of query token 0; token t attends to positions 0..position0 + t. */
  position0: number;
  /** Multiplies q·k (usually 1/sqrt(headDim)). */
  scale: number;
  /** Chunks of the context per query (flash-decoding); default automatic (see the file comment). */
  splits?: number;
}

function positiveInt(name: string, x: number, max = 0xffffffff): void {
  if (!(Number.isInteger(x) && x >= 1 && x <= max))
    throw new RangeError(`${name} must be an integer 1..${max}; got ${x}`);
}

function checkBuffer(name: string, buffer: GPUBuffer, floats: number): void {
  if (buffer.size < floats * 4) {
    throw new RangeError(`${name} has ${buffer.size} bytes, needs ${floats * 4} (${floats} f32)`);
  }
}

function checkCache(a: Pick<KvWriteArgs, 'tokens' | 'kvHeads' | 'headDim' | 'capacity' | 'position0'>): void {
  positiveInt('tokens', a.tokens);
  positiveInt('kvHeads', a.kvHeads);
  positiveInt('headDim', a.headDim);
  positiveInt('capacity', a.capacity);
  if (!(Number.isInteger(a.position0) && a.position0 >= 0)) {
    throw new RangeError(`position0 must be an integer >= 0; got ${a.position0}`);
  }
  if (a.position0 + a.tokens > a.capacity) {
    throw new RangeError(`position0 + tokens (${a.position0} + ${a.tokens}) exceeds capacity ${a.capacity}`);
  }
}

function kvWriteWgsl(): string {
  return `${uniforms(0, ['count', 'kv_heads', 'head_dim', 'capacity', 'position0'])}
${linearIndexFn(WG)}
${storage(1, 'k', 'array<f32>')}
${storage(2, 'v', 'array<f32>')}
${storage(3, 'k_cache', 'array<f32>', 'read_write')}
${storage(4, 'v_cache', 'array<f32>', 'read_write')}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg); // = t * kv_heads * head_dim + h * head_dim + d, the index into k and v
  if (i >= u.count) { return; }
  let d = i % u.head_dim;
  let h = (i / u.head_dim) % u.kv_heads;
  let t = i / (u.head_dim * u.kv_heads);
  let dst = (h * u.capacity + u.position0 + t) * u.head_dim + d;
  k_cache[dst] = k[i];
  v_cache[dst] = v[i];
}`;
}

/** Write the new tokens' k and v into the caches at positions position0.. . Records into `encoder` when given. */
export function kvWrite(device: GPUDevice, args: KvWriteArgs, encoder?: GPUCommandEncoder): void {
  checkCache(args);
  const { tokens, kvHeads, headDim, capacity, position0 } = args;
  const count = tokens * kvHeads * headDim;
  checkBuffer('k', args.k, count);
  checkBuffer('v', args.v, count);
  checkBuffer('kCache', args.kCache, kvHeads * capacity * headDim);
  checkBuffer('vCache', args.vCache, kvHeads * capacity * headDim);
  const pipeline = getPipeline(device, 'kv-write', { workgroup: WG }, kvWriteWgsl);
  const u = uniformBuffer(device, [count, kvHeads, headDim, capacity, position0]);
  const bindGroup = bindBuffers(device, pipeline, [u, args.k, args.v, args.kCache, args.vCache]);
  const [gx, gy] = dispatchLinear(count, WG);
  withEncoder(device, encoder, (e) => dispatchAll(e, 'kv-write', [{ pipeline, bindGroup, groups: [gx, gy, 1] }]));
}

const ATTENTION_UNIFORMS = ['heads', 'head_dim', 'capacity', 'position0', 'splits', 'group', 'scale'];

/**
 * Grid (heads, tokens, splits). Per workgroup: q in workgroup memory; tiles of WG positions of the chunk; per tile
 * thread i scores position tile + i, every thread reads the tile's max (a broadcast loop, no reduction barriers),
 * thread i turns its score into exp(s − m_new), and each thread adds the tile's weighted V to its headDim entries.
 */
function attentionWgsl(): string {
  return `${uniforms(0, ATTENTION_UNIFORMS)}
${storage(1, 'q', 'array<f32>')}
${storage(2, 'k_cache', 'array<f32>')}
${storage(3, 'v_cache', 'array<f32>')}
${storage(4, 'out', 'array<f32>', 'read_write')}
${storage(5, 'part', 'array<f32>', 'read_write')}
const WG: u32 = ${WG}u;
const DPT: u32 = ${D_PER_THREAD}u;
const NO_SCORE: f32 = ${NO_SCORE};
var<workgroup> q_sh: array<f32, ${MAX_HEAD_DIM}>;
var<workgroup> p_sh: array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let t = wid.y;
  let split = wid.z;
  let hd = u.head_dim;
  let scale = bitcast<f32>(u.scale);
  let len = u.position0 + t + 1u; // positions 0..p
  let chunk = (len + u.splits - 1u) / u.splits;
  let start = min(split * chunk, len);
  let end = min(start + chunk, len);
  let kv_base = (h / u.group) * u.capacity; // first cache row of this query head's kv head
  let q_base = (t * u.heads + h) * hd;
  for (var d = lid; d < hd; d += WG) { q_sh[d] = q[q_base + d]; }
  workgroupBarrier();
  var m = NO_SCORE; // running max
  var l = 0.0; // running sum of exp(s - m)
  var acc: array<f32, ${D_PER_THREAD}>; // entries lid, lid + WG, ... of the unnormalised output
  for (var tile = start; tile < end; tile += WG) {
    let j = tile + lid;
    var s = NO_SCORE;
    if (j < end) {
      let row = (kv_base + j) * hd;
      var dot = 0.0;
      for (var e = 0u; e < hd; e++) { dot += q_sh[e] * k_cache[row + e]; }
      s = dot * scale;
    }
    p_sh[lid] = s;
    workgroupBarrier();
    let n = min(WG, end - tile);
    var tile_max = NO_SCORE;
    for (var i = 0u; i < n; i++) { tile_max = max(tile_max, p_sh[i]); }
    let m_new = max(m, tile_max);
    let rescale = exp(m - m_new);
    workgroupBarrier(); // every thread has read the scores before they become weights
    p_sh[lid] = select(0.0, exp(s - m_new), j < end);
    workgroupBarrier();
    var tile_sum = 0.0;
    for (var i = 0u; i < n; i++) { tile_sum += p_sh[i]; }
    l = l * rescale + tile_sum;
    for (var r = 0u; r < DPT; r++) {
      let d = lid + r * WG;
      if (d < hd) {
        var a = acc[r] * rescale;
        for (var i = 0u; i < n; i++) { a += p_sh[i] * v_cache[(kv_base + tile + i) * hd + d]; }
        acc[r] = a;
      }
    }
    m = m_new;
    workgroupBarrier(); // the weights are read before the next tile's scores overwrite them
  }
  if (u.splits == 1u) {
    let inv = 1.0 / l;
    for (var r = 0u; r < DPT; r++) {
      let d = lid + r * WG;
      if (d < hd) { out[q_base + d] = acc[r] * inv; }
    }
    return;
  }
  // partial record of (t, h, split): m, l, acc[0..hd)
  let base = ((t * u.heads + h) * u.splits + split) * (hd + 2u);
  if (lid == 0u) {
    part[base] = m;
    part[base + 1u] = l;
  }
  for (var r = 0u; r < DPT; r++) {
    let d = lid + r * WG;
    if (d < hd) { part[base + 2u + d] = acc[r]; }
  }
}`;
}

/** Grid (heads, tokens): out = Σ_s exp(m_s − M)·acc_s / Σ_s exp(m_s − M)·l_s over the partial records. */
function combineWgsl(): string {
  return `${uniforms(0, ATTENTION_UNIFORMS)}
${storage(1, 'part', 'array<f32>')}
${storage(2, 'out', 'array<f32>', 'read_write')}
const WG: u32 = ${WG}u;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let t = wid.y;
  let hd = u.head_dim;
  let rec = hd + 2u;
  let first = (t * u.heads + h) * u.splits * rec;
  var big_m = ${NO_SCORE};
  for (var s = 0u; s < u.splits; s++) { big_m = max(big_m, part[first + s * rec]); }
  var l = 0.0;
  for (var s = 0u; s < u.splits; s++) {
    l += exp(part[first + s * rec] - big_m) * part[first + s * rec + 1u];
  }
  let inv = 1.0 / l;
  let q_base = (t * u.heads + h) * hd;
  for (var d = lid; d < hd; d += WG) {
    var a = 0.0;
    for (var s = 0u; s < u.splits; s++) {
      let b = first + s * rec;
      a += exp(part[b] - big_m) * part[b + 2u + d]; // an empty split has m = NO_SCORE: weight 0
    }
    out[q_base + d] = a * inv;
  }
}`;
}

/**
 * The automatic split count for `heads` query heads of `tokens` tokens whose longest context has `positions`
 * positions: one split per 256 positions, at most 32, and none beyond what brings the grid to about 1024 workgroups.
 */
export function attentionSplits(positions: number, heads: number, tokens: number): number {
  const byLength = Math.min(MAX_AUTO_SPLITS, Math.ceil(positions / POSITIONS_PER_SPLIT));
  const byGrid = Math.max(1, Math.floor(TARGET_WORKGROUPS / (heads * tokens)));
  return Math.max(1, Math.min(byLength, byGrid));
}

/** Causal GQA attention of q over the caches into `out`. Records into `encoder` when given, else submits at once. */
export function attention(device: GPUDevice, args: AttentionArgs, encoder?: GPUCommandEncoder): void {
  checkCache(args);
  const { tokens, heads, kvHeads, headDim, capacity, position0, scale } = args;
  positiveInt('heads', heads, 65535);
  positiveInt('tokens', tokens, 65535);
  if (heads % kvHeads !== 0) throw new RangeError(`heads (${heads}) must be a multiple of kvHeads (${kvHeads})`);
  if (headDim > MAX_HEAD_DIM) throw new RangeError(`headDim must be at most ${MAX_HEAD_DIM}; got ${headDim}`);
  if (!Number.isFinite(scale)) throw new RangeError(`scale must be a finite number; got ${scale}`);
  if (args.splits !== undefined) positiveInt('splits', args.splits, 65535);
  checkBuffer('q', args.q, tokens * heads * headDim);
  checkBuffer('out', args.out, tokens * heads * headDim);
  checkBuffer('kCache', args.kCache, kvHeads * capacity * headDim);
  checkBuffer('vCache', args.vCache, kvHeads * capacity * headDim);
  const splits = args.splits ?? attentionSplits(position0 + tokens, heads, tokens);
  const scaleBits = new Uint32Array(new Float32Array([scale]).buffer)[0]!;
  const u = uniformBuffer(device, [heads, headDim, capacity, position0, splits, heads / kvHeads, scaleBits]);
  // With one split the partial buffer is bound but not written; the scratch buffer's minimum size serves.
  const part = scratchBuffer(device, 'attention.partial', splits > 1 ? tokens * heads * splits * (headDim + 2) * 4 : 4);
  const main = getPipeline(device, 'attention', { workgroup: WG, maxHeadDim: MAX_HEAD_DIM }, attentionWgsl);
  const steps = [
    {
      pipeline: main,
      bindGroup: bindBuffers(device, main, [u, args.q, args.kCache, args.vCache, args.out, part]),
      groups: [heads, tokens, splits] as const,
    },
  ];
  if (splits > 1) {
    const combine = getPipeline(device, 'attention-combine', { workgroup: WG }, combineWgsl);
    steps.push({
      pipeline: combine,
      bindGroup: bindBuffers(device, combine, [u, part, args.out]),
      groups: [heads, tokens, 1] as const,
    });
  }
  withEncoder(device, encoder, (e) => dispatchAll(e, 'attention', steps));
}
