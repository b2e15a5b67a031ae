/**
 * Compare mode: the same input at two precisions, side by side. Each side is loaded, warmed up with one run, then
 * timed over a few runs (the median is shown, since the first run of a session pays for compilation). Output
 * agreement is measured per output on the last run of each side.
 */
import type { PerformanceMetrics, Progress, RunResult, Tensor } from '../extension/shared/types';
import type { WireTensor } from '../extension/shared/tensor';
import type { Webq } from '../extension/page/client';
import { $, h } from '../extension/ui/dom';
import { formatBytes, formatMs, formatNumber } from '../extension/ui/format';
import { agreement } from '../extension/ui/tensors';
import { barChart } from './chart';

export const TIMED_RUNS = 3;

export interface Side { label: string; medianMs: number; metrics: PerformanceMetrics; outputs: Record<string, Tensor> }

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function measure(webq: Webq, url: string, input: Record<string, WireTensor>, options: Record<string, unknown>, label: string, call: { signal: AbortSignal; onProgress: (p: Progress) => void }, onStep: (text: string) => void): Promise<Side> {
  onStep(`${label}: loading and warming up`);
  let last: RunResult = await webq.run(url, input, { ...options, signal: call.signal, onProgress: call.onProgress });
  const times: number[] = [];
  for (let i = 0; i < TIMED_RUNS; i++) {
    onStep(`${label}: timed run ${i + 1} of ${TIMED_RUNS}`);
    last = await webq.run(url, input, { ...options, signal: call.signal });
    times.push(last.performanceMetrics.inferenceTimeMs);
  }
  return { label, medianMs: median(times), metrics: last.performanceMetrics, outputs: last.output as Record<string, Tensor> };
}

export function renderCompare(a: Side, b: Side): void {
  const names: [string, string] = [a.label, b.label];
  const measures = h('table', { 'data-webq': 'compare-table' },
    h('caption', { class: 'sr-only' }, 'Speed and size at each precision'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Measure'), h('th', { scope: 'col', class: 'num' }, a.label), h('th', { scope: 'col', class: 'num' }, b.label))),
    h('tbody', {},
      row('speed', `Inference (median of ${TIMED_RUNS})`, formatMs(a.medianMs), formatMs(b.medianMs)),
      row('size', 'Model bytes', formatBytes(a.metrics.modelBytes), formatBytes(b.metrics.modelBytes)),
      row('reduction', 'Memory reduction', `${a.metrics.memoryReductionPercent.toFixed(1)}%`, `${b.metrics.memoryReductionPercent.toFixed(1)}%`),
      row('backend', 'Backend', a.metrics.backend, b.metrics.backend)));
  const agreementRows = Object.keys(a.outputs).map((name) => {
    const x = a.outputs[name]!;
    const y = b.outputs[name];
    let cos = '—';
    let diff = '—';
    let cosine = NaN;
    if (y) {
      try {
        const r = agreement(x, y);
        cosine = r.cosine;
        cos = r.cosine.toFixed(6);
        diff = formatNumber(r.maxAbsDiff);
      } catch (err) { cos = (err as Error).message; }
    }
    const tr = h('tr', {}, h('th', { scope: 'row', class: 'mono' }, name), h('td', { class: 'num', 'data-cos': String(cosine) }, cos), h('td', { class: 'num', 'data-diff': '' }, diff));
    tr.dataset.output = name;
    return tr;
  });
  const agreementTable = h('table', { 'data-webq': 'agreement' },
    h('caption', { class: 'sr-only' }, `Output agreement of ${b.label} with ${a.label}`),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Output'), h('th', { scope: 'col', class: 'num' }, 'Cosine'), h('th', { scope: 'col', class: 'num' }, 'Max |diff|'))),
    h('tbody', {}, ...agreementRows));
  const chart = barChart([
    { label: 'Inference', a: a.medianMs, b: b.medianMs, format: formatMs },
    { label: 'Model bytes', a: a.metrics.modelBytes, b: b.metrics.modelBytes, format: formatBytes },
  ], names);
  $('[data-webq=compare-result]').replaceChildren(
    h('div', { class: 'table-scroll' }, measures), chart,
    h('h3', {}, `Agreement of ${b.label} with ${a.label}`), h('div', { class: 'table-scroll' }, agreementTable),
    a.metrics.fallbacks.length || b.metrics.fallbacks.length
      ? h('p', { class: 'note' }, `Fallbacks — ${a.label}: ${a.metrics.fallbacks.join('; ') || 'none'}; ${b.label}: ${b.metrics.fallbacks.join('; ') || 'none'}`)
      : '');
}

function row(key: string, label: string, a: string, b: string): HTMLTableRowElement {
  const tr = h('tr', {}, h('th', { scope: 'row' }, label), h('td', { class: 'num' }, a), h('td', { class: 'num' }, b));
  tr.dataset.measure = key;
  return tr;
}
