/**
 * One measurement per function, each on an open BenchPage: end to end (a matrix cell), webq vs the plain
 * onnxruntime-web page (hops), and cold / warm / in-memory loads. Node only orchestrates and compares; the
 * times come from the page.
 */
import type { GenWorkload } from '../models/generation';
import type { RawWorkload, TaskWorkload, Workload } from '../models/workloads';
import type { BaselinePolicy, TaskOutput } from '../page/wire';
import type { BenchPage } from './browsers';
import { HOPS_WARMUP_MS, type Cell, type GenCell } from './matrix';
import type { EndToEndRow, GenerationRow, HopRow, LoadKind, LoadRow, QuantRow } from './schema';
import { cosine, maxAbsDiff, median } from './stats';

export interface Context {
  page: BenchPage;
  origin: string;
  runs: number;
  warmup: number;
  /** An end-to-end cell's warm-up lasts at least this long (Matrix.warmupMs). */
  warmupMs: number;
  /** "vendor / architecture / description" of the page's WebGPU adapter */
  adapter: string;
  wasmThreads: number;
  /** fp32 outputs per browser/model/backend: what every other precision is compared with */
  references: Map<string, { dims: number[]; data: number[] } | TaskOutput>;
  /** a fresh token per benchmark run, so "cold" URLs are never in a cache left from before */
  runId: string;
  /** the model host the browser's options page holds now (null: the default, never set by the bench) */
  modelHost: string | null;
}

/**
 * Load options of a cell. A raw URL runs its weights as stored unless `bits` asks otherwise; a registry id runs at
 * its profile's precision unless told, so its fp32 cell says `useQuantization: false`.
 */
const optionsFor = (cell: Cell, w?: Workload) => ({
  backend: cell.backend,
  ...(cell.bits !== 32 ? { bits: cell.bits } : w?.kind === 'task' ? { useQuantization: false } : {}),
  ...(cell.embeddings === 32
    ? { mixedPrecision: true, attentionPrecision: Math.max(cell.bits, 4), embeddingPrecision: 32 }
    : {}),
});
const phaseMs = (p: { firstMs: number; lastMs: number } | undefined) => (p ? p.lastMs - p.firstMs : undefined);

function device(ctx: Context, backend: Cell['backend']): string {
  if (backend === 'webgpu') return ctx.adapter;
  if (backend === 'webnn') return 'WebNN context (device chosen by the browser)';
  return `CPU: wasm SIMD, ${ctx.wasmThreads} thread${ctx.wasmThreads === 1 ? '' : 's'}`;
}

/** Per-weight notes ("conv2d_10.w_0 (Conv): stored at 8, not 4") folded into one line per message with a count. */
function summarize(fallbacks: string[]): string[] {
  const counts = new Map<string, number>();
  for (const f of fallbacks) {
    const message = f.replace(/^\S+ \((\w+)\): /, '$1: ');
    counts.set(message, (counts.get(message) ?? 0) + 1);
  }
  return [...counts].map(([message, n]) => (n > 1 ? `${message} (×${n})` : message));
}

/** Sends the workload's inputs to the page once (named by the workload id). */
export async function prepareInputs(page: BenchPage, w: Workload): Promise<void> {
  if (w.kind === 'task') {
    await page.call('setTaskInput', w.id, await w.input());
    return;
  }
  if (w.single) await page.call('setInputs', w.id, w.single());
  if (w.stream) await page.call('setStream', w.id, w.stream());
}

/** Points the browser's model host at the workload's mirror (through the options page), unless it is there already. */
export async function useMirror(ctx: Context, w: Pick<TaskWorkload, 'mirror'>): Promise<void> {
  const host = `${ctx.origin}${w.mirror}`;
  if (ctx.modelHost === host) return;
  await ctx.page.setModelHost(host);
  ctx.modelHost = host;
}

type Metrics = {
  modelBytes: number;
  originalBytes: number;
  memoryReductionPercent: number;
  quantizationBits: number;
  fallbacks: string[];
};
type LoadResult = {
  wallMs: number;
  phases: Record<string, { firstMs: number; lastMs: number; busyMs?: number }>;
  info: Record<string, unknown>;
};
type Measured = { series: { wallMs: number[]; inferenceMs: number[] }; metrics: Record<string, unknown> };

/** The row's figures every workload shares, and the quantization time of the first load of a quantized variant. */
function rowOf(
  ctx: Context,
  w: Workload,
  cell: Cell,
  load: LoadResult,
  result: Measured,
  agreement: Pick<EndToEndRow, 'cosine' | 'maxAbsDiff'> & Partial<EndToEndRow>,
): { row: EndToEndRow; quant?: QuantRow } {
  const m = result.metrics as Metrics;
  const info = load.info as unknown as { scheme: string | null; groupSize: number | null };
  const wall = result.series.wallMs;
  const row: EndToEndRow = {
    browser: ctx.page.name,
    device: device(ctx, cell.backend),
    model: w.id,
    backend: cell.backend,
    bits: cell.bits,
    ...(cell.embeddings ? { embeddings: cell.embeddings } : {}),
    gotBits: m.quantizationBits,
    scheme: info.scheme,
    groupSize: info.groupSize,
    runs: wall.length,
    warmup: ctx.warmup,
    medianMs: median(wall),
    medianInferenceMs: median(result.series.inferenceMs),
    minMs: Math.min(...wall),
    maxMs: Math.max(...wall),
    loadMs: load.wallMs,
    modelBytes: m.modelBytes,
    originalBytes: m.originalBytes,
    memoryReductionPercent: m.memoryReductionPercent,
    ...agreement,
    ...(w.kind === 'task' ? { registryId: w.model } : {}),
    fallbacks: summarize(m.fallbacks),
  };
  // busyMs leaves out what happens between a task model's graphs (the next graph's download); one graph: last − first.
  const q = load.phases.quantize;
  const prepareMs = q ? (q.busyMs ?? phaseMs(q)!) : undefined;
  const quant: QuantRow | undefined =
    prepareMs !== undefined && prepareMs > 0 && cell.bits !== 32
      ? {
          browser: ctx.page.name,
          model: w.id,
          bits: cell.bits,
          ...(cell.embeddings ? { embeddings: cell.embeddings } : {}),
          params: m.originalBytes / 4,
          prepareMs,
          msPerMParam: prepareMs / (m.originalBytes / 4 / 1e6),
        }
      : undefined;
  return { row, quant };
}

function referenceFor<T>(ctx: Context, w: Workload, cell: Cell, output: T): T {
  const key = `${ctx.page.name}/${w.id}/${cell.backend}`;
  if (cell.bits === 32 && !cell.embeddings) ctx.references.set(key, output as never);
  const reference = ctx.references.get(key);
  if (!reference) throw new Error(`${key}: no fp32 reference measured first`);
  return reference as T;
}

export async function endToEnd(ctx: Context, w: Workload, cell: Cell): Promise<{ row: EndToEndRow; quant?: QuantRow }> {
  return w.kind === 'task' ? taskEndToEnd(ctx, w, cell) : rawEndToEnd(ctx, w, cell);
}

async function rawEndToEnd(ctx: Context, w: RawWorkload, cell: Cell): Promise<{ row: EndToEndRow; quant?: QuantRow }> {
  const url = `${ctx.origin}${w.path}`;
  const options = optionsFor(cell, w);
  const load = await ctx.page.call('webqLoad', url, options);
  try {
    const result = w.stream
      ? await ctx.page.call('webqStream', url, w.id, options, ctx.warmup, HOPS_WARMUP_MS)
      : await ctx.page.call('webqRun', url, w.id, options, ctx.runs, ctx.warmup, ctx.warmupMs, w.outputName);
    const reference = referenceFor(ctx, w, cell, result.output);
    const text = w.decode?.(result.output.data, result.output.dims);
    return rowOf(ctx, w, cell, load, result, {
      cosine: cosine(result.output.data, reference.data),
      maxAbsDiff: maxAbsDiff(result.output.data, reference.data),
      ...(text !== undefined ? { text, textMatches: text === w.expectedText, textReference: 'truth' as const } : {}),
    });
  } finally {
    await ctx.page.call('unload', url);
  }
}

/** A registry id through the model host's mirror: `webq.load(id)`, then `webq.run(id, input)` with the page's input. */
async function taskEndToEnd(
  ctx: Context,
  w: TaskWorkload,
  cell: Cell,
): Promise<{ row: EndToEndRow; quant?: QuantRow }> {
  await useMirror(ctx, w);
  const options = optionsFor(cell, w);
  const load = await ctx.page.call('webqLoad', w.model, options);
  try {
    const result = await ctx.page.call(
      'webqTask',
      w.model,
      w.id,
      { ...options, ...w.runOptions },
      ctx.runs,
      ctx.warmup,
      ctx.warmupMs,
    );
    const reference = referenceFor(ctx, w, cell, result.output);
    return rowOf(ctx, w, cell, load, result, agreementOf(result.output, reference));
  } finally {
    await ctx.page.call('unload', w.model);
  }
}

/** A task output against the fp32 run's: embeddings by cosine; labels by their probabilities and the top one; text as
 * text. */
export function agreementOf(
  out: TaskOutput,
  ref: TaskOutput,
): Pick<EndToEndRow, 'cosine' | 'maxAbsDiff'> & Partial<EndToEndRow> {
  if (out.kind === 'embedding' && ref.kind === 'embedding')
    return { cosine: cosine(out.data, ref.data), maxAbsDiff: maxAbsDiff(out.data, ref.data) };
  if (out.kind === 'labels' && ref.kind === 'labels') {
    const scores = new Map(out.labels.map((l) => [l.label, l.score]));
    const mine = ref.labels.map((l) => scores.get(l.label) ?? 0);
    const theirs = ref.labels.map((l) => l.score);
    return {
      cosine: cosine(mine, theirs),
      maxAbsDiff: maxAbsDiff(mine, theirs),
      label: out.labels[0]!.label,
      labelMatches: out.labels[0]!.label === ref.labels[0]!.label,
      scoreDelta: mine[0]! - theirs[0]!,
    };
  }
  if (out.kind === 'text' && ref.kind === 'text')
    return {
      cosine: null,
      maxAbsDiff: null,
      text: out.text,
      textMatches: out.text === ref.text,
      textReference: 'fp32',
    };
  throw new Error(`outputs of different kinds: ${out.kind} vs the reference's ${ref.kind}`);
}

/** webq and the plain onnxruntime-web baseline, interleaved run by run in the same tab, on identical bytes. */
export async function hops(ctx: Context, w: Workload, cell: Cell): Promise<HopRow> {
  if (w.kind === 'task') throw new Error('the baseline page runs raw ONNX models only, not registry ids');
  const url = `${ctx.origin}${w.path}`;
  const options = optionsFor(cell);
  const load = await ctx.page.call('webqLoad', url, options);
  const info = load.info as unknown as { scheme: BaselinePolicy['scheme']; groupSize: number };
  const policy: BaselinePolicy | null =
    cell.bits === 32
      ? null
      : { bits: cell.bits as BaselinePolicy['bits'], scheme: info.scheme, groupSize: info.groupSize };
  if (cell.backend === 'webnn') throw new Error('the baseline page runs wasm and webgpu only');
  // The baseline fetches the same file under another query, so webq's cache and the page's fetch never meet.
  const baselineUrl = `${url}?baseline`;
  await ctx.page.call('baselineLoad', baselineUrl, cell.backend, policy);
  try {
    const r = w.stream
      ? await ctx.page.call('interleavedStream', url, baselineUrl, w.id, options, ctx.warmup, HOPS_WARMUP_MS)
      : await ctx.page.call('interleaved', url, baselineUrl, w.id, options, ctx.runs, ctx.warmup, HOPS_WARMUP_MS);
    const webqMs = median(r.webq.wallMs);
    const ortMs = median(r.ort.wallMs);
    const goalMs = Math.max(1, 0.05 * ortMs);
    return {
      browser: ctx.page.name,
      model: w.id,
      backend: cell.backend,
      bits: cell.bits,
      rounds: r.webq.wallMs.length,
      webqMedianMs: webqMs,
      ortMedianMs: ortMs,
      overheadMs: webqMs - ortMs,
      ratio: webqMs / ortMs,
      webqInferenceMedianMs: median(r.webq.inferenceMs),
      ortInferenceMedianMs: median(r.ort.inferenceMs),
      goalMs,
      withinGoal: webqMs - ortMs <= goalMs,
    };
  } finally {
    await ctx.page.call('baselineRelease', baselineUrl);
    await ctx.page.call('unload', url);
  }
}

/**
 * Cold = a URL never seen (network, quantization, cache write, compile); warm = the same URL after unload (the
 * IndexedDB cache, compile); in-memory = load while it is loaded (the engine hands back the session).
 */
export async function loads(ctx: Context, w: Workload, cell: Cell, samples: number): Promise<LoadRow[]> {
  if (w.kind === 'task') throw new Error('cold loads need a fresh URL each time; a registry id has one');
  const base = `${ctx.origin}${w.path}`;
  const options = optionsFor(cell);
  const series: Record<LoadKind, { wallMs: number; phases: Record<string, { firstMs: number; lastMs: number }> }[]> = {
    cold: [],
    warm: [],
    memory: [],
  };
  for (let i = 0; i < samples; i++) {
    const url = `${base}?cold=${ctx.runId}-${cell.backend}-${cell.bits}-${i}`;
    series.cold.push(await ctx.page.call('webqLoad', url, options));
    await ctx.page.call('unload', url);
  }
  const url = `${base}?cold=${ctx.runId}-${cell.backend}-${cell.bits}-0`; // cached by the first cold load
  for (let i = 0; i < samples; i++) {
    series.warm.push(await ctx.page.call('webqLoad', url, options));
    series.memory.push(await ctx.page.call('webqLoad', url, options));
    await ctx.page.call('unload', url);
  }
  return (Object.keys(series) as LoadKind[]).map((kind) => {
    const names = [...new Set(series[kind].flatMap((s) => Object.keys(s.phases)))];
    return {
      browser: ctx.page.name,
      model: w.id,
      backend: cell.backend,
      bits: cell.bits,
      kind,
      samples,
      medianMs: median(series[kind].map((s) => s.wallMs)),
      phases: Object.fromEntries(names.map((n) => [n, median(series[kind].map((s) => phaseMs(s.phases[n]) ?? 0))])),
    };
  });
}

/** Where the bench server serves the .wasm files of the onnxruntime-web that transformers.js bundles (bench/run.ts). */
export const TRANSFORMERS_ORT_PATH = '/transformers-ort/';

/**
 * Text generation, webq vs transformers.js: both load the mirror's repo (webq by registry id, fp32 as stored;
 * transformers.js by repo name, dtype fp32), then rounds alternate `webq.stream` and transformers.js's pipeline on the
 * same chat messages, greedy, `maxNewTokens` new tokens each.
 */
export async function generation(
  ctx: Context,
  w: GenWorkload,
  cell: GenCell,
  maxNewTokens: number,
): Promise<GenerationRow> {
  await useMirror(ctx, w);
  const host = `${ctx.origin}${w.mirror}`;
  const options = { backend: cell.backend, useQuantization: false };
  await ctx.page.call('webqLoad', w.model, options);
  try {
    const tjs = await ctx.page.call(
      'transformersLoad',
      host,
      w.repo,
      cell.backend,
      `${ctx.origin}${TRANSFORMERS_ORT_PATH}`,
    );
    // The same file on the page's own onnxruntime-web (webq's version), under another query so no cache is shared.
    const config = JSON.parse(String((await w.files())['config.json'])) as Record<string, number>;
    const ortLoop = {
      url: `${host}/${w.repo}/resolve/main/onnx/model.onnx?baseline`,
      kvHeads: config.num_key_value_heads!,
      headDim: config.head_dim ?? config.hidden_size! / config.num_attention_heads!,
    };
    await ctx.page.call('baselineLoad', ortLoop.url, cell.backend, null);
    try {
      const r = await ctx.page.call(
        'interleavedGeneration',
        w.model,
        host,
        w.repo,
        cell.backend,
        w.messages,
        options,
        maxNewTokens,
        ctx.runs,
        ctx.warmup,
        HOPS_WARMUP_MS,
        ortLoop,
      );
      const first = r.webq[0]!;
      const same =
        r.webq.every((x) => x.promptTokens === first.promptTokens && sameIds(x.tokens, first.tokens)) &&
        r.transformers.every((x) => x.promptTokens === first.promptTokens && sameIds(x.tokens, first.tokens));
      const rate = (tokens: number, ms: number) => (tokens * 1000) / ms;
      const webq = {
        prefillTokensPerSecond: median(r.webq.map((x) => x.prefillTokensPerSecond)),
        decodeTokensPerSecond: median(r.webq.map((x) => x.decodeTokensPerSecond)),
        firstTokenMs: median(r.webq.map((x) => x.firstTokenMs)),
        wallMs: median(r.webq.map((x) => x.wallMs)),
        engineFirstTokenMs: median(r.webq.map((x) => x.timeToFirstTokenMs)),
      };
      const transformers = {
        prefillTokensPerSecond: median(r.transformers.map((x) => rate(x.promptTokens, x.prefillMs))),
        decodeTokensPerSecond: median(r.transformers.map((x) => rate(x.tokens.length - 1, x.decodeMs))),
        firstTokenMs: median(r.transformers.map((x) => x.firstTokenMs)),
        wallMs: median(r.transformers.map((x) => x.wallMs)),
      };
      return {
        browser: ctx.page.name,
        device: device(ctx, cell.backend),
        model: w.id,
        registryId: w.model,
        repo: w.repo,
        backend: cell.backend,
        bits: 32,
        rounds: r.webq.length,
        warmup: ctx.warmup,
        promptTokens: first.promptTokens,
        maxNewTokens,
        newTokens: first.tokens.length,
        sameTokens: same,
        webq,
        transformers,
        speedup: {
          prefill: webq.prefillTokensPerSecond / transformers.prefillTokensPerSecond,
          decode: webq.decodeTokensPerSecond / transformers.decodeTokensPerSecond,
          firstToken: transformers.firstTokenMs / webq.firstTokenMs,
          wall: transformers.wallMs / webq.wallMs,
        },
        tokens: { webq: first.tokens, transformers: r.transformers[0]!.tokens },
        ortInPage: {
          prefillTokensPerSecond: median(r.ort.map((x) => rate(first.promptTokens, x.prefillMs))),
          decodeTokensPerSecond: median(r.ort.map((x) => rate(x.tokens.length - 1, x.decodeMs))),
          sameTokens: r.ort.every((x) => sameIds(x.tokens, first.tokens)),
          version: await ctx.page.call('baselineVersion'),
        },
        transformersVersion: tjs.version,
        transformersOrtVersion: tjs.ortVersion,
      };
    } finally {
      await ctx.page.call('transformersRelease', host, w.repo, cell.backend);
      await ctx.page.call('baselineRelease', ortLoop.url);
    }
  } finally {
    await ctx.page.call('unload', w.model);
  }
}

const sameIds = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((x, i) => x === b[i]);
