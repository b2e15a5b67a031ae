/**
 * The one file that touches onnxruntime-web (the `/webgpu` flavour: native WebGPU EP, WebNN EP, wasm EP).
 * Every .wasm ships inside the extension; nothing is fetched from a CDN.
 *
 * Sessions are created one at a time through a promise chain: ORT's WebGPU EP throws when two sessions are
 * created concurrently, and the wasm heap is shared.
 */
import * as ort from 'onnxruntime-web/webgpu';
import wasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.asyncify.wasm?url';
import type { ConcreteBackend } from '../shared/types';
import type { TensorType, WireTensor, TensorData } from '../shared/tensor';

let configured = false;
let wasmOverride: string | undefined;
function configure(): void {
  if (configured) return;
  configured = true;
  ort.env.wasm.wasmPaths = { wasm: wasmOverride ?? new URL(wasmUrl, globalThis.location?.href).href };
  ort.env.wasm.numThreads = wasmThreads();
  ort.env.wasm.proxy = false;
  ort.env.logLevel = diagnostics.logLevel ?? 'error';
}

/** Where ORT's .wasm is fetched from instead of beside this module (the npm client's `wasmUrl` option). */
export function setOrtWasmUrl(url: string): void {
  wasmOverride = url;
}

/**
 * Threads for the wasm EP. They need a cross-origin isolated engine host (the manifest's COOP/COEP keys make extension
 * pages isolated where the browser honours them); otherwise ORT silently runs one thread, so report 1. All cores: the
 * engine host is the only heavy user of this process, and ORT's default (half the cores, at most 4) leaves one of two
 * cores idle.
 */
export function wasmThreads(): number {
  if (!globalThis.crossOriginIsolated) return 1;
  return Math.max(1, Math.min(navigator.hardwareConcurrency || 1, 16));
}

/**
 * ORT's own logging, for tests that must see where ORT placed each node (the WebNN harness turns it on):
 * session severity 0 (verbose) makes ORT print its node placements to the console.
 */
export interface OrtDiagnostics {
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
  logVerbosityLevel?: number;
  logLevel?: typeof ort.env.logLevel;
}
let diagnostics: OrtDiagnostics = {};
export function setOrtDiagnostics(d: OrtDiagnostics): void {
  diagnostics = { ...d };
  if (configured && d.logLevel) ort.env.logLevel = d.logLevel;
}

export interface SessionTarget {
  backend: ConcreteBackend;
  device?: GPUDevice;
  webnn?: { context: unknown; deviceType: 'cpu' | 'gpu' | 'npu' };
  freeDimensionOverrides?: Record<string, number>;
  /**
   * Settles when the session's device is gone (GPUDevice.lost). Work on a lost device may never finish in ORT, so
   * creation and runs are raced against it: the caller gets an error and the creation chain moves on.
   */
  lost?: Promise<never>;
}

export type Session = ort.InferenceSession;

let chain: Promise<unknown> = Promise.resolve();

export function createSession(model: Uint8Array, target: SessionTarget): Promise<Session> {
  configure();
  const providers: ort.InferenceSession.ExecutionProviderConfig[] =
    // NCHW: with the NHWC layout transform, ORT 1.30's WebGPU EP computes Silero VAD's 1-D Conv
    // (encoder/0, kernel 3, pad 1) wrongly — speech probabilities off by 0.99 against the CPU EP, in Chromium,
    // Firefox and ORT's own Node WebGPU EP alike; NCHW matches the CPU EP (see docs/engine.md).
    target.backend === 'webgpu'
      ? [
          {
            name: 'webgpu',
            device: target.device,
            preferredLayout: 'NCHW',
          } as ort.InferenceSession.WebGpuExecutionProviderOption,
        ]
      : target.backend === 'webnn'
        ? [
            {
              name: 'webnn',
              context: target.webnn!.context,
              deviceType: target.webnn!.deviceType,
            } as ort.InferenceSession.ExecutionProviderConfig,
          ]
        : ['wasm'];
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: providers,
    graphOptimizationLevel: 'all',
    freeDimensionOverrides: target.freeDimensionOverrides,
    ...(diagnostics.logSeverityLevel !== undefined ? { logSeverityLevel: diagnostics.logSeverityLevel } : {}),
    ...(diagnostics.logVerbosityLevel !== undefined ? { logVerbosityLevel: diagnostics.logVerbosityLevel } : {}),
  };
  const create = () => ort.InferenceSession.create(model, options);
  const created = chain.then(() => (target.lost ? Promise.race([create(), target.lost]) : create()));
  chain = created.catch(() => undefined);
  return created;
}

const ORT_TYPE: Readonly<Record<TensorType, ort.Tensor.Type>> = Object.freeze({
  float32: 'float32',
  float16: 'float16',
  int64: 'int64',
  int32: 'int32',
  int8: 'int8',
  uint8: 'uint8',
  bool: 'bool',
});

export function toOrtTensor(t: WireTensor): ort.Tensor {
  return new ort.Tensor(ORT_TYPE[t.type], t.data as never, t.dims);
}

export function fromOrtTensor(t: ort.Tensor): WireTensor {
  const type = t.type as TensorType;
  if (!Object.hasOwn(ORT_TYPE, type)) throw new Error(`output type ${t.type} is not supported by webq`);
  let data = t.data as unknown;
  // ORT may hand float16 back as Float16Array where the browser has one; the wire form is the raw bits.
  if (type === 'float16' && !(data instanceof Uint16Array)) {
    const v = data as { buffer: ArrayBuffer; byteOffset: number; length: number };
    data = new Uint16Array(v.buffer, v.byteOffset, v.length);
  }
  return { type, dims: [...t.dims], data: data as TensorData };
}

export async function run(
  session: Session,
  feeds: Record<string, WireTensor>,
  lost?: Promise<never>,
): Promise<{ outputs: Record<string, WireTensor>; ms: number }> {
  const ortFeeds: Record<string, ort.Tensor> = {};
  for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = toOrtTensor(t);
  const started = performance.now();
  const results = await (lost ? Promise.race([session.run(ortFeeds), lost]) : session.run(ortFeeds));
  const ms = performance.now() - started;
  const outputs: Record<string, WireTensor> = {};
  for (const [name, t] of Object.entries(results)) {
    outputs[name] = fromOrtTensor(t);
    t.dispose();
  }
  return { outputs, ms };
}

export const ORT_VERSION = ort.env.versions.web ?? 'unknown';
