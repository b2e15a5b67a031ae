/**
 * Token embedding lookup (ONNX Gather on axis 0 of the embedding table): out[t, :] = table[ids[t], :] for
 * t < count, with table [rows, dim] f32 and ids u32. An id ≥ rows writes a row of zeros rather than reading past
 * the table (WebGPU would clamp or zero such a read, depending on the implementation); the caller validates the
 * ids on the CPU too, this only keeps a bad id from producing another token's embedding.
 *
 * One invocation per output element, d fastest, so a workgroup copies contiguous runs of a row; over a 2-D grid
 * (`dispatchLinear`) so that a long prompt × hidden size may exceed 65535 workgroups' worth.
 */
import { checkBuffer, checkPositive } from './args';
import { bindBuffers, dispatch, getPipeline, uniformBuffer, withEncoder } from './pipelines';
import { dispatchLinear, linearIndexFn, storage, uniforms } from './wgsl';

const WG = 64;

export interface GatherRowsArgs {
  /** f32 [rows, dim]. */
  table: GPUBuffer;
  /** u32 [count]. */
  ids: GPUBuffer;
  /** f32 [count, dim], written. */
  out: GPUBuffer;
  count: number;
  dim: number;
  rows: number;
}

function gatherWgsl(wg: number): string {
  return `${uniforms(0, ['count', 'dim', 'rows'])}
${linearIndexFn(wg)}
${storage(1, 'table', 'array<f32>')}
${storage(2, 'ids', 'array<u32>')}
${storage(3, 'out', 'array<f32>', 'read_write')}
@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg);
  if (i >= u.count * u.dim) { return; }
  let id = ids[i / u.dim];
  var v = 0.0;
  if (id < u.rows) { v = table[id * u.dim + i % u.dim]; }
  out[i] = v;
}`;
}

/** out[t, :] = table[ids[t], :] (zeros for an id ≥ rows). Records into `encoder` when given, else submits. */
export function gatherRows(device: GPUDevice, args: GatherRowsArgs, encoder?: GPUCommandEncoder): void {
  const { table, ids, out, count, dim, rows } = args;
  checkPositive('count', count);
  checkPositive('dim', dim);
  checkPositive('rows', rows);
  checkBuffer('table', table, rows * dim);
  checkBuffer('ids', ids, count);
  checkBuffer('out', out, count * dim);
  if (out === table || out === ids) throw new RangeError('out must be a different buffer from table and ids');
  const pipeline = getPipeline(device, 'gatherRows', { workgroup: WG }, (v) => gatherWgsl(v.workgroup));
  const u = uniformBuffer(device, [count, dim, rows]);
  withEncoder(device, encoder, (e) =>
    dispatch(e, pipeline, bindBuffers(device, pipeline, [u, table, ids, out]), dispatchLinear(count * dim, WG)),
  );
}
