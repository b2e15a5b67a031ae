/** Result and report types of the page API (SPEC §2, §5). */
import type { Backend } from './options';
import type { Tensor } from './tensor';

/** The tasks webq runs (SPEC §5, §8): the one list the Task type, the protocol and the pipeline table derive from. */
export const TASKS = Object.freeze([
  'feature-extraction',
  'image-classification',
  'zero-shot-image-classification',
  'image-feature-extraction',
  'automatic-speech-recognition',
  'text-generation',
  'text2text-generation',
] as const);
export type Task = (typeof TASKS)[number];
export type ConcreteBackend = Exclude<Backend, 'auto'>;

export interface ModelSource {
  url: string;
  sha256?: string;
  task?: Task;
  tokenizer?: string;
  id?: string;
}
export type ModelRef = string | ModelSource;

/** A tensor as the page API gives and takes it: the same type every hop carries (shared/tensor.ts). */
export type { Tensor };

export interface WeightReport {
  name: string;
  op: string;
  precision: number;
}

export interface ModelInfo {
  id: string;
  source: string;
  task: Task | null;
  backend: ConcreteBackend;
  bits: 2 | 4 | 8 | 16 | 32;
  scheme: 'symmetric' | 'asymmetric' | null;
  groupSize: number | null;
  mixedPrecision: boolean;
  modelBytes: number;
  originalBytes: number;
  weights: WeightReport[];
  inputs: { name: string; type: string; dims: (number | string)[] }[];
  outputs: { name: string; type: string; dims: (number | string)[] }[];
  fallbacks: string[];
}

export interface PerformanceMetrics {
  inferenceTimeMs: number;
  totalTimeMs: number;
  loadTimeMs?: number;
  backend: ConcreteBackend;
  quantizationBits: 2 | 4 | 8 | 16 | 32;
  quantizationScheme: 'symmetric' | 'asymmetric' | null;
  mixedPrecision: boolean;
  modelBytes: number;
  originalBytes: number;
  memoryReductionPercent: number;
  browser: string;
  profile: string;
  fallbacks: string[];
  /** Text generation (SPEC §8): time from the run's start to its first generated token, and the two phases' rates. */
  timeToFirstTokenMs?: number;
  prefillTokensPerSecond?: number;
  decodeTokensPerSecond?: number;
}

export interface RunResult {
  output: unknown;
  performanceMetrics: PerformanceMetrics;
}

/** A task's input modality: it picks the profile's defaults for built-in models (SPEC §6). */
export type Modality = 'text' | 'vision' | 'audio';

/** What a profile recommends for a built-in model of one modality (the seed's per-model-type settings). */
export interface ModalityDefaults {
  bits: 2 | 4 | 8 | 16 | 32;
  mixedPrecision: boolean;
  /** Compile and warm up at load time (the seed's vision advice). */
  shaderPrecompilation: boolean;
  /** SPEC §6 data (Firefox audio: [256,1,1]), reported only: nothing in this build reads it (see Profile). */
  workgroupSize: [number, number, number];
}

export interface Profile {
  name: string;
  backendOrder: ConcreteBackend[];
  bits: 2 | 4 | 8 | 16 | 32;
  scheme: 'symmetric' | 'asymmetric';
  groupSize: number;
  mixedPrecision: boolean;
  /**
   * SPEC §6 names workgroup size and feature use as profile data; this build reports them and acts on none of them:
   * onnxruntime-web picks its own workgroups and features, and webq's kernels (the GPU quantizer) take the
   * `workgroupSize` load option or their default. The two flags say whether the profile would use the feature and
   * the adapter has it.
   */
  workgroupSize: [number, number, number];
  useShaderF16: boolean;
  useSubgroups: boolean;
  /** Defaults for built-in (registry) models by modality; raw model URLs use the fields above when quantized. */
  modalities: Record<Modality, ModalityDefaults>;
}

export interface GemmTile {
  workgroupSize: [number, number, number];
  rowsPerThread?: number;
  colsPerThread?: number;
  kTile?: number;
  /** false: the GEMM without workgroup memory (kernels/gemm-unstaged.ts; no kTile). */
  stage?: boolean;
}

/** What `calibrate()` measured (ms per call, median) and chose, for one adapter. */
export interface Calibration {
  adapter: string;
  measuredAt: string;
  shape: { bits: 4; K: number; N: number; gemmRows: number };
  gemv: {
    best: { workgroupSize: [number, number, number]; subgroups: boolean };
    ms: number;
    candidates: { options: { workgroupSize: [number, number, number]; subgroups: boolean }; ms: number }[];
  };
  gemm: { best: GemmTile; ms: number; candidates: { options: GemmTile; ms: number }[] };
}

export interface Capabilities {
  browser: { name: string; version: string };
  webgpu: {
    available: boolean;
    reason?: string;
    adapter?: { vendor: string; architecture: string; description: string; emulated: boolean };
    features: string[];
    limits: Record<string, number>;
  };
  webnn: { available: boolean; reason?: string };
  wasm: { threads: number; simd: boolean };
  profile: Profile;
}

export type ProgressPhase = 'download' | 'cache' | 'quantize' | 'compile' | 'calibrate';
export interface Progress {
  phase: ProgressPhase;
  loaded: number;
  total: number;
}
