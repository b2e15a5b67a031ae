/**
 * The shape of bench/results/bench-*.json, and a checker the smoke test (and bench/run.ts itself) use: every
 * figure must be finite and positive where a time or a size is meant. It never judges speed.
 */
import type { GenWorkloadId } from '../models/generation';
import type { WorkloadId } from '../models/workloads';

export type BrowserName = 'chromium' | 'firefox' | 'chromium-webnn';
export type Backend = 'wasm' | 'webgpu' | 'webnn';
export type Bits = 32 | 16 | 8 | 4 | 2;
/**
 * smoke: the e2e test's; quick: `npm run bench`; seed: the seed table's model sizes; generation: only the quick
 * matrix's text-generation rows; full: everything
 */
export type MatrixName = 'smoke' | 'quick' | 'seed' | 'generation' | 'full';

export interface BrowserEntry {
  name: BrowserName;
  version: string;
  /** "vendor / architecture / description" of the WebGPU adapter, from webq.capabilities() */
  adapter: string;
  emulated: boolean;
  webnn: boolean;
  /** the engine host's, from webq.capabilities() */
  wasmThreads: number;
  /** what the in-page baselines ran: the engine's count where the page can (absent in results before 2026-12-07) */
  baselineThreads?: number;
  how: string;
}

export interface EndToEndRow {
  browser: BrowserName;
  device: string;
  model: WorkloadId;
  backend: Backend;
  bits: Bits;
  /** 32: embedding tables kept at fp32 under mixed precision (see Cell in matrix.ts) */
  embeddings?: 32;
  /** what the engine gave (WebNN raises 2/4 to 8), with scheme and group size */
  gotBits: number;
  scheme: string | null;
  groupSize: number | null;
  runs: number;
  warmup: number;
  /** page wall clock per call (the number a site sees), and the runtime's own session.run */
  medianMs: number;
  medianInferenceMs: number;
  minMs: number;
  maxMs: number;
  loadMs: number;
  modelBytes: number;
  originalBytes: number;
  memoryReductionPercent: number;
  /**
   * Against fp32 on the same browser and backend: the output tensor (raw models), the embeddings (text), the label
   * probabilities lined up by label (images); null for speech, whose output is text.
   */
  cosine: number | null;
  maxAbsDiff: number | null;
  /** decoded text (OCR, speech); `textMatches` against `textReference`: the known text (OCR) or the fp32 run's (speech)
   * */
  text?: string;
  textMatches?: boolean;
  textReference?: 'truth' | 'fp32';
  /** image classification: the top label, whether fp32's top label is the same, and the fp32 top label's score here −
   * at fp32 */
  label?: string;
  labelMatches?: boolean;
  scoreDelta?: number;
  /** task models: the registry id passed to webq.run */
  registryId?: string;
  fallbacks: string[];
}

export interface HopRow {
  browser: BrowserName;
  model: WorkloadId;
  backend: Backend;
  bits: Bits;
  rounds: number;
  webqMedianMs: number;
  ortMedianMs: number;
  overheadMs: number;
  ratio: number;
  webqInferenceMedianMs: number;
  ortInferenceMedianMs: number;
  /** the goal: overhead under max(1 ms, 5 % of the baseline) */
  goalMs: number;
  withinGoal: boolean;
}

/** One runtime's side of a generation row: medians over the timed rounds, page clock unless said otherwise. */
export interface GenerationSide {
  /** prompt tokens / prefill time (webq: the engine's `prefillTokensPerSecond`; transformers.js: its streamer's) */
  prefillTokensPerSecond: number;
  /** (new tokens − 1) / time from the first to the last new token (webq: the engine's `decodeTokensPerSecond`) */
  decodeTokensPerSecond: number;
  /** the call → the first new token (webq: its first text delta) in the page */
  firstTokenMs: number;
  /** the call → the whole result in the page */
  wallMs: number;
}

/** webq vs transformers.js on the same hub files, same backend, same browser, greedy; interleaved round by round. */
export interface GenerationRow {
  browser: BrowserName;
  device: string;
  model: GenWorkloadId;
  registryId: string;
  repo: string;
  backend: 'wasm' | 'webgpu';
  /** 32: both run the repo's onnx/model.onnx as stored (webq with useQuantization: false) */
  bits: 32;
  rounds: number;
  warmup: number;
  promptTokens: number;
  maxNewTokens: number;
  newTokens: number;
  /** webq's and transformers.js's greedy tokens were the same in every round (and the prompts the same length) */
  sameTokens: boolean;
  webq: GenerationSide & {
    /** the engine's `timeToFirstTokenMs` (from the start of its decode loop, no messaging) */
    engineFirstTokenMs: number;
  };
  transformers: GenerationSide;
  /**
   * A plain greedy loop over the same file on the onnxruntime-web version webq's engine runs, in the page (prefill and
   * decode as for transformers.js): how much of a difference is the runtime's version rather than webq's path
   */
  ortInPage?: { prefillTokensPerSecond: number; decodeTokensPerSecond: number; sameTokens: boolean; version: string };
  /** webq ÷ transformers.js for the rates, transformers.js ÷ webq for the times: ≥ 1 = webq at least as fast */
  speedup: { prefill: number; decode: number; firstToken: number; wall: number };
  /** the first timed round's new token ids of each (what `sameTokens` compared) */
  tokens: { webq: number[]; transformers: number[] };
  transformersVersion: string;
  /** the onnxruntime-web that transformers.js bundles */
  transformersOrtVersion: string;
}

export type LoadKind = 'cold' | 'warm' | 'memory';
export interface LoadRow {
  browser: BrowserName;
  model: WorkloadId;
  backend: Backend;
  bits: Bits;
  kind: LoadKind;
  samples: number;
  medianMs: number;
  /** median ms spent in each progress phase (download, cache, quantize, compile) as the page saw it */
  phases: Record<string, number>;
}

export interface QuantRow {
  browser: BrowserName;
  model: WorkloadId;
  bits: Bits;
  embeddings?: 32;
  /** all weights of the model (originalBytes / 4), the figure the time is divided by */
  params: number;
  prepareMs: number;
  msPerMParam: number;
}

export interface BenchResults {
  schema: 'webq-bench/1';
  matrix: MatrixName;
  command: string;
  startedAt: string;
  seconds: number;
  runs: number;
  warmup: number;
  /** End-to-end cells warmed up for at least this long too (absent in results from before it existed). */
  warmupMs?: number;
  machine: {
    cpus: number;
    cpuModel: string;
    memoryGiB: number;
    os: string;
    node: string;
    /**
     * 1-minute load average at the start and the end, and the lowest and highest seen before each cell: above the
     * core count, other jobs shared the CPUs
     */
    loadAverage?: { start: number; end: number; min?: number; max?: number };
  };
  ortVersion: string;
  browsers: BrowserEntry[];
  endToEnd: EndToEndRow[];
  hops: HopRow[];
  loads: LoadRow[];
  quantization: QuantRow[];
  /** text generation, webq vs transformers.js (absent in results from before these rows existed) */
  generation?: GenerationRow[];
  /** what could not be measured and why (`browser`: where a matrix cell failed) */
  skipped: { what: string; why: string; browser?: BrowserName }[];
  /** remarks about the run that no figure carries (e.g. the machine was shared), printed in the report */
  notes?: string[];
}

const positive = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x > 0;
const nonNegative = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x >= 0;

/** Every problem found, as "where: what"; empty when the results are well formed. */
export function checkResults(r: BenchResults): string[] {
  const problems: string[] = [];
  const need = (ok: boolean, where: string) => {
    if (!ok) problems.push(where);
  };
  need(r.schema === 'webq-bench/1', 'schema');
  need(['smoke', 'quick', 'seed', 'generation', 'full'].includes(r.matrix), 'matrix');
  need(positive(r.seconds) && r.runs >= 1 && r.warmup >= 0, 'seconds/runs/warmup');
  need(r.browsers.length > 0 && r.browsers.every((b) => b.version.length > 0 && b.adapter.length > 0), 'browsers');
  need(r.endToEnd.length > 0 || r.matrix === 'generation', 'endToEnd: empty');
  need(r.matrix !== 'generation' || (r.generation ?? []).length > 0, 'generation: empty');
  (r.generation ?? []).forEach((g, i) => {
    const at = `generation[${i}] ${g.browser}/${g.model}/${g.backend}`;
    for (const side of ['webq', 'transformers'] as const)
      for (const k of ['prefillTokensPerSecond', 'decodeTokensPerSecond', 'firstTokenMs', 'wallMs'] as const)
        need(positive(g[side][k]), `${at}: ${side}.${k} = ${g[side][k]}`);
    for (const k of ['prefill', 'decode', 'firstToken', 'wall'] as const)
      need(positive(g.speedup[k]), `${at}: speedup.${k} = ${g.speedup[k]}`);
    need(
      g.rounds >= 1 && g.promptTokens >= 1 && g.newTokens >= 2 && g.newTokens <= g.maxNewTokens,
      `${at}: rounds/promptTokens/newTokens`,
    );
    need(typeof g.sameTokens === 'boolean', `${at}: sameTokens`);
  });
  r.endToEnd.forEach((e, i) => {
    const at = `endToEnd[${i}] ${e.browser}/${e.model}/${e.backend}/${e.bits}`;
    for (const k of ['medianMs', 'minMs', 'maxMs', 'loadMs', 'modelBytes', 'originalBytes'] as const)
      need(positive(e[k]), `${at}: ${k} = ${e[k]}`);
    need(nonNegative(e.medianInferenceMs), `${at}: medianInferenceMs`);
    need(Number.isFinite(e.memoryReductionPercent) && e.memoryReductionPercent < 100, `${at}: memoryReductionPercent`);
    // Only a text output has no cosine; everything else is compared number by number with fp32.
    if (e.cosine === null)
      need(e.text !== undefined && e.maxAbsDiff === null, `${at}: cosine is null without a text output`);
    else
      need(
        Number.isFinite(e.cosine) && e.cosine <= 1 + 1e-9 && e.cosine >= -1 - 1e-9 && nonNegative(e.maxAbsDiff),
        `${at}: cosine = ${e.cosine}, maxAbsDiff = ${e.maxAbsDiff}`,
      );
    if (e.label !== undefined)
      need(
        typeof e.labelMatches === 'boolean' && Number.isFinite(e.scoreDelta),
        `${at}: label without labelMatches/scoreDelta`,
      );
    if (e.text !== undefined) need(typeof e.textMatches === 'boolean', `${at}: text without textMatches`);
    need(e.runs >= 1 && e.minMs <= e.medianMs && e.medianMs <= e.maxMs, `${at}: runs/min/median/max`);
  });
  r.hops.forEach((h, i) => {
    const at = `hops[${i}] ${h.browser}/${h.model}/${h.backend}`;
    for (const k of ['webqMedianMs', 'ortMedianMs', 'ratio', 'goalMs'] as const)
      need(positive(h[k]), `${at}: ${k} = ${h[k]}`);
    need(Number.isFinite(h.overheadMs) && h.rounds >= 1, `${at}: overheadMs/rounds`);
  });
  r.loads.forEach((l, i) =>
    need(
      positive(l.medianMs) && l.samples >= 1 && Object.values(l.phases).every(nonNegative),
      `loads[${i}] ${l.model}/${l.kind}`,
    ),
  );
  r.quantization.forEach((q, i) =>
    need(
      positive(q.params) && positive(q.prepareMs) && positive(q.msPerMParam),
      `quantization[${i}] ${q.model}/${q.bits}`,
    ),
  );
  return problems;
}
