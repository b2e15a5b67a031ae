/**
 * Calibration (issue 5): measures candidate workgroup sizes and tile shapes of webq's own kernels on this device and
 * returns every time with the fastest of each kernel, for the options page to show. The engine stores the result
 * (settings, `CALIBRATION_SETTING`) and webq's own decode engine runs its GEMV/GEMM at the tiles it chose on that
 * adapter (`calibratedTiles`, host/native-engine.ts); no profile carries it and pages never see it (SPEC §3).
 *
 * One representative shape per kernel (a 4-bit weight, GEMV at M = 1, GEMM at a few rows; SHAPES below): big enough
 * to rank the candidates, small enough to finish in seconds.
 */
import { destroyQuantized, gemm, gemv, quantize, uploadBytes } from '../../kernels/index';
import { WebqError } from '../shared/errors';
import type { Calibration, GemmTile } from '../shared/types';
import { uniformFloats } from '../shared/random';
import type { GpuInfo } from './gpu';

interface Candidate<O> {
  options: O;
  ms: number;
}
interface KernelCalibration<O> {
  best: O;
  ms: number;
  candidates: Candidate<O>[];
}

/**
 * The measured shape: BERT-base's hidden size on a GPU. An emulated adapter (SwiftShader, lavapipe) runs the kernels
 * on the CPU, where 768×768 takes tens of seconds over all candidates and ranks CPU threads, not GPU occupancy: it
 * measures a 256×256 weight instead (the shape used is stored with the result).
 */
const SHAPES = { gpu: { K: 768, N: 768, gemmRows: 16 }, emulated: { K: 256, N: 256, gemmRows: 8 } } as const;

const GEMV_SIZES: [number, number, number][] = [
  [64, 4, 1],
  [32, 8, 1],
  [128, 2, 1],
  [256, 1, 1],
  [16, 16, 1],
  [8, 32, 1],
];
const GEMM_TILES: GemmTile[] = [
  // Without workgroup memory: the fastest on SwiftShader (bench/kernels.mjs), so first, among an emulated
  // adapter's few candidates.
  { stage: false, workgroupSize: [4, 1, 1], rowsPerThread: 16, colsPerThread: 16 },
  { workgroupSize: [16, 8, 1], rowsPerThread: 4, colsPerThread: 4, kTile: 32 },
  { workgroupSize: [16, 4, 1], rowsPerThread: 4, colsPerThread: 4, kTile: 32 },
  { workgroupSize: [16, 16, 1], rowsPerThread: 1, colsPerThread: 4, kTile: 32 },
  { workgroupSize: [32, 4, 1], rowsPerThread: 4, colsPerThread: 2, kTile: 32 },
  { workgroupSize: [8, 4, 1], rowsPerThread: 4, colsPerThread: 8, kTile: 32 },
  // The fastest on an NVIDIA H200 in 35 of 36 shapes (bench/results/kernels-nvidia.md).
  { workgroupSize: [32, 8, 1], rowsPerThread: 2, colsPerThread: 2, kTile: 32 },
];

/** The settings key of the last calibration (one per browser profile; it names its adapter). */
export const CALIBRATION_SETTING = 'kernelCalibration';

/**
 * The GEMV/GEMM tiles a stored calibration chose, when it was measured on this adapter (`adapter` = adapterKey) and
 * reads as one (the settings store is the extension's own, but a value of an older build may lack fields).
 */
export function calibratedTiles(
  stored: unknown,
  adapter: string,
): { gemv: { workgroupSize: [number, number, number]; subgroups: boolean }; gemm: GemmTile } | undefined {
  const c = stored as Partial<Calibration> | undefined;
  if (!c || c.adapter !== adapter) return undefined;
  const gemv = c.gemv?.best;
  const gemm = c.gemm?.best;
  const size = (w: unknown) => Array.isArray(w) && w.length === 3 && w.every((x) => Number.isInteger(x) && x > 0);
  if (!gemv || !gemm || !size(gemv.workgroupSize) || !size(gemm.workgroupSize)) return undefined;
  return { gemv: { workgroupSize: gemv.workgroupSize, subgroups: gemv.subgroups === true }, gemm };
}

/** One adapter's key (the GPU quantizer's measurements are stored under it): same adapter and driver, same key. */
export function adapterKey(gpu: Pick<GpuInfo, 'info'>): string {
  const { vendor, architecture, device, description } = gpu.info;
  return [vendor, architecture, device, description].map((s) => s || '-').join('/');
}

/** Median of `samples` timings of `record` (each a submit drained with onSubmittedWorkDone), after one warm-up. */
async function time(device: GPUDevice, record: () => void, signal: AbortSignal, samples = 3): Promise<number> {
  const once = async () => {
    const started = performance.now();
    record();
    await device.queue.onSubmittedWorkDone();
    return performance.now() - started;
  };
  await once(); // compiles the pipeline
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    if (signal.aborted) throw new WebqError('AbortError', 'calibration was aborted');
    times.push(await once());
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1]!;
}

function fitsDevice(device: GPUDevice, [x, y, z]: readonly number[]): boolean {
  const l = device.limits;
  return (
    x! <= l.maxComputeWorkgroupSizeX &&
    y! <= l.maxComputeWorkgroupSizeY &&
    z! <= l.maxComputeWorkgroupSizeZ &&
    x! * y! * z! <= l.maxComputeInvocationsPerWorkgroup
  );
}

/**
 * Measures every candidate that fits the device and returns the times, the fastest of each kernel marked.
 * `progress(done, total)` after each candidate.
 */
export async function calibrate(
  gpu: GpuInfo,
  signal: AbortSignal,
  progress: (done: number, total: number) => void = () => undefined,
): Promise<Calibration> {
  const { device } = gpu;
  const { K, N, gemmRows: GEMM_ROWS } = gpu.emulated ? SHAPES.emulated : SHAPES.gpu;
  const weights = uploadBytes(device, uniformFloats(K * N, 7, 0.5));
  const w = quantize(device, { weights, K, N }, { bits: 4, scheme: 'symmetric', groupSize: 32, scaleSearch: false });
  weights.destroy();
  const a1 = uploadBytes(device, new Float32Array(K).fill(0.5));
  const aM = uploadBytes(device, new Float32Array(GEMM_ROWS * K).fill(0.5));
  const subgroups = device.features.has('subgroups' as GPUFeatureName);
  // On an emulated adapter each candidate costs a shader compile of about a second on the CPU and the ranking says
  // little about any GPU: the first few of each list are measured there (subgroups as the device has them).
  const few = <T>(list: readonly T[], n: number): readonly T[] => (gpu.emulated ? list.slice(0, n) : list);
  const gemvCandidates = few(GEMV_SIZES, 4)
    .filter((s) => fitsDevice(device, s))
    .flatMap((workgroupSize) =>
      (subgroups ? (gpu.emulated ? [true] : [true, false]) : [false]).map((sg) => ({
        workgroupSize: [...workgroupSize] as [number, number, number],
        subgroups: sg,
      })),
    );
  const gemmCandidates = few(GEMM_TILES, 3).filter((t) => fitsDevice(device, t.workgroupSize));
  const total = gemvCandidates.length + gemmCandidates.length;
  let done = 0;
  const outputs: GPUBuffer[] = [];
  const keep = (b: GPUBuffer) => {
    outputs.push(b);
    if (outputs.length > 8) outputs.shift()!.destroy();
  };
  try {
    const gemvTimes: Candidate<Calibration['gemv']['best']>[] = [];
    for (const options of gemvCandidates) {
      gemvTimes.push({
        options,
        ms: await time(device, () => keep(gemv(device, { a: a1, M: 1, w }, options)), signal),
      });
      progress(++done, total);
    }
    const gemmTimes: Candidate<Calibration['gemm']['best']>[] = [];
    for (const options of gemmCandidates) {
      gemmTimes.push({
        options,
        ms: await time(device, () => keep(gemm(device, { a: aM, M: GEMM_ROWS, w }, options)), signal),
      });
      progress(++done, total);
    }
    const fastest = <O>(c: Candidate<O>[]): KernelCalibration<O> => {
      const best = c.reduce((x, y) => (y.ms < x.ms ? y : x));
      return { best: best.options, ms: best.ms, candidates: c };
    };
    const result: Calibration = {
      adapter: adapterKey(gpu),
      measuredAt: new Date().toISOString(),
      shape: { bits: 4, K, N, gemmRows: GEMM_ROWS },
      gemv: fastest(gemvTimes),
      gemm: fastest(gemmTimes),
    };
    return result;
  } finally {
    for (const b of outputs) b.destroy();
    destroyQuantized(w);
    a1.destroy();
    aM.destroy();
  }
}
