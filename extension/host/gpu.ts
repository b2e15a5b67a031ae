/**
 * The host's one GPUDevice, shared by onnxruntime-web sessions and webq's own kernels. Requested with the
 * adapter's own limits and the optional features webq uses. A lost device is forgotten so the next request
 * gets a fresh one (sessions built on the old device are dropped by the engine through `onLost`).
 */
import { openDevice, type AdapterFacts } from '../../kernels/device';
import { WebqError } from '../shared/errors';

export { adapterLimits } from '../../kernels/device';

export interface GpuInfo {
  adapter: GPUAdapter;
  device: GPUDevice;
  info: AdapterFacts;
  emulated: boolean;
}

const WANTED_FEATURES: readonly GPUFeatureName[] = ['shader-f16', 'subgroups' as GPUFeatureName, 'timestamp-query'];
const SOFTWARE = /swiftshader|lavapipe|llvmpipe|softpipe|software|microsoft basic render/i;

let pending: Promise<GpuInfo | null> | null = null;
const lostListeners = new Set<(reason: string) => void>();

export function onDeviceLost(listener: (reason: string) => void): void {
  lostListeners.add(listener);
}

/** Reason WebGPU is unavailable, filled when `getGpu()` resolves to null. */
export let gpuUnavailableReason = '';

export function getGpu(): Promise<GpuInfo | null> {
  pending ??= open().catch((err) => {
    gpuUnavailableReason = `WebGPU device request failed: ${(err as Error).message}`;
    pending = null;
    return null;
  });
  return pending;
}

async function open(): Promise<GpuInfo | null> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) {
    gpuUnavailableReason = 'navigator.gpu is absent (WebGPU disabled or not supported here)';
    pending = null;
    return null;
  }
  const opened = await openDevice(gpu, WANTED_FEATURES);
  if (!opened) {
    gpuUnavailableReason = 'no WebGPU adapter (blocklisted or no driver; see docs/troubleshooting.md)';
    pending = null;
    return null;
  }
  const { adapter, device, info } = opened;
  const raw = adapter.info ?? ({} as GPUAdapterInfo);
  const fallback =
    (adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter === true ||
    (raw as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
  const emulated = fallback || SOFTWARE.test(`${info.vendor} ${info.architecture} ${info.description} ${info.device}`);
  void device.lost.then((lost) => {
    pending = null;
    for (const l of lostListeners) l(lost.message || lost.reason || 'device lost');
  });
  return { adapter, device, info, emulated };
}

/**
 * Test hook (issue 8, tests/e2e/reliability.test.ts): destroys the device, as a GPU reset or driver crash would,
 * so the tests can check that in-flight requests fail clearly and later ones get a new device. Reachable only by a
 * runtime message from the extension's own contexts — sender is this extension, with no tab and an extension URL —
 * which rules out content scripts and therefore pages (they have no other way to send runtime messages: the
 * manifest declares no externally_connectable). Absent where there is no chrome.runtime (the harness page).
 */
const TEST_LOSE_DEVICE = 'webq-test:lose-gpu-device';
const runtime = (globalThis as { chrome?: typeof chrome }).chrome?.runtime;
if (runtime?.onMessage && typeof runtime.getURL === 'function') {
  runtime.onMessage.addListener(
    (message: unknown, sender: chrome.runtime.MessageSender, sendResponse: (r: unknown) => void) => {
      if ((message as { type?: unknown } | null)?.type !== TEST_LOSE_DEVICE) return undefined;
      if (sender.id !== runtime.id || sender.tab || !sender.url?.startsWith(runtime.getURL(''))) return undefined;
      void (pending ?? Promise.resolve(null)).then((gpu) => {
        gpu?.device.destroy();
        sendResponse({ destroyed: Boolean(gpu) });
      });
      return true;
    },
  );
}

/** A promise that rejects with OperationError once `device` is lost (or destroyed); never resolves. */
export function lostSignal(device: GPUDevice): Promise<never> {
  const signal = device.lost.then((info) => {
    throw new WebqError(
      'OperationError',
      `the GPU device was lost (${info.message || info.reason || 'no reason given'}); call again: the next request uses a new device`,
    );
  });
  signal.catch(() => undefined); // observed by whoever races it; never an unhandled rejection on its own
  return signal;
}
