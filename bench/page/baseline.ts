/**
 * The baseline: onnxruntime-web/webgpu used directly in a page, as a site would without webq. Same runtime
 * version and the same session options the engine host uses (extension/host/ort.ts), so the only difference
 * measured is webq's path around it: one wasm thread (no cross-origin isolation), graph optimisation "all",
 * WebGPU in NCHW on a device asked for like the host's (adapter limits, shader-f16/subgroups/timestamp-query).
 *
 * Quantized variants are prepared here with webq's own prepareModel (same code, same policy) before the
 * session is created, untimed, so both sides run identical bytes.
 */
import * as ort from 'onnxruntime-web/webgpu';
import wasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.asyncify.wasm?url';
import { prepareModel } from '../../extension/host/prepare';
import type { BaselinePolicy, PageTensor } from './wire';
import { openDevice } from '../../kernels/device';

ort.env.wasm.wasmPaths = { wasm: new URL(wasmUrl, location.href).href };
ort.env.wasm.numThreads = 1;
ort.env.wasm.proxy = false;
ort.env.logLevel = 'error';

let device: Promise<GPUDevice> | null = null;
async function gpuDevice(): Promise<GPUDevice> {
  device ??= openDevice(navigator.gpu, ['shader-f16', 'subgroups', 'timestamp-query']).then((opened) => {
    if (!opened) throw new Error('no WebGPU adapter in the baseline page');
    return opened.device;
  });
  return device;
}

const sessions = new Map<string, ort.InferenceSession>();

export interface BaselineLoad {
  createMs: number;
  fetchMs: number;
  prepareMs: number;
  bytes: number;
}

export async function load(
  url: string,
  backend: 'wasm' | 'webgpu',
  policy: BaselinePolicy | null,
): Promise<BaselineLoad> {
  await release(url);
  let t = performance.now();
  const source = new Uint8Array(await (await fetch(url)).arrayBuffer());
  const fetchMs = performance.now() - t;
  t = performance.now();
  const bytes = policy
    ? prepareModel(source, {
        ...policy,
        mixedPrecision: false,
        attentionPrecision: 8,
        embeddingPrecision: 8,
        skipLayerNorm: true,
      }).bytes
    : source;
  const prepareMs = performance.now() - t;
  const providers: ort.InferenceSession.ExecutionProviderConfig[] =
    backend === 'webgpu'
      ? [
          {
            name: 'webgpu',
            device: await gpuDevice(),
            preferredLayout: 'NCHW',
          } as ort.InferenceSession.WebGpuExecutionProviderOption,
        ]
      : ['wasm'];
  t = performance.now();
  sessions.set(
    url,
    await ort.InferenceSession.create(bytes, { executionProviders: providers, graphOptimizationLevel: 'all' }),
  );
  return { createMs: performance.now() - t, fetchMs, prepareMs, bytes: bytes.byteLength };
}

/** One run as a page would do it: tensors made from the page's arrays, outputs read back to the CPU. */
export async function run(
  url: string,
  feeds: Record<string, PageTensor>,
): Promise<{ outputs: Record<string, PageTensor>; ms: number }> {
  const session = sessions.get(url);
  if (!session) throw new Error(`baseline: ${url} is not loaded`);
  const ortFeeds: Record<string, ort.Tensor> = {};
  for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor(t.type, t.data, t.dims);
  const started = performance.now();
  const results = await session.run(ortFeeds);
  const ms = performance.now() - started;
  const outputs: Record<string, PageTensor> = {};
  for (const [name, t] of Object.entries(results)) {
    outputs[name] = { type: t.type as PageTensor['type'], dims: [...t.dims], data: t.data as Float32Array };
    t.dispose();
  }
  return { outputs, ms };
}

export async function release(url: string): Promise<void> {
  const s = sessions.get(url);
  sessions.delete(url);
  await s?.release();
}

export const version = ort.env.versions.web ?? 'unknown';
