/**
 * Per-device caches: compute pipelines keyed by their kernel and variant object (everything that is compiled into
 * the WGSL: bits, scheme, workgroup shape, features — never a shape, shapes are uniforms) and
 * immutable uniform buffers keyed by their contents, so that repeated calls on the same shapes allocate nothing.
 */

interface DeviceCache {
  pipelines: Map<string, GPUComputePipeline>;
  uniforms: Map<string, GPUBuffer>;
  scratch: Map<string, GPUBuffer>;
}

const caches = new WeakMap<GPUDevice, DeviceCache>();
/** Uniform buffers are tiny; the bound only stops a long shape sweep from growing the map forever. */
const MAX_UNIFORMS = 512;

function cacheOf(device: GPUDevice): DeviceCache {
  let c = caches.get(device);
  if (!c) {
    c = { pipelines: new Map(), uniforms: new Map(), scratch: new Map() };
    caches.set(device, c);
  }
  return c;
}

/** Everything compiled into a kernel's WGSL, as plain fields (never a shape: shapes are uniforms). */
export type Variant = Readonly<Record<string, string | number | boolean | readonly number[]>>;

/** The cache key of a kernel variant: its name and every field, in a fixed order, so no caller spells keys by hand. */
export function variantKey(kernel: string, variant: Variant): string {
  return `${kernel}{${Object.keys(variant)
    .sort()
    .map((k) => `${k}=${String(variant[k])}`)
    .join(',')}}`;
}

/** The pipeline of `kernel` compiled for `variant` (`wgsl(variant)` on first use, then cached per device). */
export function getPipeline<V extends Variant>(
  device: GPUDevice,
  kernel: string,
  variant: V,
  wgsl: (variant: V) => string,
): GPUComputePipeline {
  const c = cacheOf(device);
  const key = variantKey(kernel, variant);
  let p = c.pipelines.get(key);
  if (!p) {
    const module = device.createShaderModule({ label: key, code: wgsl(variant) });
    p = device.createComputePipeline({ label: key, layout: 'auto', compute: { module, entryPoint: 'main' } });
    c.pipelines.set(key, p);
  }
  return p;
}

/** Number of pipelines compiled so far on a device (tests check that shapes do not add pipelines). */
export function pipelineCount(device: GPUDevice): number {
  return cacheOf(device).pipelines.size;
}

/** A uniform buffer holding `values` as u32s (padded to 16 bytes), shared by every call with the same values. */
export function uniformBuffer(device: GPUDevice, values: readonly number[]): GPUBuffer {
  const c = cacheOf(device);
  const key = values.join(',');
  let b = c.uniforms.get(key);
  if (!b) {
    if (c.uniforms.size >= MAX_UNIFORMS) {
      const oldest = c.uniforms.keys().next().value;
      if (oldest !== undefined) c.uniforms.delete(oldest); // not destroyed: a pending submit may still use it
    }
    const data = new Uint32Array(Math.ceil(Math.max(values.length, 1) / 4) * 4);
    values.forEach((v, i) => {
      if (!(Number.isInteger(v) && v >= 0 && v <= 0xffffffff)) throw new RangeError(`uniform ${i} not a u32: ${v}`);
      data[i] = v;
    });
    b = device.createBuffer({ size: data.byteLength, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(b, 0, data);
    c.uniforms.set(key, b);
  }
  return b;
}

/** A bind group binding `buffers` to bindings 0, 1, 2, … of group 0 of `pipeline`. */
export function bindBuffers(
  device: GPUDevice,
  pipeline: GPUComputePipeline,
  buffers: readonly GPUBuffer[],
): GPUBindGroup {
  return device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
}

/** Record one dispatch in its own compute pass. */
export function dispatch(
  encoder: GPUCommandEncoder,
  pipeline: GPUComputePipeline,
  bindGroup: GPUBindGroup,
  groups: readonly [number, number?, number?],
): void {
  const pass = encoder.beginComputePass({ label: pipeline.label });
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(groups[0], groups[1] ?? 1, groups[2] ?? 1);
  pass.end();
}

/** Record several dispatches in one compute pass, in order (each sees the previous one's writes). */
export function dispatchAll(
  encoder: GPUCommandEncoder,
  label: string,
  steps: readonly {
    pipeline: GPUComputePipeline;
    bindGroup: GPUBindGroup;
    groups: readonly [number, number?, number?];
  }[],
): void {
  const pass = encoder.beginComputePass({ label });
  for (const { pipeline, bindGroup, groups } of steps) {
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(groups[0], groups[1] ?? 1, groups[2] ?? 1);
  }
  pass.end();
}

/**
 * A storage buffer of at least `bytes` for temporaries that live within one recorded pass (the GEMM's split-K
 * partial sums), one per `name` and device, grown on demand. Passes on one queue run in order, so every caller
 * can share it; a grown-out buffer is dropped, not destroyed (a recorded, unsubmitted pass may still use it).
 */
export function scratchBuffer(device: GPUDevice, name: string, bytes: number): GPUBuffer {
  const c = cacheOf(device);
  let b = c.scratch.get(name);
  if (!b || b.size < bytes) {
    const size = Math.max(256, 2 ** Math.ceil(Math.log2(Math.max(bytes, 4))));
    b = device.createBuffer({ label: `webq.${name}`, size, usage: GPUBufferUsage.STORAGE });
    c.scratch.set(name, b);
  }
  return b;
}

/** Run `record` in a fresh encoder and submit it, unless the caller passed its own encoder to record into. */
export function withEncoder<T>(
  device: GPUDevice,
  encoder: GPUCommandEncoder | undefined,
  record: (e: GPUCommandEncoder) => T,
): T {
  if (encoder) return record(encoder);
  const own = device.createCommandEncoder();
  const result = record(own);
  device.queue.submit([own.finish()]);
  return result;
}

/** Whether a device was created with the `subgroups` feature (kernels then take their subgroup path). */
export function hasSubgroups(device: GPUDevice): boolean {
  return device.features.has('subgroups');
}

/** Largest subgroup size of the device's adapter, when the implementation reports it. */
export function subgroupMaxSize(device: GPUDevice): number | undefined {
  const info = (device as GPUDevice & { adapterInfo?: { subgroupMaxSize?: number } }).adapterInfo;
  return info?.subgroupMaxSize;
}

/**
 * Whether the device runs on a CPU (SwiftShader, llvmpipe/lavapipe, or any adapter that says it is a fallback):
 * there, parallelism is bounded by the CPU's cores and work that only adds parallelism (the GEMM's split-K)
 * costs more than it gives.
 */
export function isSoftwareAdapter(device: GPUDevice): boolean {
  const info = (device as GPUDevice & { adapterInfo?: GPUAdapterInfo & { isFallbackAdapter?: boolean } }).adapterInfo;
  if (!info) return false;
  if (info.isFallbackAdapter) return true;
  return /swiftshader|llvmpipe|lavapipe/i.test(
    [info.vendor, info.architecture, info.device, info.description].join(' '),
  );
}
