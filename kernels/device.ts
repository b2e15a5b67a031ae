/**
 * One way to open a GPUDevice for webq's kernels and onnxruntime's WebGPU EP, used by the engine host, the GPU
 * quantizer (in its worker), the kernel tests and the benchmarks, in browsers and on Dawn in Node. The device gets
 * the adapter's own limits — ORT and the kernels size buffers, bindings and workgroups by the device's limits, and
 * a default device would cap them at WebGPU's minimums — and whichever of the wanted features the adapter has.
 */

/** The limits that matter for large weights and big workgroups; each is requested at the adapter's value. */
export const DEVICE_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupsPerDimension',
] as const;

export interface AdapterFacts {
  vendor: string;
  architecture: string;
  description: string;
  device: string;
}

export interface OpenedDevice {
  adapter: GPUAdapter;
  device: GPUDevice;
  info: AdapterFacts;
  /** The wanted features the adapter had, now enabled on the device. */
  features: GPUFeatureName[];
}

/** Opens a device on the high-performance adapter; null when there is no adapter. */
export async function openDevice(gpu: GPU, wanted: readonly GPUFeatureName[] = []): Promise<OpenedDevice | null> {
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) return null;
  const features = wanted.filter((f) => adapter.features.has(f));
  const limits = adapter.limits as unknown as Record<string, unknown>;
  const requiredLimits: Record<string, number> = {};
  for (const key of DEVICE_LIMITS) {
    const v = limits[key];
    if (typeof v === 'number') requiredLimits[key] = v;
  }
  const device = await adapter.requestDevice({ requiredFeatures: features, requiredLimits });
  return { adapter, device, info: adapterFacts(adapter), features };
}

export function adapterFacts(adapter: GPUAdapter): AdapterFacts {
  const raw = adapter.info ?? ({} as GPUAdapterInfo);
  return {
    vendor: raw.vendor ?? '',
    architecture: raw.architecture ?? '',
    description: raw.description ?? '',
    device: raw.device ?? '',
  };
}

/** A readable name for reports: the adapter's non-empty facts joined. */
export function adapterName(info: AdapterFacts): string {
  return (
    [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' / ') || 'unknown adapter'
  );
}

/** Every numeric limit of the adapter (GPUSupportedLimits exposes its fields as prototype getters). */
export function adapterLimits(adapter: GPUAdapter): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key in adapter.limits) {
    const v = (adapter.limits as unknown as Record<string, unknown>)[key];
    if (typeof v === 'number') out[key] = v;
  }
  return out;
}
