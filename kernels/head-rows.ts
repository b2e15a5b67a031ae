/**
 * Matrix–vector product over the rows of an fp32 table: y[v] = Σ_d table[v, d] · x[d] for table [rows, dim] —
 * the tied lm_head of Qwen2-style models, which reads the fp32 embedding table (vocab rows of hidden floats)
 * instead of a separate transposed weight, so the table is used as it is stored.
 *
 * A workgroup of 64 × 4 threads computes 4 rows: the 64 threads of a row walk it with a stride of 64, so their
 * loads are contiguous, accumulate in a register, and a shared-memory tree adds the 64 partial sums (fixed order).
 * With ~152,000 rows that is ~38,000 workgroups, and a larger vocabulary or a smaller tile could exceed the 65535
 * limit of one dimension, so the grid is 2-D and the row block is workgroup_id.x + workgroup_id.y · num_workgroups.x.
 * Threads of a block past the last row still take part in the barriers (with zero sums) and only skip the store.
 *
 * Short rows (dim ≤ 64: the generated test models) and CPU-emulated adapters (SwiftShader, lavapipe: a barrier is a
 * switch between CPU coroutines, and 63 of 64 threads would add nothing but their cost) take the other variant: one
 * thread per row, 64 rows per workgroup, no shared memory. On SwiftShader that made the 151,936 × 32 head of the
 * generated Qwen2 go from seconds to milliseconds.
 */
import { checkBuffer, checkPositive } from './args';
import { bindBuffers, dispatch, getPipeline, isSoftwareAdapter, uniformBuffer, withEncoder } from './pipelines';
import { dispatchLinear, storage, uniforms } from './wgsl';

/** Threads along dim per row (a power of two) and rows per workgroup. */
const WG_X = 64;
const ROWS = 4;
/** Rows per workgroup of the one-thread-per-row variant. */
const ROW_PER_THREAD_GROUP = 64;

export interface MatvecRowsArgs {
  /** f32 [rows, dim]. */
  table: GPUBuffer;
  /** f32 [dim]. */
  x: GPUBuffer;
  /** f32 [rows], written. */
  y: GPUBuffer;
  rows: number;
  dim: number;
}

function matvecRowsWgsl(wgX: number, rowsPerGroup: number): string {
  if (wgX === 1) return rowPerThreadWgsl(rowsPerGroup);
  return `${uniforms(0, ['rows', 'dim'])}
${storage(1, 'table', 'array<f32>')}
${storage(2, 'x', 'array<f32>')}
${storage(3, 'y', 'array<f32>', 'read_write')}
const WG_X: u32 = ${wgX}u;
const ROWS: u32 = ${rowsPerGroup}u;
var<workgroup> partial: array<f32, ${wgX * rowsPerGroup}>;
@compute @workgroup_size(WG_X, ROWS)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = (wid.x + wid.y * nwg.x) * ROWS + lid.y;
  let valid = row < u.rows;
  var s = 0.0;
  if (valid) {
    let base = row * u.dim;
    for (var d = lid.x; d < u.dim; d += WG_X) { s += table[base + d] * x[d]; }
  }
  let slot = lid.y * WG_X;
  partial[slot + lid.x] = s;
  workgroupBarrier();
  for (var stride = WG_X / 2u; stride > 0u; stride /= 2u) {
    if (lid.x < stride) { partial[slot + lid.x] += partial[slot + lid.x + stride]; }
    workgroupBarrier();
  }
  if (valid && lid.x == 0u) { y[row] = partial[slot]; }
}`;
}

function rowPerThreadWgsl(rowsPerGroup: number): string {
  return `${uniforms(0, ['rows', 'dim'])}
${storage(1, 'table', 'array<f32>')}
${storage(2, 'x', 'array<f32>')}
${storage(3, 'y', 'array<f32>', 'read_write')}
@compute @workgroup_size(${rowsPerGroup})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * ${rowsPerGroup}u + lid;
  if (row >= u.rows) { return; }
  let base = row * u.dim;
  var s = 0.0;
  for (var d = 0u; d < u.dim; d++) { s += table[base + d] * x[d]; }
  y[row] = s;
}`;
}

/** y = table · x over the table's rows. Records into `encoder` when given, else submits at once. */
export function matvecRows(device: GPUDevice, args: MatvecRowsArgs, encoder?: GPUCommandEncoder): void {
  const { table, x, y, rows, dim } = args;
  checkPositive('rows', rows);
  checkPositive('dim', dim);
  checkBuffer('table', table, rows * dim);
  checkBuffer('x', x, dim);
  checkBuffer('y', y, rows);
  if (y === table || y === x) throw new RangeError('y must be a different buffer from table and x');
  const perThread = dim <= 64 || isSoftwareAdapter(device);
  const workgroup = perThread ? [1, ROW_PER_THREAD_GROUP, 1] : [WG_X, ROWS, 1];
  const pipeline = getPipeline(device, 'matvecRows', { workgroup }, (v) =>
    matvecRowsWgsl(v.workgroup[0]!, v.workgroup[1]!),
  );
  const u = uniformBuffer(device, [rows, dim]);
  const groups = dispatchLinear(Math.ceil(rows / workgroup[1]!), 1);
  withEncoder(device, encoder, (e) => dispatch(e, pipeline, bindBuffers(device, pipeline, [u, table, x, y]), groups));
}
