/** The test GPU: Dawn (npm `webgpu`) on SwiftShader, see ../../shared/TESTING.md "WebGPU in Node". */
import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);
const gpu = create([]);

/**
 * A device with WebGPU's default limits (but the adapter's largest storage binding), not kernels/device.ts's
 * adapter limits: the tests check that kernels refuse what a default device cannot do; `subgroups` when asked for.
 */
export async function getDevice(subgroups = true): Promise<GPUDevice> {
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new Error('no WebGPU adapter (is VK_ICD_FILENAMES set to SwiftShader?)');
  const requiredFeatures: GPUFeatureName[] = subgroups && adapter.features.has('subgroups') ? ['subgroups'] : [];
  const device = await adapter.requestDevice({
    requiredFeatures,
    requiredLimits: { maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize },
  });
  device.addEventListener('uncapturederror', (e) => {
    throw new Error(`WebGPU error: ${(e as GPUUncapturedErrorEvent).error.message}`);
  });
  return device;
}

/** Run `body` and fail on any validation error it raised on the device. */
export async function noGpuErrors<T>(device: GPUDevice, body: () => Promise<T>): Promise<T> {
  device.pushErrorScope('validation');
  const out = await body();
  const err = await device.popErrorScope();
  if (err) throw new Error(`WebGPU validation error: ${err.message}`);
  return out;
}
