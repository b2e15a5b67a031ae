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
import { WebqError } from '../shared/errors';
import type { TensorType, Tensor, TensorData } from '../shared/tensor';
import { isDeviceTensor, type DeviceTensor } from '../tasks/types';
import { wasmThreads } from './threads';
import { STOP_SPINNING_AFTER_RUNS } from './spinning';

export { wasmThreads };

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
  /** External data files by the names the graph gives them (model.onnx_data beside model.onnx). */
  externalData?: { path: string; data: Uint8Array }[];
  /**
   * WebGPU: outputs ORT leaves in GPU memory (`preferredOutputLocation: 'gpu-buffer'`): a decoder's present.* (its KV
   * cache), fed back as the next step's past without a round trip through the CPU. Other outputs come back to the
   * CPU as before; a kept output a caller did not ask to keep is downloaded (see run()).
   */
  gpuOutputs?: readonly string[];
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
    extra: STOP_SPINNING_AFTER_RUNS,
    freeDimensionOverrides: target.freeDimensionOverrides,
    ...(target.externalData?.length ? { externalData: target.externalData } : {}),
    ...(target.backend === 'webgpu' && target.gpuOutputs?.length
      ? { preferredOutputLocation: Object.fromEntries(target.gpuOutputs.map((n) => [n, 'gpu-buffer' as const])) }
      : {}),
    ...(diagnostics.logSeverityLevel !== undefined ? { logSeverityLevel: diagnostics.logSeverityLevel } : {}),
    ...(diagnostics.logVerbosityLevel !== undefined ? { logVerbosityLevel: diagnostics.logVerbosityLevel } : {}),
  };
  const create = () => ort.InferenceSession.create(model, options);
  const created = chain.then(() => (target.lost ? Promise.race([create(), target.lost]) : create()));
  chain = created.catch(() => undefined);
  return created.then((s) => {
    if (target.backend === 'webgpu' && target.device) sessionDevices.set(s, target.device);
    return s;
  });
}

/** The GPUDevice each WebGPU session runs on (GpuTensor.clone copies with it). */
const sessionDevices = new WeakMap<Session, GPUDevice>();

/** GpuTensors made and not yet disposed, in this realm: tests check that a decode loop holds a bounded number. */
let liveGpuTensors = 0;
export function liveDeviceTensors(): number {
  return liveGpuTensors;
}
/**
 * Bytes of GPU-resident outputs read back to the CPU because the caller did not keep them, in this realm: tests check
 * that a greedy decode step with the next-token head reads back no logits.
 */
let gpuBytesRead = 0;
export function gpuOutputBytesRead(): number {
  return gpuBytesRead;
}

/**
 * An ORT tensor in GPU memory, as the pipelines see it (DeviceTensor): its type and dims, copy, dispose. Only the
 * session that made it (or a copy of it) takes it back as a feed (`acceptsFeed`).
 */
class GpuTensor implements DeviceTensor {
  readonly location = 'gpu-buffer';
  private disposed = false;

  constructor(
    readonly tensor: ort.Tensor,
    readonly session: Session,
  ) {
    liveGpuTensors++;
  }

  get type(): 'float32' | 'float16' {
    return this.tensor.type as 'float32' | 'float16';
  }

  get dims(): number[] {
    return [...this.tensor.dims];
  }

  get alive(): boolean {
    return !this.disposed;
  }

  /** A copy in a new GPU buffer (queued on the device after ORT's own work, so it reads the finished values). */
  clone(): DeviceTensor {
    if (this.disposed) throw new WebqError('OperationError', 'the KV cache tensor was already released');
    const device = sessionDevices.get(this.session);
    if (!device) throw new WebqError('OperationError', 'the KV cache tensor has no WebGPU device to copy on');
    const source = this.tensor.gpuBuffer;
    const buffer = device.createBuffer({
      size: source.size,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    const encoder = device.createCommandEncoder();
    encoder.copyBufferToBuffer(source, 0, buffer, 0, source.size);
    device.queue.submit([encoder.finish()]);
    const copy = ort.Tensor.fromGpuBuffer(buffer, {
      dataType: this.type,
      dims: this.tensor.dims,
      dispose: () => buffer.destroy(),
    });
    return new GpuTensor(copy, this.session);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    liveGpuTensors--;
    try {
      this.tensor.dispose();
    } catch {
      // A lost device or released session frees its memory with it; nothing is left to free here.
    }
  }
}

/** Whether `tensor` can be fed to `session`: a live GpuTensor that session made (a lost device means a new session). */
export function acceptsFeed(session: Session, tensor: DeviceTensor): boolean {
  return tensor instanceof GpuTensor && tensor.session === session && tensor.alive;
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

export function toOrtTensor(t: Tensor): ort.Tensor {
  return new ort.Tensor(ORT_TYPE[t.type], t.data as never, t.dims);
}

export function fromOrtTensor(t: ort.Tensor): Tensor {
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

/**
 * One run. Feeds may be GpuTensors of this session (a KV cache kept on the GPU). Outputs ORT left on the GPU
 * (SessionTarget.gpuOutputs) stay there as DeviceTensors when named in `keep`, and are downloaded otherwise; the
 * rest arrive as CPU data, as ORT copied them out of its heap (no further copy here).
 */
export async function run(
  session: Session,
  feeds: Record<string, Tensor | DeviceTensor>,
  lost?: Promise<never>,
  keep: readonly string[] = [],
  fetches?: readonly string[],
): Promise<{ outputs: Record<string, Tensor | DeviceTensor>; ms: number }> {
  const ortFeeds: Record<string, ort.Tensor> = {};
  for (const [name, t] of Object.entries(feeds)) {
    if (isDeviceTensor(t)) {
      if (!acceptsFeed(session, t))
        throw new WebqError('OperationError', `input ${name} is a GPU tensor this session did not make`);
      ortFeeds[name] = (t as GpuTensor).tensor;
    } else ortFeeds[name] = toOrtTensor(t);
  }
  const started = performance.now();
  // Outputs left out of `fetches` are computed but never copied out of the runtime (wasm: a decoder's logits row).
  const running = fetches ? session.run(ortFeeds, [...fetches]) : session.run(ortFeeds);
  const results = await (lost ? Promise.race([running, lost]) : running);
  const ms = performance.now() - started;
  const outputs: Record<string, Tensor | DeviceTensor> = {};
  const entries = Object.entries(results);
  try {
    for (const [name, t] of entries) {
      if (t.location === 'gpu-buffer') {
        outputs[name] = keep.includes(name)
          ? new GpuTensor(t, session)
          : fromOrtTensor(new ort.Tensor(t.type, (await downloaded(t)) as never, t.dims));
      } else {
        outputs[name] = fromOrtTensor(t);
        t.dispose();
      }
    }
  } catch (err) {
    // Nothing kept on the GPU outlives a failed run.
    for (const [name, t] of entries) {
      const out = outputs[name];
      if (out && isDeviceTensor(out)) out.dispose();
      else if (!out) t.dispose();
    }
    throw err;
  }
  return { outputs, ms };
}

/** A GPU-resident output's data on the CPU (its GPU buffer released), counted in `gpuOutputBytesRead`. */
async function downloaded(t: ort.Tensor): Promise<unknown> {
  const data = (await t.getData(true)) as { byteLength: number };
  gpuBytesRead += data.byteLength;
  return data;
}

export const ORT_VERSION = ort.env.versions.web ?? 'unknown';
