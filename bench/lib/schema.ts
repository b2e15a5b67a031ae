/**
 * The shape of bench/results/bench-*.json, and a checker the smoke test (and bench/run.ts itself) use: every
 * figure must be finite and positive where a time or a size is meant. It never judges speed.
 */
import type { WorkloadId } from '../models/workloads.ts';

export type BrowserName = 'chromium' | 'firefox' | 'chromium-webnn';
export type Backend = 'wasm' | 'webgpu' | 'webnn';
export type Bits = 32 | 16 | 8 | 4 | 2;

export interface BrowserEntry {
  name: BrowserName;
  version: string;
  /** "vendor / architecture / description" of the WebGPU adapter, from webq.capabilities() */
  adapter: string;
  emulated: boolean;
  webnn: boolean;
  wasmThreads: number;
  how: string;
}

export interface EndToEndRow {
  browser: BrowserName; device: string; model: WorkloadId; backend: Backend; bits: Bits;
  /** what the engine gave (WebNN raises 2/4 to 8), with scheme and group size */
  gotBits: number; scheme: string | null; groupSize: number | null;
  runs: number; warmup: number;
  /** page wall clock per call (the number a site sees), and the runtime's own session.run */
  medianMs: number; medianInferenceMs: number; minMs: number; maxMs: number;
  loadMs: number;
  modelBytes: number; originalBytes: number; memoryReductionPercent: number;
  /** against fp32 on the same browser and backend */
  cosine: number; maxAbsDiff: number;
  text?: string; textMatches?: boolean;
  fallbacks: string[];
}

export interface HopRow {
  browser: BrowserName; model: WorkloadId; backend: Backend; bits: Bits; rounds: number;
  webqMedianMs: number; ortMedianMs: number; overheadMs: number; ratio: number;
  webqInferenceMedianMs: number; ortInferenceMedianMs: number;
  /** the goal: overhead under max(1 ms, 5 % of the baseline) */
  goalMs: number; withinGoal: boolean;
}

export type LoadKind = 'cold' | 'warm' | 'memory';
export interface LoadRow {
  browser: BrowserName; model: WorkloadId; backend: Backend; bits: Bits; kind: LoadKind; samples: number;
  medianMs: number;
  /** median ms spent in each progress phase (download, cache, quantize, compile) as the page saw it */
  phases: Record<string, number>;
}

export interface QuantRow {
  browser: BrowserName; model: WorkloadId; bits: Bits;
  /** all weights of the model (originalBytes / 4), the figure the time is divided by */
  params: number; prepareMs: number; msPerMParam: number;
}

export interface BenchResults {
  schema: 'webq-bench/1';
  matrix: 'smoke' | 'quick' | 'full';
  command: string;
  startedAt: string; seconds: number;
  runs: number; warmup: number;
  machine: {
    cpus: number; cpuModel: string; memoryGiB: number; os: string; node: string;
    /** 1-minute load average at the start and the end: above the core count, other jobs shared the CPUs */
    loadAverage?: { start: number; end: number };
  };
  ortVersion: string;
  browsers: BrowserEntry[];
  endToEnd: EndToEndRow[];
  hops: HopRow[];
  loads: LoadRow[];
  quantization: QuantRow[];
  skipped: { what: string; why: string }[];
  /** remarks about the run that no figure carries (e.g. the machine was shared), printed in the report */
  notes?: string[];
}

const positive = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x > 0;
const nonNegative = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x >= 0;

/** Every problem found, as "where: what"; empty when the results are well formed. */
export function checkResults(r: BenchResults): string[] {
  const problems: string[] = [];
  const need = (ok: boolean, where: string) => { if (!ok) problems.push(where); };
  need(r.schema === 'webq-bench/1', 'schema');
  need(['smoke', 'quick', 'full'].includes(r.matrix), 'matrix');
  need(positive(r.seconds) && r.runs >= 1 && r.warmup >= 0, 'seconds/runs/warmup');
  need(r.browsers.length > 0 && r.browsers.every((b) => b.version.length > 0 && b.adapter.length > 0), 'browsers');
  need(r.endToEnd.length > 0, 'endToEnd: empty');
  r.endToEnd.forEach((e, i) => {
    const at = `endToEnd[${i}] ${e.browser}/${e.model}/${e.backend}/${e.bits}`;
    for (const k of ['medianMs', 'minMs', 'maxMs', 'loadMs', 'modelBytes', 'originalBytes'] as const) need(positive(e[k]), `${at}: ${k} = ${e[k]}`);
    need(nonNegative(e.medianInferenceMs), `${at}: medianInferenceMs`);
    need(Number.isFinite(e.memoryReductionPercent) && e.memoryReductionPercent < 100, `${at}: memoryReductionPercent`);
    need(Number.isFinite(e.cosine) && e.cosine <= 1 + 1e-9 && e.cosine >= -1 - 1e-9, `${at}: cosine = ${e.cosine}`);
    need(nonNegative(e.maxAbsDiff), `${at}: maxAbsDiff`);
    need(e.runs >= 1 && e.minMs <= e.medianMs && e.medianMs <= e.maxMs, `${at}: runs/min/median/max`);
  });
  r.hops.forEach((h, i) => {
    const at = `hops[${i}] ${h.browser}/${h.model}/${h.backend}`;
    for (const k of ['webqMedianMs', 'ortMedianMs', 'ratio', 'goalMs'] as const) need(positive(h[k]), `${at}: ${k} = ${h[k]}`);
    need(Number.isFinite(h.overheadMs) && h.rounds >= 1, `${at}: overheadMs/rounds`);
  });
  r.loads.forEach((l, i) => need(positive(l.medianMs) && l.samples >= 1 && Object.values(l.phases).every(nonNegative), `loads[${i}] ${l.model}/${l.kind}`));
  r.quantization.forEach((q, i) => need(positive(q.params) && positive(q.prepareMs) && positive(q.msPerMParam), `quantization[${i}] ${q.model}/${q.bits}`));
  return problems;
}
