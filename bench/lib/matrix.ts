/**
 * What each matrix size measures. On this kind of machine (2 cores, no GPU: WebGPU is SwiftShader, i.e. the CPU
 * pretending) the BERT-base-sized encoder costs seconds per run, so `quick` keeps it to what fits in minutes and
 * `full` runs everything (tens of minutes here, far less on a real GPU).
 */
import type { WorkloadId } from '../models/workloads.ts';
import type { Backend, Bits, BrowserName } from './schema.ts';

export interface Cell { model: WorkloadId; backend: Backend; bits: Bits }

export interface Matrix {
  name: 'smoke' | 'quick' | 'full';
  runs: number; warmup: number;
  /** end-to-end cells per browser; fp32 of each (model, backend) is always measured first as the reference */
  cells: Record<BrowserName, Cell[]>;
  /** webq vs onnxruntime-web directly, interleaved in one tab (Chromium, and Firefox when it runs) */
  hops: Cell[];
  /** cold / warm / in-memory loads */
  loads: Cell[];
  loadSamples: number;
}

const ALL_BITS: Bits[] = [32, 16, 8, 4, 2];
const cross = (models: WorkloadId[], backends: Backend[], bits: Bits[]): Cell[] =>
  models.flatMap((model) => backends.flatMap((backend) => bits.map((b) => ({ model, backend, bits: b }))));

export function matrix(name: Matrix['name'], runs?: number): Matrix {
  if (name === 'smoke') {
    return {
      name, runs: runs ?? 2, warmup: 1,
      cells: { chromium: cross(['ppocr', 'bert-mini'], ['wasm'], [32, 4]), firefox: [], 'chromium-webnn': [] },
      hops: [{ model: 'ppocr', backend: 'wasm', bits: 32 }],
      loads: [{ model: 'ppocr', backend: 'wasm', bits: 32 }],
      loadSamples: 2,
    };
  }
  if (name === 'quick') {
    // Measured here: one PP-OCR WebGPU cell on SwiftShader takes ~50-70 s (7 calls plus compile), so WebGPU gets
    // fp32 and 4-bit only, and the BERT-sized encoder runs on wasm only (on SwiftShader it is minutes per call).
    return {
      name, runs: runs ?? 5, warmup: 2,
      cells: {
        chromium: [
          ...cross(['ppocr', 'silero'], ['wasm'], ALL_BITS),
          ...cross(['ppocr', 'silero'], ['webgpu'], [32, 4]),
          ...cross(['bert'], ['wasm'], ALL_BITS),
        ],
        firefox: cross(['ppocr', 'silero'], ['wasm'], [32, 4]),
        // fp32 first: an 8-bit (DequantizeLinear/MatMulNBits) PP-OCR on WebNN ended the single-process browser in a
        // probe, so the quantized cells come last and a crash costs only them.
        'chromium-webnn': [...cross(['ppocr', 'silero'], ['webnn', 'wasm'], [32]), ...cross(['ppocr', 'silero'], ['webnn'], [8])],
      },
      hops: [...cross(['ppocr', 'silero'], ['wasm'], [32, 4]), { model: 'ppocr', backend: 'webgpu', bits: 32 }, { model: 'bert', backend: 'wasm', bits: 32 }],
      loads: [{ model: 'ppocr', backend: 'wasm', bits: 32 }, { model: 'ppocr', backend: 'wasm', bits: 4 }, { model: 'bert', backend: 'wasm', bits: 4 }],
      loadSamples: 3,
    };
  }
  return {
    name, runs: runs ?? 7, warmup: 2,
    cells: {
      chromium: cross(['ppocr', 'silero', 'bert'], ['wasm', 'webgpu'], ALL_BITS),
      firefox: cross(['ppocr', 'silero', 'bert'], ['wasm', 'webgpu'], ALL_BITS),
      'chromium-webnn': cross(['ppocr', 'silero', 'bert'], ['webnn', 'wasm'], [32, 16, 8]),
    },
    hops: cross(['ppocr', 'silero', 'bert'], ['wasm', 'webgpu'], [32, 8, 4]),
    loads: cross(['ppocr', 'bert'], ['wasm', 'webgpu'], [32, 4]),
    loadSamples: 5,
  };
}
