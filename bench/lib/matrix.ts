/**
 * What each matrix size measures. On this kind of machine (2 cores, no GPU: WebGPU is SwiftShader, i.e. the CPU
 * pretending) the BERT-base-sized encoder costs seconds per run, so `quick` keeps it to what fits in minutes and
 * `full` runs everything (tens of minutes here, far less on a real GPU). The registry ids run in `quick` as their
 * test builds (tiny); `seed` runs them at the seed table's sizes (BERT-base, ViT-base, Whisper-tiny shapes).
 */
import { GEN_BENCH_BUILDS, GEN_TEST_BUILDS, type GenWorkloadId } from '../models/generation';
import { SEED_BUILDS, TEST_BUILDS, type WorkloadId } from '../models/workloads';
import type { Backend, Bits, BrowserName, MatrixName } from './schema';

/**
 * One measurement. `embeddings: 32` keeps embedding tables (Gather) at fp32 under an otherwise `bits` policy (mixed
 * precision: attention at max(bits, 4), the output head at 8): onnxruntime-web's wasm EP has no GatherBlockQuantized,
 * so a model whose tables webq quantizes (BERT-base's 768-wide vocab, Whisper's decoder) cannot run `{ bits }` there.
 */
export interface Cell {
  model: WorkloadId;
  backend: Backend;
  bits: Bits;
  embeddings?: 32;
}

/** A text-generation row: webq and transformers.js on one model and backend (fp32, the repo's file as stored). */
export interface GenCell {
  model: GenWorkloadId;
  backend: 'wasm' | 'webgpu';
  /** greedy new tokens, when not the matrix's `newTokens` */
  newTokens?: number;
}
export const genCellName = (c: GenCell) => `generation ${c.model} ${c.backend}`;

/** How a cell is named in the log and in `skipped` (the report finds a failed cell's reason by this name). */
export const cellName = (c: Cell) => `${c.model} ${c.backend} ${c.bits}-bit${c.embeddings ? ' (embeddings fp32)' : ''}`;

export interface Matrix {
  name: MatrixName;
  runs: number;
  warmup: number;
  /** An end-to-end cell's untimed calls last at least this long, beyond its `warmup` calls (0: just those). */
  warmupMs: number;
  /** end-to-end cells per browser; fp32 of each (model, backend) is always measured first as the reference */
  cells: Record<BrowserName, Cell[]>;
  /** webq vs onnxruntime-web directly, interleaved in one tab (Chromium, and Firefox when it runs) */
  hops: Cell[];
  /** text generation, webq vs transformers.js in the same tab (Chromium and Firefox) */
  generation: Record<'chromium' | 'firefox', GenCell[]>;
  /** greedy new tokens per generation */
  newTokens: number;
  /** cold / warm / in-memory loads */
  loads: Cell[];
  loadSamples: number;
  /** seconds one cell (a load and its runs) may take before the run gives it up and closes that browser */
  cellTimeoutS: number;
}

const ALL_BITS: Bits[] = [32, 16, 8, 4, 2];
/** Seed-size models with embedding tables wide enough for webq to quantize them (GatherBlockQuantized). */
const WITH_TABLES: WorkloadId[] = ['bert-id-base', 'whisper-id-tiny'];
const fp32Embeddings = (cells: Cell[]): Cell[] => cells.map((c) => ({ ...c, embeddings: 32 }));
const genCross = (models: readonly GenWorkloadId[], backends: GenCell['backend'][]): GenCell[] =>
  models.flatMap((model) => backends.map((backend) => ({ model, backend })));
/**
 * The generation rows: both bench builds on wasm in Chromium and Firefox (a cell — 7 rounds of webq, transformers.js
 * and the plain loop, 32 new tokens — takes 30–90 s here), and in Chromium both test builds (hidden 32, 2 layers, full
 * vocabularies) on WebGPU with 8 new tokens: on SwiftShader such a row compares the runtimes' paths around the graph
 * (the cache on the device, what a step reads back), not a GPU's arithmetic. The bench builds on WebGPU are in `full`
 * only: here (no GPU) such a Chromium cell did not end within 5 minutes on SwiftShader, and in Firefox (lavapipe) one
 * hit the driver's protocol timeout and the next found the extension restarted.
 */
const GPU_NEW_TOKENS = 8;
const GENERATION = {
  chromium: [
    ...genCross(GEN_BENCH_BUILDS, ['wasm']),
    ...genCross(GEN_TEST_BUILDS, ['webgpu']).map((c) => ({ ...c, newTokens: GPU_NEW_TOKENS })),
  ],
  firefox: genCross(GEN_BENCH_BUILDS, ['wasm']),
};
const genWithGpu = (): GenCell[] => [
  ...genCross(GEN_BENCH_BUILDS, ['wasm']),
  ...genCross(GEN_BENCH_BUILDS, ['webgpu']).map((c) => ({ ...c, newTokens: GPU_NEW_TOKENS })),
];
const GENERATION_FULL = { chromium: genWithGpu(), firefox: genWithGpu() };
const NO_GENERATION = { chromium: [], firefox: [] };

const cross = (models: readonly WorkloadId[], backends: Backend[], bits: Bits[]): Cell[] =>
  models.flatMap((model) => backends.flatMap((backend) => bits.map((b) => ({ model, backend, bits: b }))));

/**
 * The side-by-side rows warm both runtimes up for at least this long (and `warmup` rounds), and so do the end-to-end
 * cells (Matrix.warmupMs): until V8 has compiled onnxruntime's wasm in the engine host and the page (a Silero frame
 * settles after ~3–4 s of calls here; the first PP-OCR cell after a launch took 221 ms a call after 2 warm-up calls,
 * where the hop table's warmed cell took 85).
 */
export const HOPS_WARMUP_MS = 5000;

export function matrix(name: Matrix['name'], runs?: number): Matrix {
  if (name === 'smoke') {
    return {
      name,
      runs: runs ?? 2,
      warmup: 1,
      warmupMs: 0, // the smoke test checks the JSON, never the speed
      cells: {
        chromium: cross(['ppocr', 'bert-mini', ...TEST_BUILDS], ['wasm'], [32, 4]),
        firefox: [],
        'chromium-webnn': [],
      },
      hops: [{ model: 'ppocr', backend: 'wasm', bits: 32 }],
      // The e2e tests' tiny Llama (hidden 32): seconds, and the whole generation path of the harness.
      generation: { chromium: genCross(GEN_TEST_BUILDS.slice(0, 1), ['wasm']), firefox: [] },
      newTokens: 4,
      loads: [{ model: 'ppocr', backend: 'wasm', bits: 32 }],
      loadSamples: 2,
      cellTimeoutS: 120,
    };
  }
  if (name === 'quick') {
    // Measured here: one PP-OCR WebGPU cell on SwiftShader takes ~50-70 s (7 calls plus compile), so WebGPU gets
    // fp32 and 4-bit only, and the BERT-sized encoder runs on wasm only (on SwiftShader it is minutes per call).
    return {
      name,
      runs: runs ?? 5,
      warmup: 2,
      warmupMs: HOPS_WARMUP_MS,
      cells: {
        chromium: [
          ...cross(['ppocr', 'silero'], ['wasm'], ALL_BITS),
          ...cross(['ppocr', 'silero'], ['webgpu'], [32, 4]),
          ...cross(['bert'], ['wasm'], ALL_BITS),
          // The registry ids by name, test builds (tiny): the path a site takes (id → model host → task pipeline).
          ...cross(TEST_BUILDS, ['wasm'], ALL_BITS),
          ...cross(TEST_BUILDS, ['webgpu'], [32, 4]),
        ],
        firefox: cross(['ppocr', 'silero', ...TEST_BUILDS], ['wasm'], [32, 4]),
        // fp32 first: an 8-bit (DequantizeLinear/MatMulNBits) PP-OCR on WebNN ended the single-process browser in a
        // probe, so the quantized cells come last and a crash costs only them.
        'chromium-webnn': [
          ...cross(['ppocr', 'silero'], ['webnn', 'wasm'], [32]),
          ...cross(['ppocr', 'silero'], ['webnn'], [8]),
        ],
      },
      hops: [
        ...cross(['ppocr', 'silero'], ['wasm'], [32, 4]),
        { model: 'ppocr', backend: 'webgpu', bits: 32 },
        { model: 'bert', backend: 'wasm', bits: 32 },
      ],
      generation: GENERATION,
      newTokens: 32,
      loads: [
        { model: 'ppocr', backend: 'wasm', bits: 32 },
        { model: 'ppocr', backend: 'wasm', bits: 4 },
        { model: 'bert', backend: 'wasm', bits: 4 },
      ],
      // The slowest quick cell seen here: PP-OCR 4-bit on SwiftShader, 171 s with the machine shared.
      loadSamples: 3,
      cellTimeoutS: 360,
    };
  }
  if (name === 'seed') {
    // The seed table's models at its sizes, by id. Here one call takes 1.5–3 s on wasm and far longer on SwiftShader,
    // so: every precision on wasm in Chromium, fp32 and 4-bit on wasm in Firefox (the seed's Firefox row is 4-bit);
    // WebGPU and WebNN in `full`. BERT and Whisper also with their embedding tables at fp32 (Cell.embeddings), since
    // `{ bits }` alone cannot run on wasm. ~20 minutes here.
    return {
      name,
      runs: runs ?? 5,
      warmup: 2,
      warmupMs: HOPS_WARMUP_MS,
      cells: {
        chromium: [
          ...cross(SEED_BUILDS, ['wasm'], ALL_BITS),
          ...fp32Embeddings(cross(WITH_TABLES, ['wasm'], [8, 4, 2])),
        ],
        firefox: [...cross(SEED_BUILDS, ['wasm'], [32, 4]), ...fp32Embeddings(cross(WITH_TABLES, ['wasm'], [4]))],
        'chromium-webnn': [],
      },
      hops: [],
      generation: NO_GENERATION,
      newTokens: 0,
      loads: [],
      loadSamples: 0,
      cellTimeoutS: 600,
    };
  }
  if (name === 'generation') {
    // The quick matrix's generation rows alone (bench/results/bench-generation.json; the docs page takes them from
    // there when the quick run has none).
    const quick = matrix('quick', runs);
    return {
      ...quick,
      name,
      cells: { chromium: [], firefox: [], 'chromium-webnn': [] },
      hops: [],
      loads: [],
      loadSamples: 0,
    };
  }
  const all: WorkloadId[] = ['ppocr', 'silero', 'bert', ...TEST_BUILDS, ...SEED_BUILDS];
  return {
    name,
    runs: runs ?? 7,
    warmup: 2,
    warmupMs: HOPS_WARMUP_MS,
    cells: {
      chromium: cross(all, ['wasm', 'webgpu'], ALL_BITS),
      firefox: cross(all, ['wasm', 'webgpu'], ALL_BITS),
      'chromium-webnn': cross(all, ['webnn', 'wasm'], [32, 16, 8]),
    },
    hops: cross(['ppocr', 'silero', 'bert'], ['wasm', 'webgpu'], [32, 8, 4]),
    generation: GENERATION_FULL,
    newTokens: 32,
    loads: cross(['ppocr', 'bert'], ['wasm', 'webgpu'], [32, 4]),
    loadSamples: 5,
    cellTimeoutS: 3600,
  };
}

/** Only the cells of the given models, backends and precisions (each list: all when absent), hops and loads too. */
export interface CellFilter {
  models?: readonly string[];
  backends?: readonly string[];
  bits?: readonly number[];
}

export function filterMatrix(m: Matrix, f: CellFilter): Matrix {
  const keep = (c: Cell) =>
    (!f.models || f.models.includes(c.model)) &&
    (!f.backends || f.backends.includes(c.backend)) &&
    (!f.bits || f.bits.includes(c.bits));
  const cells = Object.fromEntries(Object.entries(m.cells).map(([b, cs]) => [b, cs.filter(keep)])) as Matrix['cells'];
  const genKeep = (c: GenCell) =>
    (!f.models || f.models.includes(c.model)) &&
    (!f.backends || f.backends.includes(c.backend)) &&
    (!f.bits || f.bits.includes(32));
  const generation = {
    chromium: m.generation.chromium.filter(genKeep),
    firefox: m.generation.firefox.filter(genKeep),
  };
  return { ...m, cells, hops: m.hops.filter(keep), loads: m.loads.filter(keep), generation };
}
