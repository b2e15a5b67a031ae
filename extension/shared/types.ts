/** Result and report types of the page API (SPEC §2, §5). */
import type { Backend } from './options';
import type { TensorType, TensorData } from './tensor';

export type Task = 'feature-extraction' | 'image-classification' | 'automatic-speech-recognition';
export type ConcreteBackend = Exclude<Backend, 'auto'>;

export interface ModelSource { url: string; sha256?: string; task?: Task; tokenizer?: string; id?: string }
export type ModelRef = string | ModelSource;

export interface Tensor { type: TensorType; data: TensorData; dims: number[] }

export interface WeightReport { name: string; op: string; precision: number }

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
}

export interface RunResult { output: unknown; performanceMetrics: PerformanceMetrics }

export interface Profile {
  name: string;
  backendOrder: ConcreteBackend[];
  bits: 2 | 4 | 8 | 16 | 32;
  scheme: 'symmetric' | 'asymmetric';
  groupSize: number;
  mixedPrecision: boolean;
  workgroupSize: [number, number, number];
  useShaderF16: boolean;
  useSubgroups: boolean;
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

export type ProgressPhase = 'download' | 'cache' | 'quantize' | 'compile';
export interface Progress { phase: ProgressPhase; loaded: number; total: number }
