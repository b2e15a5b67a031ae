/**
 * The kernel benchmark page: webq's GEMV/GEMM vs onnxruntime-web's MatMulNBits (WebGPU EP) on the same
 * GPUDevice and the same packed weights (quantized by webq's GPU kernel), and GPU vs TypeScript quantization
 * throughput. Driven by bench/kernels.mjs through `window.webqBench.run(config)`.
 */
import * as ort from 'onnxruntime-web/webgpu';
import { quantize as tsQuantize } from '../../extension/quant/quantize';
import { uniformFloats } from '../../extension/shared/random';
import {
  destroyQuantized,
  downloadQuantized,
  gemm,
  gemv,
  quantize,
  readFloats,
  uploadBytes,
} from '../../kernels/index';
import type { GemmOptions, GemvOptions, GpuQuantizedWeight } from '../../kernels/index';
import type { Bits } from '../../kernels/layout';
import { buildMatMulNBitsModel } from '../../kernels/testing/matmulnbits-model';
import { adapterName, openDevice } from '../../kernels/device';
import { EMULATED_TILES } from '../../extension/native/decoder';
import { timeIt, type TimingOptions } from './timing';

export interface BenchConfig {
  shapes: [number, number][];
  bits: Bits[];
  kernels: { kernel: 'gemv' | 'gemm'; M: number }[];
  blockSize: number;
  /** webq's GEMM options instead of the adapter's profile (bench/kernels.mjs --gemm). */
  gemmOptions?: GemmOptions;
  /** Whether to time quantization too (off when only some matmul rows are wanted). */
  quantize: boolean;
  timing: TimingOptions;
  /** The TypeScript quantizer is slow on big weights: fewer samples there. */
  cpuTiming: TimingOptions;
}

/**
 * webq's tile shapes per adapter, as its decode engine picks them (extension/native/decoder.ts EMULATED_TILES).
 * SwiftShader (a CPU emulating the GPU, subgroups of 4) favours few threads along K and many columns per workgroup
 * (measured with bench/kernels-tune.ts: 4x16 GEMV ~6x faster than 64x4), and a GEMM without workgroup memory
 * (gemm-unstaged.ts: 1.37–2.46× onnxruntime-web at 4 and 8 bits, where the staged [16,4] 4×4 ran 0.63–0.95×;
 * kernels/README.md); other adapters get the kernels' defaults.
 */
function profileFor(adapter: string): { gemv: GemvOptions; gemm: GemmOptions } {
  if (/swiftshader/i.test(adapter)) return { gemv: EMULATED_TILES.gemv!, gemm: EMULATED_TILES.gemm! };
  return { gemv: {}, gemm: {} };
}

export interface MatmulRow {
  kernel: 'gemv' | 'gemm';
  bits: Bits;
  M: number;
  K: number;
  N: number;
  webqMs: number;
  ortMs: number;
  ratio: number;
  adapter: string;
  maxAbsDiff: number;
}

export interface QuantRow {
  bits: Bits;
  K: number;
  N: number;
  blockSize: number;
  scaleSearch: boolean;
  adapter: string;
  gpuMs: number;
  gpuWithUploadMs: number;
  cpuMs: number;
  gpuParamsPerS: number;
  gpuWithUploadParamsPerS: number;
  cpuParamsPerS: number;
}

export interface BenchResult {
  adapter: string;
  features: string[];
  ortSharesDevice: boolean;
  rows: MatmulRow[];
  quant: QuantRow[];
}

const log = (msg: string): void => {
  console.log(msg);
  document.getElementById('log')!.textContent += `\n${msg}`;
};

/** The device ORT and webq's kernels share here (kernels/device.ts: the adapter's limits, the wanted features). */
async function openBenchDevice(): Promise<{ device: GPUDevice; adapter: string; features: string[] }> {
  const opened = await openDevice(navigator.gpu, ['subgroups', 'timestamp-query', 'shader-f16']);
  if (!opened) throw new Error('no WebGPU adapter');
  return { device: opened.device, adapter: adapterName(opened.info), features: opened.features };
}

async function benchQuantize(
  device: GPUDevice,
  b: Float32Array<ArrayBuffer>,
  K: number,
  N: number,
  bits: Bits,
  blockSize: number,
  adapter: string,
  c: BenchConfig,
): Promise<QuantRow> {
  const opts = { bits, scheme: 'asymmetric' as const, groupSize: blockSize }; // search: types.ts default (on at 2 bits)
  const input = { weights: uploadBytes(device, b), K, N };
  const pending: GpuQuantizedWeight[] = [];
  const drain = async (): Promise<void> => {
    await device.queue.onSubmittedWorkDone();
    pending.splice(0).forEach(destroyQuantized);
  };
  const gpuMs = await timeIt(
    () => {
      pending.push(quantize(device, input, opts));
    },
    drain,
    c.timing,
  );
  const gpuWithUploadMs = await timeIt(
    () => {
      device.queue.writeBuffer(input.weights, 0, b);
      pending.push(quantize(device, input, opts));
    },
    drain,
    c.timing,
  );
  const cpuMs = await timeIt(
    () => {
      tsQuantize(b, K, N, opts);
    },
    async () => {},
    c.cpuTiming,
  );
  input.weights.destroy();
  const params = K * N;
  return {
    bits,
    K,
    N,
    blockSize,
    scaleSearch: bits === 2,
    adapter,
    gpuMs,
    gpuWithUploadMs,
    cpuMs,
    gpuParamsPerS: params / (gpuMs / 1000),
    gpuWithUploadParamsPerS: params / (gpuWithUploadMs / 1000),
    cpuParamsPerS: params / (cpuMs / 1000),
  };
}

async function benchMatmul(
  device: GPUDevice,
  w: GpuQuantizedWeight,
  session: ort.InferenceSession,
  kernel: 'gemv' | 'gemm',
  M: number,
  adapter: string,
  c: BenchConfig,
): Promise<MatmulRow> {
  const { K, N, bits } = w;
  const aBuf = uploadBytes(device, uniformFloats(M * K, M + K, 1));
  const y = device.createBuffer({ size: M * N * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const profile = profileFor(adapter);
  if (c.gemmOptions) profile.gemm = c.gemmOptions;
  const drain = (): Promise<void> => device.queue.onSubmittedWorkDone();
  const webqMs = await timeIt(
    () => {
      const e = device.createCommandEncoder();
      if (kernel === 'gemv') gemv(device, { a: aBuf, M, w, y }, profile.gemv, e);
      else gemm(device, { a: aBuf, M, w, y }, profile.gemm, e);
      device.queue.submit([e.finish()]);
    },
    drain,
    c.timing,
  );
  const feeds = { A: ort.Tensor.fromGpuBuffer(aBuf, { dataType: 'float32', dims: [M, K] }) };
  const ortMs = await timeIt(
    async () => {
      const out = await session.run(feeds);
      out.Y!.dispose();
    },
    drain,
    c.timing,
  );
  // Same weights, same A: the two outputs must agree (this is what makes the timing comparison fair).
  const out = await session.run(feeds);
  const ortY = (await out.Y!.getData(true)) as Float32Array;
  const webqY = await readFloats(device, y, M * N);
  let maxAbsDiff = 0;
  for (let i = 0; i < M * N; i++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(ortY[i]! - webqY[i]!));
  aBuf.destroy();
  y.destroy();
  return { kernel, bits, M, K, N, webqMs, ortMs, ratio: ortMs / webqMs, adapter, maxAbsDiff };
}

/** Whether ORT's output buffer is usable on `device`, i.e. ORT really runs on the benchmark's device. */
async function sessionUsesDevice(device: GPUDevice, session: ort.InferenceSession, K: number): Promise<boolean> {
  const a = uploadBytes(device, new Float32Array(K));
  const out = await session.run({ A: ort.Tensor.fromGpuBuffer(a, { dataType: 'float32', dims: [1, K] }) });
  const y = out.Y!.gpuBuffer as GPUBuffer;
  device.pushErrorScope('validation');
  const copy = device.createBuffer({ size: y.size, usage: GPUBufferUsage.COPY_DST });
  const e = device.createCommandEncoder();
  e.copyBufferToBuffer(y, 0, copy, 0, y.size);
  device.queue.submit([e.finish()]);
  const error = await device.popErrorScope();
  out.Y!.dispose();
  copy.destroy();
  a.destroy();
  return error === null;
}

async function run(c: BenchConfig): Promise<BenchResult> {
  const { device, adapter, features } = await openBenchDevice();
  log(`adapter: ${adapter}; features: ${features.join(', ')}`);
  ort.env.wasm.wasmPaths = '/ort/';
  ort.env.wasm.numThreads = 1; // no cross-origin isolation needed, and SwiftShader wants the CPU cores
  const rows: MatmulRow[] = [];
  const quant: QuantRow[] = [];
  let ortSharesDevice = false;
  for (const [K, N] of c.shapes) {
    const b = uniformFloats(K * N, K * 31 + N, 0.05);
    for (const bits of c.bits) {
      if (c.quantize) {
        quant.push(await benchQuantize(device, b, K, N, bits, c.blockSize, adapter, c));
        log(`quantize ${bits}-bit ${K}x${N}: ${JSON.stringify(quant[quant.length - 1])}`);
      }
      const w = quantize(
        device,
        { weights: uploadBytes(device, b), K, N },
        { bits, scheme: 'asymmetric', groupSize: c.blockSize },
      );
      const model = buildMatMulNBitsModel(await downloadQuantized(device, w));
      // onnxruntime-web 1.30's native WebGPU EP takes the device as an EP option (not in its .d.ts yet);
      // env.webgpu.device only reports its default device, so sharing is checked by using ORT's output buffer.
      const ep = { name: 'webgpu', device } as unknown as ort.InferenceSession.WebGpuExecutionProviderOption;
      const session = await ort.InferenceSession.create(model, {
        executionProviders: [ep],
        preferredOutputLocation: 'gpu-buffer',
      });
      ortSharesDevice = await sessionUsesDevice(device, session, K);
      if (!ortSharesDevice)
        throw new Error('onnxruntime-web did not take the benchmark GPUDevice: results would not be side by side');
      for (const { kernel, M } of c.kernels) {
        rows.push(await benchMatmul(device, w, session, kernel, M, adapter, c));
        log(`${kernel} ${bits}-bit M=${M} ${K}x${N}: ${JSON.stringify(rows[rows.length - 1])}`);
      }
      await session.release();
      destroyQuantized(w);
    }
  }
  return { adapter, features, ortSharesDevice, rows, quant };
}

declare global {
  interface Window {
    webqBench: { run: (c: BenchConfig) => Promise<BenchResult>; ready: boolean };
  }
}
window.webqBench = { run, ready: true };
log('ready');
