/**
 * One measurement per function, each on an open BenchPage: end to end (a matrix cell), webq vs the plain
 * onnxruntime-web page (hops), and cold / warm / in-memory loads. Node only orchestrates and compares; the
 * times come from the page.
 */
import type { Workload } from '../models/workloads.ts';
import { OCR_TEXT } from '../models/workloads.ts';
import type { BaselinePolicy } from '../page/wire.ts';
import type { BenchPage } from './browsers.ts';
import type { Cell } from './matrix.ts';
import type { EndToEndRow, HopRow, LoadKind, LoadRow, QuantRow } from './schema.ts';
import { cosine, maxAbsDiff, median } from './stats.ts';

export interface Context {
  page: BenchPage;
  origin: string;
  runs: number;
  warmup: number;
  /** "vendor / architecture / description" of the page's WebGPU adapter */
  adapter: string;
  wasmThreads: number;
  /** fp32 outputs per browser/model/backend: what every other precision is compared with */
  references: Map<string, { dims: number[]; data: number[] }>;
  /** a fresh token per benchmark run, so "cold" URLs are never in a cache left from before */
  runId: string;
}

const optionsFor = (cell: Cell) => ({ backend: cell.backend, ...(cell.bits !== 32 ? { bits: cell.bits } : {}) });
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
  if (w.single) await page.call('setInputs', w.id, w.single());
  if (w.stream) await page.call('setStream', w.id, w.stream());
}

export async function endToEnd(ctx: Context, w: Workload, cell: Cell): Promise<{ row: EndToEndRow; quant?: QuantRow }> {
  const url = `${ctx.origin}${w.path}`;
  const options = optionsFor(cell);
  const load = await ctx.page.call('webqLoad', url, options);
  try {
    const result = w.stream
      ? await ctx.page.call('webqStream', url, w.id, options, ctx.warmup)
      : await ctx.page.call('webqRun', url, w.id, options, ctx.runs, ctx.warmup, w.outputName);
    const key = `${ctx.page.name}/${w.id}/${cell.backend}`;
    if (cell.bits === 32) ctx.references.set(key, result.output);
    const reference = ctx.references.get(key);
    if (!reference) throw new Error(`${key}: no fp32 reference measured first`);
    const m = result.metrics as { modelBytes: number; originalBytes: number; memoryReductionPercent: number; quantizationBits: number; fallbacks: string[] };
    const info = load.info as unknown as { scheme: string | null; groupSize: number | null };
    const text = w.decode?.(result.output.data, result.output.dims);
    const wall = result.series.wallMs;
    const row: EndToEndRow = {
      browser: ctx.page.name, device: device(ctx, cell.backend), model: w.id, backend: cell.backend, bits: cell.bits,
      gotBits: m.quantizationBits, scheme: info.scheme, groupSize: info.groupSize,
      runs: wall.length, warmup: ctx.warmup,
      medianMs: median(wall), medianInferenceMs: median(result.series.inferenceMs), minMs: Math.min(...wall), maxMs: Math.max(...wall),
      loadMs: load.wallMs,
      modelBytes: m.modelBytes, originalBytes: m.originalBytes, memoryReductionPercent: m.memoryReductionPercent,
      cosine: cosine(result.output.data, reference.data), maxAbsDiff: maxAbsDiff(result.output.data, reference.data),
      ...(text !== undefined ? { text, textMatches: text === OCR_TEXT } : {}),
      fallbacks: summarize(m.fallbacks),
    };
    const prepareMs = phaseMs(load.phases.quantize);
    const quant: QuantRow | undefined = prepareMs !== undefined && prepareMs > 0 && cell.bits !== 32
      ? { browser: ctx.page.name, model: w.id, bits: cell.bits, params: m.originalBytes / 4, prepareMs, msPerMParam: prepareMs / (m.originalBytes / 4 / 1e6) }
      : undefined;
    return { row, quant };
  } finally {
    await ctx.page.call('unload', url);
  }
}

/** webq and the plain onnxruntime-web baseline, interleaved run by run in the same tab, on identical bytes. */
export async function hops(ctx: Context, w: Workload, cell: Cell): Promise<HopRow> {
  const url = `${ctx.origin}${w.path}`;
  const options = optionsFor(cell);
  const load = await ctx.page.call('webqLoad', url, options);
  const info = load.info as unknown as { scheme: BaselinePolicy['scheme']; groupSize: number };
  const policy: BaselinePolicy | null = cell.bits === 32 ? null : { bits: cell.bits as BaselinePolicy['bits'], scheme: info.scheme, groupSize: info.groupSize };
  if (cell.backend === 'webnn') throw new Error('the baseline page runs wasm and webgpu only');
  // The baseline fetches the same file under another query, so webq's cache and the page's fetch never meet.
  const baselineUrl = `${url}?baseline`;
  await ctx.page.call('baselineLoad', baselineUrl, cell.backend, policy);
  try {
    const r = w.stream
      ? await ctx.page.call('interleavedStream', url, baselineUrl, w.id, options, ctx.warmup)
      : await ctx.page.call('interleaved', url, baselineUrl, w.id, options, ctx.runs, ctx.warmup);
    const webqMs = median(r.webq.wallMs);
    const ortMs = median(r.ort.wallMs);
    const goalMs = Math.max(1, 0.05 * ortMs);
    return {
      browser: ctx.page.name, model: w.id, backend: cell.backend, bits: cell.bits, rounds: r.webq.wallMs.length,
      webqMedianMs: webqMs, ortMedianMs: ortMs, overheadMs: webqMs - ortMs, ratio: webqMs / ortMs,
      webqInferenceMedianMs: median(r.webq.inferenceMs), ortInferenceMedianMs: median(r.ort.inferenceMs),
      goalMs, withinGoal: webqMs - ortMs <= goalMs,
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
  const base = `${ctx.origin}${w.path}`;
  const options = optionsFor(cell);
  const series: Record<LoadKind, { wallMs: number; phases: Record<string, { firstMs: number; lastMs: number }> }[]> = { cold: [], warm: [], memory: [] };
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
      browser: ctx.page.name, model: w.id, backend: cell.backend, bits: cell.bits, kind, samples,
      medianMs: median(series[kind].map((s) => s.wallMs)),
      phases: Object.fromEntries(names.map((n) => [n, median(series[kind].map((s) => phaseMs(s.phases[n]) ?? 0))])),
    };
  });
}
