/**
 * The residual add of a decoder layer, in place: x[i] += y[i] for i < count.
 *
 * One invocation per element over a 2-D grid (`dispatchLinear`), so counts beyond 65535 workgroups' worth work;
 * the count is a uniform, so one pipeline serves every shape. In place because the decode loop keeps the residual
 * stream in one buffer (`x` is read and written by the same invocation, so binding it once as read_write is legal;
 * `y` must be a different buffer).
 */
import { checkBuffer, checkPositive } from './args';
import { bindBuffers, dispatch, getPipeline, uniformBuffer, withEncoder } from './pipelines';
import { dispatchLinear, linearIndexFn, storage, uniforms } from './wgsl';

const WG = 64;

export interface AddArgs {
  /** f32 [count], read and overwritten with x + y. */
  x: GPUBuffer;
  /** f32 [count]; not the same buffer as `x`. */
  y: GPUBuffer;
  count: number;
}

function addWgsl(wg: number): string {
  return `${uniforms(0, ['count'])}
${linearIndexFn(wg)}
${storage(1, 'x', 'array<f32>', 'read_write')}
${storage(2, 'y', 'array<f32>')}
@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg);
  if (i >= u.count) { return; }
  x[i] = x[i] + y[i];
}`;
}

/** x[i] += y[i]. Records into `encoder` when given, else submits at once. */
export function addInPlace(device: GPUDevice, args: AddArgs, encoder?: GPUCommandEncoder): void {
  const { x, y, count } = args;
  checkPositive('count', count);
  checkBuffer('x', x, count);
  checkBuffer('y', y, count);
  if (x === y) throw new RangeError('y must be a different buffer from x');
  const pipeline = getPipeline(device, 'addInPlace', { workgroup: WG }, (v) => addWgsl(v.workgroup));
  const u = uniformBuffer(device, [count]);
  withEncoder(device, encoder, (e) =>
    dispatch(e, pipeline, bindBuffers(device, pipeline, [u, x, y]), dispatchLinear(count, WG)),
  );
}
