/**
 * Kernel benchmark in Node (no browser): webq's GEMV/GEMM on Dawn (npm `webgpu`) vs onnxruntime-node's
 * MatMulNBits on its WebGPU EP (its own Dawn, same GPU) and on its CPU EP, same packed weights (asymmetric,
 * block 32, quantized by webq's GPU kernel), plus GPU vs TypeScript quantization throughput. It is the Node twin
 * of bench/kernels.mjs (which runs onnxruntime-web in Chromium) for machines with a GPU but no browser; see
 * docs/benchmarks.md "Kernels on a real GPU" and bench/device/pack.sh for running it on a device machine.
 *
 *   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json npx tsx bench/kernels-node.ts --quick --out /tmp/k
 *   npx tsx bench/kernels-node.ts                      full shapes 768x768 … 4096x11008, M = 1, 16, 64
 * Options: --quick (small shapes, few tile variants), --out DIR (default bench/results), --name BASE (file names,
 * default kernels-node), --require-adapter REGEX (abort unless the Dawn adapter matches), --gpu-name NAME and
 * --peak-gbps X (the card's peak memory bandwidth, else from the name), --deadline-s S (skip what is left after S
 * seconds and write what was measured), --no-tune (kernels' default tile shapes only), --no-cpu (no ORT CPU EP).
 *
 * Timing (per row, both runtimes on the GPU timeline):
 *  - webqMs / ortMs: GPU time of the kernel(s) of one call from timestamp queries: webq's compute passes get
 *    timestampWrites; ORT's WebGPU EP profiler (session option enableProfiling) reports its programs' GPU
 *    durations (µs). Each call starts with a cold L2: before it, a 256 MiB clearBuffer on webq's device is submitted
 *    and waited for, as a decoding step finds a layer's weights in HBM, not in cache. Medians of ≥ 5 samples
 *    (a sample = mean of a few calls) after warm-up.
 *  - *WarmMs: the same with calls back to back (weights of small shapes then come from L2).
 *  - *WallMs: wall clock per call incl. CPU cost: webq records + submits each call, drained with
 *    onSubmittedWorkDone; ORT session.run with A and Y on the CPU (upload + readback included).
 *  - ortCpuMs: onnxruntime-node CPU EP session.run.
 * GEMV rows give the achieved memory bandwidth (packed data + scales + zero points + A + Y bytes / GPU time).
 * Exits non-zero when the outputs of webq and ORT disagree, after writing every result.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { create, globals } from 'webgpu';
import { quantize as tsQuantize } from '../extension/quant/quantize';
import { uniformFloats } from '../extension/shared/random';
import {
  destroyQuantized,
  downloadQuantized,
  gemm,
  gemv,
  quantize,
  readFloats,
  uploadBytes,
  type GemmOptions,
  type GemvOptions,
  type GpuQuantizedWeight,
} from '../kernels/index';
import { packedShape, type Bits } from '../kernels/layout';
import { adapterName, openDevice } from '../kernels/device';
import { median, timeIt, type TimingOptions } from './kernels/timing';

type ModelModule = typeof import('../kernels/testing/matmulnbits-model');

/**
 * The MatMulNBits model builder. It imports the CommonJS package onnx-proto by name, which Node's ESM loader
 * (under tsx) cannot link; a bundle (bench/device/pack.sh) inlines it and takes the first branch.
 */
async function loadModelBuilder(): Promise<ModelModule['buildMatMulNBitsModel']> {
  try {
    return (await import('../kernels/testing/matmulnbits-model')).buildMatMulNBitsModel;
  } catch {
    return (createRequire(import.meta.url)('../kernels/testing/matmulnbits-model.ts') as ModelModule)
      .buildMatMulNBitsModel;
  }
}

// ---------------------------------------------------------------------------------------------- options

const argv = process.argv.slice(2);
const flag = (name: string): boolean => argv.includes(`--${name}`);
const option = (name: string): string | undefined => {
  const i = argv.lastIndexOf(`--${name}`); // the last one wins: run.sh passes its defaults first
  return i >= 0 ? argv[i + 1] : undefined;
};
const quick = flag('quick');
const outDir = option('out') ?? fileURLToPath(new URL('./results', import.meta.url));
const baseName = option('name') ?? 'kernels-node';
const requireAdapter = option('require-adapter');
const deadlineS = Number(option('deadline-s') ?? Infinity);
const tune = !flag('no-tune');
const cpuEp = !flag('no-cpu');

type Kernel = 'gemv' | 'gemm';
const config = {
  shapes: quick
    ? ([
        [256, 512],
        [768, 768],
      ] as [number, number][])
    : // Largest first, so that a run cut short by --deadline-s still has them; the tables are sorted by size.
      ([
        [4096, 11008],
        [4096, 4096],
        [2048, 2048],
        [3072, 768],
        [768, 3072],
        [768, 768],
      ] as [number, number][]),
  bits: [2, 4, 8] as Bits[],
  kernels: (quick
    ? [
        { kernel: 'gemv', M: 1 },
        { kernel: 'gemm', M: 16 },
      ]
    : [
        { kernel: 'gemv', M: 1 },
        { kernel: 'gemm', M: 16 },
        { kernel: 'gemm', M: 64 },
      ]) as { kernel: Kernel; M: number }[],
  blockSize: 32,
  /** GPU-timestamp samples: `samples` medians of the mean of `perSample` calls, after `warmup` calls. */
  gpu: { warmup: 3, samples: quick ? 5 : 7, perSample: quick ? 2 : 5 },
  /** Tile search: fewer samples per variant; the winner is measured again with `gpu`. */
  tuneGpu: { warmup: 2, samples: 3, perSample: quick ? 1 : 3 },
  wall: { warmup: 3, samples: 5, sampleMs: 40, maxIterations: 200 } as TimingOptions,
  /** The TypeScript quantizer: only up to this many parameters (its throughput hardly depends on the shape). */
  cpuQuantMaxParams: quick ? 1 << 20 : 2048 * 2048,
  cpuQuantTiming: { warmup: 1, samples: 3, sampleMs: 0, maxIterations: 1 } as TimingOptions,
  flushBytes: 256 << 20,
};

/** Tile variants tried per row; the first is the kernels' default. */
const gemvVariants: GemvOptions[] = quick
  ? [
      {},
      { workgroupSize: [4, 16, 1], colsPerThread: 1 },
      { workgroupSize: [4, 16, 1] },
      { workgroupSize: [32, 4, 1] },
      { workgroupSize: [16, 4, 1], colsPerThread: 4 },
    ]
  : [
      {},
      { workgroupSize: [32, 4, 1], colsPerThread: 1 },
      { workgroupSize: [32, 4, 1] },
      { workgroupSize: [32, 4, 1], colsPerThread: 4 },
      { workgroupSize: [32, 8, 1] },
      { workgroupSize: [32, 2, 1], colsPerThread: 4 },
      { workgroupSize: [32, 1, 1], colsPerThread: 8 },
      { workgroupSize: [64, 2, 1] },
      { workgroupSize: [64, 4, 1], colsPerThread: 4 },
      { workgroupSize: [64, 1, 1], colsPerThread: 4 },
      { workgroupSize: [128, 1, 1] },
      { workgroupSize: [128, 2, 1] },
      { workgroupSize: [256, 1, 1], colsPerThread: 1 },
      { workgroupSize: [256, 1, 1], colsPerThread: 4 },
      { workgroupSize: [64, 4, 1], stageA: false },
      { workgroupSize: [32, 4, 1], colsPerThread: 4, stageA: false },
      { workgroupSize: [16, 8, 1] },
      { workgroupSize: [8, 16, 1] },
      { workgroupSize: [16, 4, 1], colsPerThread: 4 },
      { workgroupSize: [8, 8, 1], colsPerThread: 4 },
    ];
const gemmVariants: GemmOptions[] = quick
  ? [
      {},
      { workgroupSize: [16, 4, 1], rowsPerThread: 4, colsPerThread: 4 },
      { workgroupSize: [32, 8, 1], rowsPerThread: 2, colsPerThread: 2 },
      { workgroupSize: [8, 8, 1], rowsPerThread: 2, colsPerThread: 2 },
    ]
  : [
      {},
      { workgroupSize: [16, 8, 1], rowsPerThread: 4, colsPerThread: 4, splitK: 1 },
      { workgroupSize: [32, 8, 1], rowsPerThread: 2, colsPerThread: 2 },
      { workgroupSize: [32, 8, 1], rowsPerThread: 2, colsPerThread: 2, splitK: 1 },
      { workgroupSize: [32, 8, 1], rowsPerThread: 2, colsPerThread: 2, kTile: 64 },
      { workgroupSize: [16, 8, 1], rowsPerThread: 4, colsPerThread: 4, kTile: 64 },
      { workgroupSize: [16, 4, 1], rowsPerThread: 4, colsPerThread: 4 },
      { workgroupSize: [16, 4, 1], rowsPerThread: 4, colsPerThread: 4, kTile: 64 },
      { workgroupSize: [32, 4, 1], rowsPerThread: 4, colsPerThread: 4 },
      { workgroupSize: [32, 4, 1], rowsPerThread: 4, colsPerThread: 4, kTile: 64 },
      { workgroupSize: [16, 8, 1], rowsPerThread: 2, colsPerThread: 4 },
      { workgroupSize: [16, 16, 1], rowsPerThread: 1, colsPerThread: 4 },
      { workgroupSize: [16, 16, 1], rowsPerThread: 4, colsPerThread: 4 },
      { workgroupSize: [32, 8, 1], rowsPerThread: 2, colsPerThread: 4 },
      { workgroupSize: [32, 8, 1], rowsPerThread: 2, colsPerThread: 2, splitK: 16 },
    ];
const describeOptions = (o: GemvOptions | GemmOptions): string => {
  if (Object.keys(o).length === 0) return 'default';
  const wg = (o.workgroupSize ?? ['?', '?']).slice(0, 2).join('x');
  if ('rowsPerThread' in o || 'kTile' in o || 'splitK' in o) {
    const g = o as GemmOptions;
    return `${wg} ${g.rowsPerThread ?? 4}x${g.colsPerThread ?? 4}${g.kTile ? ` k${g.kTile}` : ''}${g.splitK ? ` s${g.splitK}` : ''}`;
  }
  const v = o as GemvOptions;
  return `${wg}${v.colsPerThread ? ` c${v.colsPerThread}` : ''}${v.stageA === false ? ' global-A' : ''}`;
};

// ---------------------------------------------------------------------------------------------- helpers

const started = Date.now();
const elapsedS = (): number => (Date.now() - started) / 1000;
const log = (msg: string): void => console.log(`[${elapsedS().toFixed(1)} s] ${msg}`);
const mean = (xs: readonly number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;

/** Peak memory bandwidth (GB/s) of the cards this is meant for, by name. */
function peakFor(name: string): { gbps: number; source: string } | undefined {
  const n = name.toUpperCase();
  if (n.includes('H200')) return { gbps: 4800, source: 'H200: 4.8 TB/s' };
  if (n.includes('H100') && n.includes('PCIE')) return { gbps: 2000, source: 'H100 PCIe: 2.0 TB/s' };
  if (n.includes('H100') && n.includes('NVL')) return { gbps: 3900, source: 'H100 NVL: 3.9 TB/s' };
  if (n.includes('H100')) return { gbps: 3350, source: 'H100 SXM (HBM3): 3.35 TB/s' };
  return undefined;
}

interface Gpu {
  device: GPUDevice;
  adapter: string;
  features: string[];
  timestamps: boolean;
  flush: GPUBuffer;
}

// Keep the GPU instance referenced for the whole run: if it is garbage-collected Dawn for Node aborts.
let gpuInstance: GPU | undefined;

async function openGpu(): Promise<Gpu> {
  Object.assign(globalThis, globals);
  // Dawn quantizes timestamps (to defeat timing attacks in browsers) unless told not to.
  gpuInstance = create(['disable-dawn-features=timestamp_quantization']);
  const opened = await openDevice(gpuInstance, ['subgroups', 'timestamp-query']);
  if (!opened)
    throw new Error('no WebGPU adapter (Vulkan loader and driver found? VK_ICD_FILENAMES / VK_DRIVER_FILES)');
  const { device, adapter, features: requiredFeatures } = opened;
  const name = adapterName(opened.info);
  const l = adapter.limits;
  device.addEventListener('uncapturederror', (e) => {
    console.error(`WebGPU error: ${(e as GPUUncapturedErrorEvent).error.message}`);
    process.exitCode = 1;
  });
  const flush = device.createBuffer({
    size: Math.min(config.flushBytes, l.maxBufferSize),
    usage: GPUBufferUsage.COPY_DST,
  });
  return {
    device,
    adapter: name,
    features: requiredFeatures,
    timestamps: requiredFeatures.includes('timestamp-query'),
    flush,
  };
}

/** Evict the GPU's L2 (writes a buffer several times its size) and wait until done. */
async function flushCache(g: Gpu): Promise<void> {
  const e = g.device.createCommandEncoder();
  e.clearBuffer(g.flush);
  g.device.queue.submit([e.finish()]);
  await g.device.queue.onSubmittedWorkDone();
}

/**
 * Records `record(encoder)` with timestampWrites added to every compute pass it begins (the kernels open their
 * passes themselves; the encoder's beginComputePass is wrapped for the duration of the recording).
 */
function recordTimed(
  encoder: GPUCommandEncoder,
  querySet: GPUQuerySet,
  next: { index: number },
  record: (e: GPUCommandEncoder) => void,
): number[] {
  const begin = encoder.beginComputePass.bind(encoder);
  const pairs: number[] = [];
  (encoder as { beginComputePass: GPUCommandEncoder['beginComputePass'] }).beginComputePass = (
    d?: GPUComputePassDescriptor,
  ) => {
    const at = next.index;
    next.index += 2;
    pairs.push(at);
    return begin({ ...d, timestampWrites: { querySet, beginningOfPassWriteIndex: at, endOfPassWriteIndex: at + 1 } });
  };
  record(encoder);
  return pairs;
}

async function resolveTimestamps(device: GPUDevice, querySet: GPUQuerySet, count: number): Promise<BigInt64Array> {
  const bytes = count * 8;
  const resolve = device.createBuffer({ size: bytes, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const read = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const e = device.createCommandEncoder();
  e.resolveQuerySet(querySet, 0, count, resolve, 0);
  e.copyBufferToBuffer(resolve, 0, read, 0, bytes);
  device.queue.submit([e.finish()]);
  await read.mapAsync(GPUMapMode.READ);
  const out = new BigInt64Array(read.getMappedRange().slice(0));
  read.unmap();
  read.destroy();
  resolve.destroy();
  return out;
}

interface GpuTiming {
  warmup: number;
  samples: number;
  perSample: number;
}

/**
 * GPU milliseconds of one call of `record` (sum of its compute passes), from timestamp queries: median over
 * samples of the mean over `perSample` calls; `cold` flushes the L2 before every call.
 */
async function gpuTime(g: Gpu, record: (e: GPUCommandEncoder) => void, t: GpuTiming, cold: boolean): Promise<number> {
  const { device } = g;
  for (let i = 0; i < t.warmup; i++) {
    const e = device.createCommandEncoder();
    record(e);
    device.queue.submit([e.finish()]);
  }
  await device.queue.onSubmittedWorkDone();
  const perSample: number[] = [];
  for (let s = 0; s < t.samples; s++) {
    const calls: number[][] = [];
    const next = { index: 0 };
    // Passes per call are discovered on the first call (5–7 for quantize, 1 for the matmuls); 64 is ample.
    const querySet = device.createQuerySet({ type: 'timestamp', count: Math.min(4096, 64 * t.perSample) });
    let encoder: GPUCommandEncoder | undefined;
    for (let c = 0; c < t.perSample; c++) {
      if (cold) await flushCache(g);
      encoder ??= device.createCommandEncoder();
      calls.push(recordTimed(encoder, querySet, next, record));
      if (cold) {
        device.queue.submit([encoder.finish()]);
        encoder = undefined;
      }
    }
    if (encoder) device.queue.submit([encoder.finish()]);
    const ts = await resolveTimestamps(device, querySet, next.index);
    querySet.destroy();
    const callMs = calls.map((pairs) => pairs.reduce((sum, at) => sum + Number(ts[at + 1]! - ts[at]!), 0) / 1e6);
    perSample.push(mean(callMs));
  }
  return median(perSample);
}

/** Wall-clock ms per call: each call recorded and submitted on its own, drained with onSubmittedWorkDone. */
function wallTime(g: Gpu, record: (e: GPUCommandEncoder) => void): Promise<number> {
  return timeIt(
    () => {
      const e = g.device.createCommandEncoder();
      record(e);
      g.device.queue.submit([e.finish()]);
    },
    () => g.device.queue.onSubmittedWorkDone(),
    config.wall,
  );
}

// ---------------------------------------------------------------------------------------------- ORT

const profileDir = mkdtempSync(join(tmpdir(), 'webq-ort-profile-'));
let profileCount = 0;

/** Program events of ORT's WebGPU profiler: GPU durations (µs) of the programs of node `mm`. */
function readProfile(prefix: string): { name: string; ts: number; dur: number }[] {
  const file = readdirSync(profileDir).find((f) => f.startsWith(`${prefix}_`) && f.endsWith('.json'));
  if (!file) throw new Error(`ORT wrote no profile for ${prefix}`);
  const events = JSON.parse(readFileSync(join(profileDir, file), 'utf8')) as {
    cat: string;
    name: string;
    ts: number;
    dur: number;
  }[];
  rmSync(join(profileDir, file));
  return events.filter((e) => e.cat === 'Api' && e.name.startsWith('mm&')).sort((a, b) => a.ts - b.ts);
}

/**
 * ORT WebGPU GPU time per run (ms) from its profiler: cold runs (L2 flushed by webq's device before each) then warm
 * runs, each as samples of means over perSample runs. Also returns the program names seen.
 */
async function ortGpuTime(
  g: Gpu,
  model: Uint8Array,
  feeds: Record<string, ort.Tensor>,
  t: GpuTiming,
): Promise<{ coldMs: number; warmMs: number; programs: string[] } | undefined> {
  const prefix = `p${profileCount++}`;
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['webgpu'],
    enableProfiling: true,
    profileFilePrefix: join(profileDir, prefix),
  });
  const runs = { warmup: t.warmup, cold: t.samples * t.perSample, warm: t.samples * t.perSample };
  for (let i = 0; i < runs.warmup; i++) await session.run(feeds);
  for (let i = 0; i < runs.cold; i++) {
    await flushCache(g);
    await session.run(feeds);
  }
  for (let i = 0; i < runs.warm; i++) await session.run(feeds);
  session.endProfiling();
  await session.release();
  const events = readProfile(prefix);
  const total = runs.warmup + runs.cold + runs.warm;
  if (events.length === 0 || events.length % total !== 0) {
    log(`ORT profile: ${events.length} program events for ${total} runs; no GPU time for ORT`);
    return undefined;
  }
  const perRun = events.length / total;
  const runMs: number[] = [];
  for (let r = 0; r < total; r++)
    runMs.push(events.slice(r * perRun, (r + 1) * perRun).reduce((s, e) => s + e.dur, 0) / 1000);
  const samplesOf = (from: number): number => {
    const xs: number[] = [];
    for (let s = 0; s < t.samples; s++)
      xs.push(mean(runMs.slice(from + s * t.perSample, from + (s + 1) * t.perSample)));
    return median(xs);
  };
  const programs = [...new Set(events.slice(0, perRun).map((e) => e.name.split('&')[1] ?? e.name))];
  return { coldMs: samplesOf(runs.warmup), warmMs: samplesOf(runs.warmup + runs.cold), programs };
}

/** Wall-clock ms per session.run (CPU input/output); few samples when a run is slow (CPU EP on big shapes). */
async function ortWallTime(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>): Promise<number> {
  await session.run(feeds);
  let t = performance.now();
  await session.run(feeds);
  const once = performance.now() - t;
  const reps = Math.max(
    1,
    Math.min(config.wall.maxIterations, Math.round(config.wall.sampleMs / Math.max(once, 0.01))),
  );
  const samples = once > 1000 ? 1 : once > 200 ? 3 : config.wall.samples;
  const xs: number[] = [];
  for (let s = 0; s < samples; s++) {
    t = performance.now();
    for (let i = 0; i < reps; i++) await session.run(feeds);
    xs.push((performance.now() - t) / reps);
  }
  return median(xs);
}

// ---------------------------------------------------------------------------------------------- rows

export interface NodeMatmulRow {
  kernel: Kernel;
  bits: Bits;
  M: number;
  K: number;
  N: number;
  /** GPU ms per call, cold L2 (timestamp queries); the comparison of record. */
  webqMs: number;
  ortMs: number | null;
  ratio: number | null;
  adapter: string;
  /** ortWallMs / webqWallMs. */
  wallRatio: number;
  /** GEMV: bytes moved / webq GPU time, and its fraction of the card's peak. */
  gbps?: number;
  peakFraction?: number;
  ortGbps?: number;
  ortPeakFraction?: number;
  /** GEMM: 2·M·K·N / GPU time. */
  gflops?: number;
  ortGflops?: number;
  bytes: number;
  timing: 'timestamp-query' | 'wall';
  webqWarmMs: number;
  ortWarmMs: number | null;
  webqWallMs: number;
  ortWallMs: number;
  ortCpuMs: number | null;
  webqOptions: string;
  webqDefaultMs: number;
  tune: { options: string; ms: number }[];
  ortPrograms: string[];
  maxAbsDiff: number;
  maxAbsDiffCpu: number | null;
  maxAbsY: number;
  agree: boolean;
}

export interface NodeQuantRow {
  bits: Bits;
  K: number;
  N: number;
  blockSize: number;
  scaleSearch: boolean;
  adapter: string;
  gpuMs: number;
  gpuWallMs: number;
  gpuWithUploadMs: number;
  cpuMs: number | null;
  gpuParamsPerS: number;
  gpuWallParamsPerS: number;
  gpuWithUploadParamsPerS: number;
  cpuParamsPerS: number | null;
}

async function benchQuantize(
  g: Gpu,
  b: Float32Array<ArrayBuffer>,
  K: number,
  N: number,
  bits: Bits,
): Promise<NodeQuantRow> {
  const { device } = g;
  const opts = { bits, scheme: 'asymmetric' as const, groupSize: config.blockSize }; // search: default (on at 2 bits)
  const input = { weights: uploadBytes(device, b), K, N };
  const made: GpuQuantizedWeight[] = [];
  const drain = async (): Promise<void> => {
    await device.queue.onSubmittedWorkDone();
    made.splice(0).forEach(destroyQuantized);
  };
  const gpuMs = g.timestamps
    ? await gpuTime(
        g,
        (e) => {
          made.push(quantize(device, input, opts, e));
        },
        config.gpu,
        false,
      )
    : NaN;
  await drain();
  const gpuWallMs = await timeIt(
    () => {
      made.push(quantize(device, input, opts));
    },
    drain,
    config.wall,
  );
  const gpuWithUploadMs = await timeIt(
    () => {
      device.queue.writeBuffer(input.weights, 0, b);
      made.push(quantize(device, input, opts));
    },
    drain,
    config.wall,
  );
  const cpuMs =
    K * N <= config.cpuQuantMaxParams
      ? await timeIt(
          () => {
            tsQuantize(b, K, N, opts);
          },
          async () => {},
          config.cpuQuantTiming,
        )
      : null;
  input.weights.destroy();
  const p = K * N;
  return {
    bits,
    K,
    N,
    blockSize: config.blockSize,
    scaleSearch: bits === 2,
    adapter: g.adapter,
    gpuMs,
    gpuWallMs,
    gpuWithUploadMs,
    cpuMs,
    gpuParamsPerS: p / (gpuMs / 1000),
    gpuWallParamsPerS: p / (gpuWallMs / 1000),
    gpuWithUploadParamsPerS: p / (gpuWithUploadMs / 1000),
    cpuParamsPerS: cpuMs === null ? null : p / (cpuMs / 1000),
  };
}

/** Fewer calls per sample where one call is slow (ORT's generic 2-bit path on big shapes), still ≥ 5 samples. */
const timingFor = (wallMs: number): GpuTiming => (wallMs > 20 ? { warmup: 1, samples: 5, perSample: 1 } : config.gpu);

async function benchMatmul(
  g: Gpu,
  w: GpuQuantizedWeight,
  model: Uint8Array,
  cpuSession: ort.InferenceSession | undefined,
  gpuSession: ort.InferenceSession,
  kernel: Kernel,
  M: number,
  peak: number | undefined,
): Promise<NodeMatmulRow> {
  const { device } = g;
  const { K, N, bits } = w;
  const a = uniformFloats(M * K, M + K, 1);
  const aBuf = uploadBytes(device, a);
  const y = device.createBuffer({ size: M * N * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const variants = tune ? (kernel === 'gemv' ? gemvVariants : gemmVariants) : [{}];
  const recordWith =
    (o: GemvOptions | GemmOptions) =>
    (e: GPUCommandEncoder): void => {
      if (kernel === 'gemv') gemv(device, { a: aBuf, M, w, y }, o as GemvOptions, e);
      else gemm(device, { a: aBuf, M, w, y }, o as GemmOptions, e);
    };
  // Tile search on the GPU timeline (cold L2, as the rows are measured).
  const tuned: { options: string; ms: number; o: GemvOptions | GemmOptions }[] = [];
  for (const o of variants) {
    try {
      recordWith(o)(device.createCommandEncoder()); // validates the options against the device limits
    } catch (e) {
      if (e instanceof RangeError) continue;
      throw e;
    }
    const ms = g.timestamps ? await gpuTime(g, recordWith(o), config.tuneGpu, true) : await wallTime(g, recordWith(o));
    tuned.push({ options: describeOptions(o), ms, o });
  }
  const best = tuned.reduce((x, z) => (z.ms < x.ms ? z : x));
  const record = recordWith(best.o);
  const timing = g.timestamps ? 'timestamp-query' : 'wall';
  const webqWallMs = await wallTime(g, record);
  const webqT = timingFor(webqWallMs);
  const webqMs = g.timestamps ? await gpuTime(g, record, webqT, true) : webqWallMs;
  const webqWarmMs = g.timestamps ? await gpuTime(g, record, webqT, false) : webqWallMs;
  const webqDefaultMs =
    best.options === 'default'
      ? webqMs
      : g.timestamps
        ? await gpuTime(g, recordWith({}), webqT, true)
        : await wallTime(g, recordWith({}));

  const feeds = { A: new ort.Tensor('float32', a, [M, K]) };
  const ortWallMs = await ortWallTime(gpuSession, feeds);
  const ortGpu = g.timestamps ? await ortGpuTime(g, model, feeds, timingFor(ortWallMs)) : undefined;
  const ortMs = g.timestamps ? (ortGpu?.coldMs ?? null) : ortWallMs;
  const ortCpuMs = cpuSession ? await ortWallTime(cpuSession, feeds) : null;

  // Same weights, same A: the outputs must agree (what makes the comparison fair).
  const webqY = await readFloats(device, y, M * N);
  const ortY = (await gpuSession.run(feeds)).Y!.data as Float32Array;
  const cpuY = cpuSession ? ((await cpuSession.run(feeds)).Y!.data as Float32Array) : undefined;
  let maxAbsDiff = 0;
  let maxAbsDiffCpu = 0;
  let maxAbsY = 0;
  for (let i = 0; i < M * N; i++) {
    maxAbsDiff = Math.max(maxAbsDiff, Math.abs(ortY[i]! - webqY[i]!));
    if (cpuY) maxAbsDiffCpu = Math.max(maxAbsDiffCpu, Math.abs(cpuY[i]! - webqY[i]!));
    maxAbsY = Math.max(maxAbsY, Math.abs(ortY[i]!));
  }
  const tolerance = 1e-3 * Math.sqrt(K);
  const agree =
    maxAbsDiff < tolerance && (!cpuY || maxAbsDiffCpu < tolerance) && webqY.length === M * N && ortY.length === M * N;
  aBuf.destroy();
  y.destroy();

  const s = packedShape(bits, K, N, config.blockSize);
  const bytes = s.dataBytes + N * s.kBlocks * 4 + s.zpBytes + M * K * 4 + M * N * 4;
  const row: NodeMatmulRow = {
    kernel,
    bits,
    M,
    K,
    N,
    webqMs,
    ortMs,
    ratio: ortMs === null ? null : ortMs / webqMs,
    adapter: g.adapter,
    wallRatio: ortWallMs / webqWallMs,
    bytes,
    timing,
    webqWarmMs,
    ortWarmMs: ortGpu?.warmMs ?? null,
    webqWallMs,
    ortWallMs,
    ortCpuMs,
    webqOptions: best.options,
    webqDefaultMs,
    tune: tuned.map(({ options, ms }) => ({ options, ms })),
    ortPrograms: ortGpu?.programs ?? [],
    maxAbsDiff,
    maxAbsDiffCpu: cpuY ? maxAbsDiffCpu : null,
    maxAbsY,
    agree,
  };
  if (kernel === 'gemv') {
    row.gbps = bytes / (webqMs / 1000) / 1e9;
    if (ortMs !== null) row.ortGbps = bytes / (ortMs / 1000) / 1e9;
    if (peak) {
      row.peakFraction = row.gbps / peak;
      if (row.ortGbps !== undefined) row.ortPeakFraction = row.ortGbps / peak;
    }
  } else {
    row.gflops = (2 * M * K * N) / (webqMs / 1000) / 1e9;
    if (ortMs !== null) row.ortGflops = (2 * M * K * N) / (ortMs / 1000) / 1e9;
  }
  return row;
}

// ---------------------------------------------------------------------------------------------- output

const f = (x: number | null | undefined, d = 3): string =>
  x === null || x === undefined || !Number.isFinite(x) ? '–' : x >= 100 ? x.toFixed(1) : x.toPrecision(d);
const us = (ms: number | null | undefined): string => (ms === null || ms === undefined ? '–' : f(ms * 1000));

interface Meta {
  errors: string[];
  adapter: string;
  features: string[];
  gpuName: string;
  peak?: { gbps: number; source: string };
  ortVersion: string;
  node: string;
  cpu: string;
  command: string;
}

function markdown(meta: Meta, rows: NodeMatmulRow[], quant: NodeQuantRow[], complete: boolean): string {
  const ratioMedian = (k: Kernel): string => {
    const r = rows.filter((x) => x.kernel === k && x.ratio !== null).map((x) => x.ratio!);
    return r.length ? median(r).toFixed(2) : '–';
  };
  const timing = rows[0]?.timing ?? 'timestamp-query';
  return [
    '# webq kernels vs onnxruntime-node MatMulNBits (Node, Dawn)',
    '',
    `GPU: **${meta.gpuName || '?'}**; Dawn adapter: **${meta.adapter}** (features: ${meta.features.join(', ') || 'none'}).`,
    `onnxruntime-node ${meta.ortVersion}: WebGPU EP (its own Dawn, same GPU) and CPU EP (${meta.cpu}); Node ${meta.node}.`,
    `Same packed weights for both (asymmetric, block ${config.blockSize}, quantized by webq's GPU kernel). Command: \`${meta.command}\`, ${Math.round(elapsedS())} s${complete ? '' : ' (**partial**: deadline or failure)'}, ${new Date().toISOString()}.`,
    timing === 'timestamp-query'
      ? `Times: GPU time per call from timestamp queries (webq: timestampWrites on its compute passes; ORT: its WebGPU profiler), L2 flushed before each call (cold: weights from HBM); median of ${config.gpu.samples} samples × mean of ${config.gpu.perSample} calls after ${config.gpu.warmup} warm-up calls. "wall" columns: wall clock per call incl. CPU cost (webq record+submit drained with onSubmittedWorkDone; ORT session.run with CPU input/output).`
      : 'Times: wall clock per call (no timestamp-query on this adapter).',
    `ratio = ORT / webq (> 1: webq faster). GB/s = (packed data + scales + zero points + A + Y bytes) / GPU time${meta.peak ? `; peak ${meta.peak.source}` : ''}. webq tile = fastest of the variants tried (GEMV \`x×y cR\`: workgroup [x threads along K, y], R columns per thread (no cR: 2), \`global-A\`: A not staged in workgroup memory; default = [64,4] c2; GEMM \`x×y r×c kT sS\`: workgroup, rows×cols per thread, kTile T (default 32), S K slices (default automatic); default = [16,8] 4×4, automatic split-K).`,
    '',
    '| kernel | bits | M | K×N | webq µs | ORT µs | ratio | webq GB/s | % peak | ORT GB/s | webq tile | default µs | webq wall µs | ORT wall µs | ORT CPU µs | max |Δ| |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.kernel} | ${r.bits} | ${r.M} | ${r.K}×${r.N} | ${us(r.webqMs)} | ${us(r.ortMs)} | ${r.ratio === null ? '–' : r.ratio.toFixed(2)} | ${r.gbps === undefined ? (r.gflops !== undefined ? `${f(r.gflops)} GFLOP/s` : '–') : f(r.gbps)} | ${r.peakFraction === undefined ? '–' : `${(r.peakFraction * 100).toFixed(1)}`} | ${r.ortGbps === undefined ? (r.ortGflops !== undefined ? `${f(r.ortGflops)} GFLOP/s` : '–') : f(r.ortGbps)} | ${r.webqOptions} | ${us(r.webqDefaultMs)} | ${us(r.webqWallMs)} | ${us(r.ortWallMs)} | ${us(r.ortCpuMs)} | ${r.maxAbsDiff.toExponential(1)}${r.agree ? '' : ' **DISAGREE**'} |`,
    ),
    ...(meta.errors.length
      ? ['', `**Failed rows** (${meta.errors.length}):`, ...meta.errors.map((e) => `- ${e.split('\n')[0]}`)]
      : []),
    '',
    `Median ratio: gemv ${ratioMedian('gemv')}, gemm ${ratioMedian('gemm')}. Warm-L2 GPU times (calls back to back), ORT's programs and every tile variant's time are in the JSON.`,
    '',
    '## Quantization throughput (asymmetric, block 32; scale search on at 2 bits as by default)',
    '',
    'GPU = webq quantize kernels on weights already on the GPU (GPU time from timestamps, and wall clock); +upload adds writing the fp32 weights (wall); CPU = extension/quant TypeScript quantizer on one Node thread (only up to 2048×2048).',
    '',
    '| bits | K×N | search | GPU Mparam/s | GPU wall Mparam/s | GPU+upload Mparam/s | CPU Mparam/s | GPU+upload/CPU |',
    '|---|---|---|---|---|---|---|---|',
    ...quant.map(
      (q) =>
        `| ${q.bits} | ${q.K}×${q.N} | ${q.scaleSearch} | ${f(q.gpuParamsPerS / 1e6)} | ${f(q.gpuWallParamsPerS / 1e6)} | ${f(q.gpuWithUploadParamsPerS / 1e6)} | ${q.cpuParamsPerS === null ? '–' : f(q.cpuParamsPerS / 1e6)} | ${q.cpuParamsPerS === null ? '–' : (q.gpuWithUploadParamsPerS / q.cpuParamsPerS).toFixed(1)} |`,
    ),
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------- main

async function main(): Promise<void> {
  const buildModel = await loadModelBuilder();
  const g = await openGpu();
  log(`Dawn adapter: ${g.adapter}; features: ${g.features.join(', ')}`);
  if (requireAdapter && !new RegExp(requireAdapter, 'i').test(g.adapter)) {
    throw new Error(
      `Dawn adapter "${g.adapter}" does not match --require-adapter ${requireAdapter}: refusing to benchmark the wrong device`,
    );
  }
  if (!g.timestamps) log('no timestamp-query: times are wall clock');
  const gpuName = option('gpu-name') ?? process.env.WEBQ_GPU_NAME ?? g.adapter;
  const peakArg = option('peak-gbps');
  const peak = peakArg
    ? { gbps: Number(peakArg), source: `${peakArg} GB/s (--peak-gbps)` }
    : peakFor(`${gpuName} ${g.adapter}`);
  const ortVersion = (
    JSON.parse(readFileSync(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'), 'utf8')) as {
      version: string;
    }
  ).version;
  const meta: Meta = {
    adapter: g.adapter,
    features: g.features,
    gpuName,
    peak,
    ortVersion,
    node: process.version,
    errors: [],
    cpu: `${cpus().length}× ${cpus()[0]?.model ?? '?'}`,
    command: `node bench/kernels-node.ts ${argv.join(' ')}`.trim(),
  };
  ort.env.logLevel = 'error';
  const rows: NodeMatmulRow[] = [];
  const quant: NodeQuantRow[] = [];
  mkdirSync(outDir, { recursive: true });
  const bySize = <T extends { K: number; N: number }>(xs: T[]): T[] =>
    [...xs].sort((x, z) => x.K * x.N - z.K * z.N || x.K - z.K);
  const write = (complete: boolean): void => {
    const sortedRows = bySize(rows);
    const sortedQuant = bySize(quant);
    writeFileSync(join(outDir, `${baseName}.json`), `${JSON.stringify(sortedRows, null, 2)}\n`);
    writeFileSync(join(outDir, `${baseName}-quantize.json`), `${JSON.stringify(sortedQuant, null, 2)}\n`);
    writeFileSync(
      join(outDir, `${baseName}-meta.json`),
      `${JSON.stringify({ ...meta, config, complete, seconds: elapsedS() }, null, 2)}\n`,
    );
    writeFileSync(join(outDir, `${baseName}.md`), markdown(meta, sortedRows, sortedQuant, complete));
  };
  let complete = true;
  outer: for (const [K, N] of config.shapes) {
    const b = uniformFloats(K * N, K * 31 + N, 0.05);
    for (const bits of config.bits) {
      if (elapsedS() > deadlineS) {
        log(`deadline of ${deadlineS} s passed: skipping the rest`);
        complete = false;
        break outer;
      }
      quant.push(await benchQuantize(g, b, K, N, bits));
      const q = quant[quant.length - 1]!;
      log(
        `quantize ${bits}-bit ${K}x${N}: GPU ${f(q.gpuParamsPerS / 1e6)} Mparam/s, +upload ${f(q.gpuWithUploadParamsPerS / 1e6)}, CPU ${q.cpuParamsPerS === null ? '–' : f(q.cpuParamsPerS / 1e6)}`,
      );
      const w = quantize(
        g.device,
        { weights: uploadBytes(g.device, b), K, N },
        { bits, scheme: 'asymmetric', groupSize: config.blockSize },
      );
      const model = buildModel(await downloadQuantized(g.device, w));
      let gpuSession: ort.InferenceSession;
      let cpuSession: ort.InferenceSession | undefined;
      try {
        gpuSession = await ort.InferenceSession.create(model, { executionProviders: ['webgpu'] });
        cpuSession = cpuEp ? await ort.InferenceSession.create(model, { executionProviders: ['cpu'] }) : undefined;
      } catch (e) {
        meta.errors.push(`ORT session ${bits}-bit ${K}x${N}: ${String((e as Error).stack ?? e)}`);
        log(`FAILED ${meta.errors[meta.errors.length - 1]}`);
        complete = false;
        destroyQuantized(w);
        continue;
      }
      for (const { kernel, M } of config.kernels) {
        let r: NodeMatmulRow;
        try {
          r = await benchMatmul(g, w, model, cpuSession, gpuSession, kernel, M, peak?.gbps);
        } catch (e) {
          // One failing row (an ORT program, a device limit) should not lose the others: record it and go on.
          meta.errors.push(`${kernel} ${bits}-bit M=${M} ${K}x${N}: ${String((e as Error).stack ?? e)}`);
          log(`FAILED ${meta.errors[meta.errors.length - 1]}`);
          complete = false;
          continue;
        }
        rows.push(r);
        log(
          `${kernel} ${bits}-bit M=${M} ${K}x${N}: webq ${us(r.webqMs)} µs (${r.webqOptions}; default ${us(r.webqDefaultMs)}) ORT ${us(r.ortMs)} µs ratio ${r.ratio?.toFixed(2) ?? '–'}` +
            `${r.gbps ? ` ${f(r.gbps)} GB/s${r.peakFraction ? ` ${(r.peakFraction * 100).toFixed(1)}% of peak` : ''}` : ''} wall webq ${us(r.webqWallMs)} ORT ${us(r.ortWallMs)} CPU ${us(r.ortCpuMs)} µs` +
            ` max|Δ| ${r.maxAbsDiff.toExponential(1)}${r.agree ? '' : ' DISAGREE'} [ORT: ${r.ortPrograms.join(', ')}]`,
        );
        write(false);
      }
      await gpuSession.release();
      await cpuSession?.release();
      destroyQuantized(w);
    }
  }
  write(complete);
  console.log(markdown(meta, bySize(rows), bySize(quant), complete));
  rmSync(profileDir, { recursive: true, force: true });
  if (meta.errors.length) process.exitCode = 1;
  const bad = rows.filter((r) => !r.agree);
  if (bad.length)
    throw new Error(
      `webq and ORT disagree on ${bad.length} rows: ${bad.map((r) => `${r.kernel} ${r.bits}b M=${r.M} ${r.K}x${r.N} max|Δ| ${r.maxAbsDiff}`).join('; ')}`,
    );
  g.device.destroy();
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
