/**
 * Greedy sampling: out[0] = the index of the largest x[i], i < count, ties broken to the smallest index (as
 * onnxruntime's ArgMax, which keeps the first maximum). NaNs are skipped (where the implementation keeps NaNs at
 * all: WGSL lets a compiler assume there are none); if no value is a candidate the result is 0.
 *
 * count is a vocabulary (~152,000 for Qwen2), too long for one workgroup to walk quickly and too short to need
 * more than one level of partials, so there are two dispatches in one compute pass: (1) G ≤ 256 workgroups of 256
 * threads each walk a grid stride of x keeping the best (value, index) pair, reduce it in shared memory and write
 * the workgroup's pair to a per-device scratch buffer; (2) one workgroup of 256 reduces the G pairs and writes the
 * index. The reduction compares (value, index) pairs explicitly (greater value, or equal value and smaller index),
 * so the tie rule holds whatever order the tree combines them in. The scratch buffer (pipelines.ts `scratchBuffer`)
 * is shared by all calls: passes on one queue run in order.
 */
import { checkBuffer, checkPositive } from './args';
import { bindBuffers, dispatchAll, getPipeline, scratchBuffer, uniformBuffer, withEncoder } from './pipelines';
import { storage, uniforms } from './wgsl';

const WG = 256;
const MAX_GROUPS = 256;

export interface ArgmaxArgs {
  /** f32 [count]. */
  x: GPUBuffer;
  count: number;
  /** u32, at least 4 bytes: out[0] receives the index. */
  out: GPUBuffer;
}

/** The shared (value, index) pair reduction: `better` and a tree over the workgroup's `best_v`/`best_i`. */
function pairReduction(wg: number): string {
  return `
const WG: u32 = ${wg}u;
const NONE: u32 = 0xffffffffu;
var<workgroup> best_v: array<f32, WG>;
var<workgroup> best_i: array<u32, WG>;
// (v, i) beats (w, j): a real candidate (i != NONE, v not NaN) beats the empty one (j == NONE), else the larger
// value wins and an equal value with the smaller index.
fn better(v: f32, i: u32, w: f32, j: u32) -> bool {
  return i != NONE && v == v && (j == NONE || v > w || (v == w && i < j));
}
fn reduce_pairs(lid: u32, v: f32, i: u32) {
  best_v[lid] = v;
  best_i[lid] = i;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride && better(best_v[lid + stride], best_i[lid + stride], best_v[lid], best_i[lid])) {
      best_v[lid] = best_v[lid + stride];
      best_i[lid] = best_i[lid + stride];
    }
    workgroupBarrier();
  }
}`;
}

function partialsWgsl(wg: number): string {
  return `${uniforms(0, ['count', 'groups'])}
${storage(1, 'x', 'array<f32>')}
${storage(2, 'partials', 'array<vec2<u32>>', 'read_write')}
${pairReduction(wg)}
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  var v = 0.0;
  var idx = NONE; // no candidate yet
  for (var i = wid.x * WG + lid; i < u.count; i += u.groups * WG) {
    let xi = x[i];
    if (better(xi, i, v, idx)) { v = xi; idx = i; }
  }
  reduce_pairs(lid, v, idx);
  if (lid == 0u) { partials[wid.x] = vec2<u32>(bitcast<u32>(best_v[0]), best_i[0]); }
}`;
}

function finalWgsl(wg: number): string {
  return `${uniforms(0, ['count', 'groups'])}
${storage(1, 'partials', 'array<vec2<u32>>')}
${storage(2, 'out', 'array<u32>', 'read_write')}
${pairReduction(wg)}
@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  var v = 0.0;
  var idx = NONE;
  for (var g = lid; g < u.groups; g += WG) {
    let p = partials[g];
    let pv = bitcast<f32>(p.x);
    if (better(pv, p.y, v, idx)) { v = pv; idx = p.y; }
  }
  reduce_pairs(lid, v, idx);
  if (lid == 0u) { out[0] = select(best_i[0], 0u, best_i[0] == NONE); }
}`;
}

/** out[0] = argmax(x[0 … count − 1]) (first index on ties). Records into `encoder` when given, else submits. */
export function argmax(device: GPUDevice, args: ArgmaxArgs, encoder?: GPUCommandEncoder): void {
  const { x, count, out } = args;
  checkPositive('count', count);
  if (count >= 0xffffffff) throw new RangeError(`count must be < ${0xffffffff} (an index is reserved), got ${count}`);
  checkBuffer('x', x, count);
  checkBuffer('out', out, 1);
  if (x === out) throw new RangeError('out must be a different buffer from x');
  const groups = Math.min(MAX_GROUPS, Math.ceil(count / WG));
  const partials = getPipeline(device, 'argmax.partials', { workgroup: WG }, (v) => partialsWgsl(v.workgroup));
  const final = getPipeline(device, 'argmax.final', { workgroup: WG }, (v) => finalWgsl(v.workgroup));
  const u = uniformBuffer(device, [count, groups]);
  const scratch = scratchBuffer(device, 'argmax', MAX_GROUPS * 8);
  withEncoder(device, encoder, (e) =>
    dispatchAll(e, 'argmax', [
      { pipeline: partials, bindGroup: bindBuffers(device, partials, [u, x, scratch]), groups: [groups] },
      { pipeline: final, bindGroup: bindBuffers(device, final, [u, scratch, out]), groups: [1] },
    ]),
  );
}
