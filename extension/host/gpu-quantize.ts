/**
 * Load-time quantization of a model's MatMul/Gemm weights with webq's WGSL kernels (kernels/quantize.ts), where
 * that is measured to be faster than the TypeScript quantizer (extension/quant), or where the page asked for the
 * kernels with the `workgroupSize` option. The weights come from `quantizationRequests` and go back to
 * `rewriteModel(…, { quantized })` (extension/onnx/rewrite.ts): the two quantizers follow one definition
 * (kernels/README.md), so either one's bytes are the same variant (see docs/quantization.md, "Where weights are
 * quantized").
 *
 * The choice, per adapter and per kind of weight (bits, scheme, scale search): both quantizers are timed on one
 * representative 768×768 weight — the GPU's time includes uploading the fp32 weight and reading the packed result
 * back, i.e. all it costs a load — and the GPU is used only when its rate is higher. The rates are kept in memory
 * and in the settings store (`gpuQuantizer`, by adapter), and every load says in its notes what was used and why.
 */
import { checkQuantizeWorkgroup, DEFAULT_QUANTIZE_WORKGROUP, quantize as quantizeOnGpu } from '../../kernels/quantize';
import { uploadBytes } from '../../kernels/weights';
import { openDevice, type AdapterFacts } from '../../kernels/device';
import { align4, packedShape } from '../../kernels/layout';
import type { QuantizationRequest } from '../onnx/rewrite';
import { quantize as quantizeOnCpu } from '../quant/quantize';
import type { QuantizedWeight, QuantizeOptions } from '../quant/types';
import { WebqError } from '../shared/errors';
import { mulberry32 } from '../shared/random';

export type Workgroup = [number, number, number];

/** A GPU to quantize on: its device and the key of its adapter (calibrate.ts `adapterKey`). */
export interface QuantizerGpu {
  device: GPUDevice;
  adapter: string;
}

/** Where the settings live (extension/storage/settings.ts readSetting/writeSetting; absent in tests: memory only). */
export interface SettingsStore {
  read(key: string): Promise<unknown>;
  write(key: string, value: unknown): Promise<void>;
}

export interface QuantizerEnv {
  /** The GPU to use, or why there is none. Called at most once per load, and only when a weight is to quantize. */
  gpu(): Promise<QuantizerGpu | { unavailable: string }>;
  /** The page's `workgroupSize` option: use the kernels with this workgroup, whatever was measured. */
  workgroupSize?: Workgroup;
  settings?: SettingsStore;
  signal?: AbortSignal;
  /** Progress of a model quantized from external data: its bytes read and quantized so far, of all (prepare.ts). */
  progress?(done: number, total: number): void;
}

/** Measured rates of one kind of weight on one adapter, in millions of parameters per second. */
export interface QuantizerRates {
  gpu: number;
  cpu: number;
  measuredAt: string;
}

export const SETTING = 'gpuQuantizer';
/** The representative weight of the measurement: BERT-base's hidden size. */
export const MEASURE_K = 768;
export const MEASURE_N = 768;
/** fp32 bytes of B per submission: weights are batched up to this (one weight always goes, however large). */
const BATCH_BYTES = 64 * 1024 * 1024;

const remembered = new Map<string, Promise<QuantizerRates>>();

const searchOf = (o: QuantizeOptions): boolean => o.scaleSearch ?? o.bits === 2;
/** The kind of weight a measurement stands for: what changes the kernels' work, not the shape. */
export const kindOf = (o: QuantizeOptions): string =>
  `${o.bits}-bit ${o.scheme}${searchOf(o) ? ' with scale search' : ''}`;

/** What the GPU quantized of a load's weights, for its report (one note, however many calls made it). */
export interface GpuTally {
  weights: number;
  params: number;
  ms: number;
}

export function gpuTallyNote(tally: GpuTally, of: number): string {
  return `quantizer: ${tally.weights} of ${of} weights (${fmt(tally.params / 1e6)} M parameters) quantized on the GPU in ${Math.round(tally.ms)} ms`;
}

/**
 * Quantizes the requests: on the GPU where chosen (per kind of weight, or all of them under `workgroupSize`),
 * else not at all (the rewrite then uses the TypeScript quantizer). Returns the GPU-quantized weights by request key
 * and the notes for the load's report. With `tally`, what the GPU did is added to it instead of noted, for a caller
 * that quantizes a load's weights a few at a time (prepare.ts, external data) and notes the sum once.
 */
export async function quantizeRequests(
  requests: readonly QuantizationRequest[],
  env: QuantizerEnv,
  tally?: GpuTally,
): Promise<{ quantized: Map<string, QuantizedWeight>; notes: string[] }> {
  const quantized = new Map<string, QuantizedWeight>();
  const notes: string[] = [];
  if (requests.length === 0) return { quantized, notes };
  const wg = env.workgroupSize;
  const gpu = await env.gpu();
  if ('unavailable' in gpu) {
    if (wg)
      throw new WebqError(
        'NotSupportedError',
        `option workgroupSize sets the workgroup of webq's GPU quantize kernels, and WebGPU is not available here: ${gpu.unavailable}`,
      );
    notes.push(`quantizer: CPU (${gpu.unavailable})`);
    return { quantized, notes };
  }
  const { device } = gpu;
  let onGpu: QuantizationRequest[];
  if (wg) {
    try {
      checkQuantizeWorkgroup(device, wg);
    } catch (err) {
      throw new WebqError('DataError', `option workgroupSize: ${(err as Error).message}`);
    }
    onGpu = [...requests];
    notes.push(
      `quantizer: GPU kernels with workgroupSize [${wg.join(', ')}] (the workgroupSize option; not measured against the CPU quantizer)`,
    );
  } else {
    onGpu = [];
    const byKind = new Map<string, QuantizationRequest[]>();
    for (const r of requests) byKind.set(kindOf(r.options), [...(byKind.get(kindOf(r.options)) ?? []), r]);
    for (const [kind, group] of byKind) {
      let rates: QuantizerRates;
      try {
        rates = await measuredRates(gpu, group[0]!.options, env);
      } catch (err) {
        if (err instanceof WebqError && err.name === 'AbortError') throw err;
        notes.push(
          `quantizer: CPU${byKind.size > 1 ? ` for ${kind} weights` : ''} (the GPU kernels failed when measured here: ${String((err as Error).message ?? err).slice(0, 200)})`,
        );
        continue;
      }
      const ratio = rates.gpu / rates.cpu;
      const figures = `${fmt(rates.gpu)} vs ${fmt(rates.cpu)} Mparam/s, ${kind}, ${MEASURE_K}×${MEASURE_N}`;
      const several = byKind.size > 1 ? ` for ${kind} weights` : '';
      if (ratio > 1) {
        onGpu.push(...group);
        notes.push(
          `quantizer: GPU kernels${several} (measured ${ratio.toPrecision(2)}× the CPU quantizer's rate on this adapter: ${figures})`,
        );
      } else {
        notes.push(
          `quantizer: CPU${several} (the GPU kernels measured ${ratio.toPrecision(2)}× its rate here: ${figures})`,
        );
      }
    }
  }
  if (onGpu.length === 0) return { quantized, notes };
  const started = performance.now();
  const { done, fallbacks } = await quantizeAll(device, onGpu, wg ?? DEFAULT_QUANTIZE_WORKGROUP, env.signal);
  for (const [key, q] of done) quantized.set(key, q);
  const params = onGpu.filter((r) => done.has(r.key)).reduce((n, r) => n + r.K * r.N, 0);
  const ms = performance.now() - started;
  if (tally)
    Object.assign(tally, { weights: tally.weights + done.size, params: tally.params + params, ms: tally.ms + ms });
  else notes.push(gpuTallyNote({ weights: done.size, params, ms }, requests.length));
  notes.push(...fallbacks);
  return { quantized, notes };
}

/**
 * Quantizes `requests` on the device in batches of up to BATCH_BYTES of fp32 weights: one command encoder and one
 * submit per batch, one staging buffer read back per batch. A weight the device cannot hold in one storage binding
 * is left to the CPU quantizer, with a note; once a batch fails on the GPU, it and every later weight are, with one.
 */
export async function quantizeAll(
  device: GPUDevice,
  requests: readonly QuantizationRequest[],
  wg: readonly [number, number, number],
  signal?: AbortSignal,
): Promise<{ done: Map<string, QuantizedWeight>; fallbacks: string[]; failure?: string }> {
  const done = new Map<string, QuantizedWeight>();
  const fallbacks: string[] = [];
  const limit = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  let batch: QuantizationRequest[] = [];
  let bytes = 0;
  let failed = null as { message: string; weights: number } | null; // set inside flush(): no narrowing to null
  const flush = async () => {
    if (batch.length === 0) return;
    if (signal?.aborted) throw new WebqError('AbortError', 'the load was aborted');
    if (failed) {
      failed.weights += batch.length;
    } else {
      try {
        const out = await quantizeBatch(device, batch, wg);
        batch.forEach((r, i) => done.set(r.key, out[i]!));
      } catch (err) {
        if (err instanceof WebqError) throw err;
        failed = { message: String((err as Error).message ?? err).slice(0, 200), weights: batch.length };
      }
    }
    batch = [];
    bytes = 0;
  };
  for (const r of requests) {
    const size = r.K * r.N * 4;
    if (size > limit) {
      fallbacks.push(
        `${r.name} (${r.op}): quantized on the CPU, B[${r.K}, ${r.N}] is ${mb(size)} of fp32, more than this GPU's largest storage binding (${mb(limit)})`,
      );
      continue;
    }
    if (bytes + size > BATCH_BYTES) await flush();
    batch.push(r);
    bytes += size;
  }
  await flush();
  if (!failed) return { done, fallbacks };
  fallbacks.push(
    `quantizer: the GPU kernels failed (${failed.message}); ${failed.weights} weights were quantized on the CPU instead`,
  );
  return { done, fallbacks, failure: failed.message };
}

/** One submit: upload every weight of the batch, quantize each, copy all outputs into one staging buffer, read it. */
async function quantizeBatch(
  device: GPUDevice,
  batch: readonly QuantizationRequest[],
  wg: readonly [number, number, number],
): Promise<QuantizedWeight[]> {
  const scratch: GPUBuffer[] = [];
  let staging: GPUBuffer | undefined;
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  let open = 2;
  const pop = () => {
    open--;
    return device.popErrorScope();
  };
  try {
    const encoder = device.createCommandEncoder({ label: 'webq.quantize' });
    const made = batch.map((r) => {
      const input = uploadBytes(device, r.values(), 'webq.q.weights');
      scratch.push(input);
      const w = quantizeOnGpu(
        device,
        { weights: input, K: r.K, N: r.N },
        { ...r.options, workgroupSize: wg, scratch },
        encoder,
      );
      scratch.push(w.data, w.scales, ...(w.zeroPoints ? [w.zeroPoints] : []));
      return w;
    });
    // Offsets of each output in the staging buffer (every piece a multiple of 4 bytes long).
    let size = 0;
    const layout = made.map((w) => {
      const s = packedShape(w.bits, w.K, w.N, w.blockSize);
      const at = { s, data: size, scales: size + s.dataBytes, zp: size + s.dataBytes + w.N * s.kBlocks * 4 };
      size = at.zp + (w.zeroPoints ? align4(s.zpBytes) : 0);
      return at;
    });
    staging = device.createBuffer({
      label: 'webq.q.readback',
      size: Math.max(4, size),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    made.forEach((w, i) => {
      const { s, data, scales, zp } = layout[i]!;
      encoder.copyBufferToBuffer(w.data, 0, staging!, data, s.dataBytes);
      encoder.copyBufferToBuffer(w.scales, 0, staging!, scales, w.N * s.kBlocks * 4);
      if (w.zeroPoints) encoder.copyBufferToBuffer(w.zeroPoints, 0, staging!, zp, align4(s.zpBytes));
    });
    device.queue.submit([encoder.finish()]);
    const validation = await pop();
    const memory = await pop();
    if (validation || memory) throw new Error((validation ?? memory)!.message);
    await staging.mapAsync(GPUMapMode.READ);
    const mapped = staging.getMappedRange();
    const out = made.map((w, i): QuantizedWeight => {
      const { s, data, scales, zp } = layout[i]!;
      return {
        bits: w.bits,
        scheme: w.scheme,
        K: w.K,
        N: w.N,
        blockSize: w.blockSize,
        groupSize: w.groupSize,
        kBlocks: s.kBlocks,
        data: new Uint8Array(mapped.slice(data, data + s.dataBytes)),
        scales: new Float32Array(mapped.slice(scales, scales + w.N * s.kBlocks * 4)),
        zeroPoints: w.zeroPoints ? new Uint8Array(mapped.slice(zp, zp + s.zpBytes)) : undefined,
      };
    });
    staging.unmap();
    return out;
  } finally {
    // Scopes left open by a throw before they were popped (never the caller's own).
    while (open > 0) await pop().catch(() => undefined);
    staging?.destroy();
    for (const b of scratch) b.destroy();
  }
}

/** The rates of one kind of weight on this adapter: remembered, stored, or measured now (and stored). */
async function measuredRates(gpu: QuantizerGpu, options: QuantizeOptions, env: QuantizerEnv): Promise<QuantizerRates> {
  const kind = kindOf(options);
  const key = `${gpu.adapter}|${kind}`;
  let rates = remembered.get(key);
  if (!rates) {
    rates = (async () => {
      const stored = await env.settings?.read(SETTING).catch(() => undefined);
      const all =
        typeof stored === 'object' && stored !== null ? (stored as Record<string, Record<string, QuantizerRates>>) : {};
      const hit = all[gpu.adapter]?.[kind];
      if (hit && hit.gpu > 0 && hit.cpu > 0) return hit;
      const measured = await measureQuantizers(gpu.device, options);
      const latest = await env.settings?.read(SETTING).catch(() => undefined);
      const base =
        typeof latest === 'object' && latest !== null ? (latest as Record<string, Record<string, QuantizerRates>>) : {};
      await env.settings
        ?.write(SETTING, { ...base, [gpu.adapter]: { ...base[gpu.adapter], [kind]: measured } })
        .catch(() => undefined);
      return measured;
    })();
    remembered.set(key, rates);
    rates.catch(() => remembered.delete(key));
  }
  return rates;
}

/**
 * Times both quantizers on one MEASURE_K×MEASURE_N weight with these options: each warmed up once (the GPU's
 * pipelines compile, the CPU code is compiled by the JIT), then the best of three runs each, alternating (other
 * work on the machine only ever adds time, to either side). The
 * GPU's run is the load's own path (quantizeAll: upload, kernels, readback into a QuantizedWeight).
 */
export async function measureQuantizers(
  device: GPUDevice,
  options: QuantizeOptions,
  wg: readonly [number, number, number] = DEFAULT_QUANTIZE_WORKGROUP,
): Promise<QuantizerRates> {
  const random = mulberry32(20260);
  // Roughly normal weights (sum of three uniforms), the shape real weight distributions have.
  const values = Float32Array.from(
    { length: MEASURE_K * MEASURE_N },
    () => (random() + random() + random() - 1.5) * 0.05,
  );
  const request: QuantizationRequest = {
    key: 'measure',
    name: 'measure',
    op: 'MatMul',
    K: MEASURE_K,
    N: MEASURE_N,
    options,
    values: () => values,
  };
  const gpuOnce = async () => {
    const started = performance.now();
    const { done, failure } = await quantizeAll(device, [request], wg);
    if (!done.has('measure')) throw new Error(failure ?? 'the GPU quantizer left the measurement weight to the CPU');
    return performance.now() - started;
  };
  const cpuOnce = () => {
    const started = performance.now();
    quantizeOnCpu(values, MEASURE_K, MEASURE_N, options);
    return performance.now() - started;
  };
  await gpuOnce();
  cpuOnce();
  const gpuMs: number[] = [];
  const cpuMs: number[] = [];
  for (let i = 0; i < 3; i++) {
    gpuMs.push(await gpuOnce());
    cpuMs.push(cpuOnce());
  }
  const rate = (ms: number[]) => (MEASURE_K * MEASURE_N) / 1e3 / Math.max(Math.min(...ms), 1e-3);
  return { gpu: rate(gpuMs), cpu: rate(cpuMs), measuredAt: new Date().toISOString() };
}

/**
 * A device of this context's own for quantizing (a worker's: the host's device lives on another thread), opened
 * like the host's (kernels/device.ts: the adapter's limits, so large weights fit in one binding and `workgroupSize`
 * is checked against what the adapter can do).
 */
export async function openQuantizerGpu(
  adapterKey: (info: AdapterFacts) => string,
): Promise<QuantizerGpu | { unavailable: string }> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) return { unavailable: 'navigator.gpu is absent in this context' };
  try {
    const opened = await openDevice(gpu);
    if (!opened) return { unavailable: 'no WebGPU adapter in this context' };
    return { device: opened.device, adapter: adapterKey(opened.info) };
  } catch (err) {
    return { unavailable: `WebGPU device request failed: ${(err as Error).message}` };
  }
}

const fmt = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const mb = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
