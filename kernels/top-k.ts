/**
 * Top-k for sampling: the k largest of x[0 … count − 1] as (value, index) pairs, best first, ties broken to the
 * smaller index (sampling.ts `topIndices`' order), so that a sampled step reads back k pairs instead of a
 * vocabulary-wide logits row (600 KB per token for Qwen2). NaNs are not candidates; fewer than k candidates leave the
 * remaining pairs as (−∞, 0xffffffff).
 *
 * Rounds of one kernel shape, in one compute pass: a workgroup of 256 threads loads a chunk of 1024 (value, index)
 * candidates into shared memory, sorts it best first with a bitonic sort (55 barrier stages whatever k is; picking
 * the k best one reduction at a time took k × 9, and emulated GPUs pay for every barrier) and writes its first k.
 * The first round reads x in chunks (index = position); each later round reads the previous round's pairs, k per
 * chunk, until one chunk is left. Pairs compare by value, then index, so ties are broken the same in every round.
 * The intermediate pairs live in two per-device scratch buffers (pipelines.ts `scratchBuffer`), used in turn.
 */
import { checkBuffer, checkPositive } from './args';
import { bindBuffers, dispatchAll, getPipeline, scratchBuffer, uniformBuffer, withEncoder } from './pipelines';
import { storage, uniforms } from './wgsl';

const WG = 256;
const CHUNK = 1024;
/** The largest k: a chunk must hold k candidates, and each round shrinks the candidates k / 1024 times. */
export const MAX_TOP_K = 256;

export interface TopKArgs {
  /** f32 [count]. */
  x: GPUBuffer;
  count: number;
  k: number;
  /** vec2<u32> [k], written: (bitcast<u32>(value), index) pairs, best first. */
  out: GPUBuffer;
}

/** One round: `first` reads f32 values (index = position); otherwise (value bits, index) pairs. */
function roundWgsl(first: boolean): string {
  return `${uniforms(0, ['count', 'k'])}
${storage(1, 'src', first ? 'array<f32>' : 'array<vec2<u32>>')}
${storage(2, 'dst', 'array<vec2<u32>>', 'read_write')}
const WG: u32 = ${WG}u;
const CHUNK: u32 = ${CHUNK}u;
const NONE: u32 = 0xffffffffu;
var<workgroup> chunk_v: array<f32, CHUNK>;
var<workgroup> chunk_i: array<u32, CHUNK>;
// Slot a goes before slot b: a real candidate before none, else the larger value, or equal and the smaller index.
fn before(a: u32, b: u32) -> bool {
  let ia = chunk_i[a];
  let ib = chunk_i[b];
  return ia != NONE && (ib == NONE || chunk_v[a] > chunk_v[b] || (chunk_v[a] == chunk_v[b] && ia < ib));
}
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let base = wid.x * CHUNK;
  for (var slot = lid; slot < CHUNK; slot += WG) {
    let at = base + slot;
    var v = 0.0;
    var id = NONE;
    if (at < u.count) {
      ${first ? 'v = src[at];\n      id = at;' : 'let p = src[at];\n      v = bitcast<f32>(p.x);\n      id = p.y;'}
    }
    // NaN is no candidate; tested on the bits, since WGSL lets a compiler assume no float is NaN (v != v may be false).
    if ((bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u) { id = NONE; }
    chunk_v[slot] = v;
    chunk_i[slot] = id;
  }
  workgroupBarrier();
  // Bitonic sort of the chunk, best first: 55 stages of CHUNK / 2 compare-exchanges, whatever k is.
  for (var size = 2u; size <= CHUNK; size <<= 1u) {
    for (var stride = size >> 1u; stride > 0u; stride >>= 1u) {
      for (var t = lid; t < CHUNK / 2u; t += WG) {
        let a = 2u * stride * (t / stride) + t % stride;
        let b = a + stride;
        // Blocks alternate direction until the last stage sorts the whole chunk best first.
        let best_first = (a & size) == 0u;
        if (select(before(a, b), before(b, a), best_first)) {
          let v = chunk_v[a];
          let i = chunk_i[a];
          chunk_v[a] = chunk_v[b];
          chunk_i[a] = chunk_i[b];
          chunk_v[b] = v;
          chunk_i[b] = i;
        }
      }
      workgroupBarrier();
    }
  }
  for (var r = lid; r < u.k; r += WG) {
    let id = select(NONE, chunk_i[r], r < CHUNK);
    dst[wid.x * u.k + r] = select(vec2<u32>(bitcast<u32>(chunk_v[r]), id), vec2<u32>(0xff800000u, NONE), id == NONE);
  }
}`;
}

/** out = the k best (value, index) pairs of x[0 … count − 1], best first. Records into `encoder` when given. */
export function topK(device: GPUDevice, args: TopKArgs, encoder?: GPUCommandEncoder): void {
  const { x, count, k, out } = args;
  checkPositive('count', count);
  if (count >= 0xffffffff) throw new RangeError(`count must be < ${0xffffffff} (an index is reserved), got ${count}`);
  if (!Number.isInteger(k) || k < 1 || k > MAX_TOP_K)
    throw new RangeError(`k must be an integer from 1 to ${MAX_TOP_K}, got ${k}`);
  checkBuffer('x', x, count);
  checkBuffer('out', out, 2 * k);
  if (x === out) throw new RangeError('out must be a different buffer from x');
  const first = getPipeline(device, 'topK.first', { first: 1 }, () => roundWgsl(true));
  const merge = getPipeline(device, 'topK.merge', { first: 0 }, () => roundWgsl(false));
  const steps: Parameters<typeof dispatchAll>[2][number][] = [];
  let groups = Math.ceil(count / CHUNK);
  const scratch = [
    scratchBuffer(device, 'topK.a', groups * k * 8),
    scratchBuffer(device, 'topK.b', Math.ceil((groups * k) / CHUNK) * k * 8),
  ];
  let dst = groups === 1 ? out : scratch[0]!;
  steps.push({
    pipeline: first,
    bindGroup: bindBuffers(device, first, [uniformBuffer(device, [count, k]), x, dst]),
    groups: [groups],
  });
  for (let round = 1; groups > 1; round++) {
    const src = dst;
    const n = groups * k;
    groups = Math.ceil(n / CHUNK);
    dst = groups === 1 ? out : scratch[round % 2]!;
    steps.push({
      pipeline: merge,
      bindGroup: bindBuffers(device, merge, [uniformBuffer(device, [n, k]), src, dst]),
      groups: [groups],
    });
  }
  withEncoder(device, encoder, (e) => dispatchAll(e, 'topK', steps));
}
