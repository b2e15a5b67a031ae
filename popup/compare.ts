/**
 * Compare mode: the same input at two precisions, side by side. Each side is loaded, warmed up with one run, then
 * timed over a few runs (the median is shown, since the first run of a session pays for compilation). Agreement is
 * measured on the last run of each side: per output (cosine, largest difference) for raw models; for task models,
 * by what the task returns (cosine of each input's embeddings, the same top label and |Δscore|, the same text).
 */
import type { ModelRef, PerformanceMetrics, Progress, RunResult, Task, Tensor } from '../extension/shared/types';
import type { Webq } from '../extension/page/client';
import { $, h } from '../extension/ui/dom';
import { formatBytes, formatMs, formatNumber } from '../extension/ui/format';
import { agreement } from '../extension/ui/tensors';
import { taskAgreement, type TaskAgreement } from '../extension/ui/task-io';
import { barChart } from './chart';

export const TIMED_RUNS = 3;

export interface Side {
  label: string;
  medianMs: number;
  metrics: PerformanceMetrics;
  output: unknown;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** `input()` gives the run input afresh for each call (a task's audio array is copied per call). */
export async function measure(
  webq: Webq,
  model: ModelRef,
  input: () => unknown,
  options: Record<string, unknown>,
  label: string,
  call: { signal: AbortSignal; onProgress: (p: Progress) => void },
  onStep: (text: string) => void,
): Promise<Side> {
  onStep(`${label}: loading and warming up`);
  let last: RunResult = await webq.run(model, input(), {
    ...options,
    signal: call.signal,
    onProgress: call.onProgress,
  });
  const times: number[] = [];
  for (let i = 0; i < TIMED_RUNS; i++) {
    onStep(`${label}: timed run ${i + 1} of ${TIMED_RUNS}`);
    last = await webq.run(model, input(), { ...options, signal: call.signal });
    times.push(last.performanceMetrics.inferenceTimeMs);
  }
  return { label, medianMs: median(times), metrics: last.performanceMetrics, output: last.output };
}

/** `task`: the loaded model's task (null for a raw model); `names` label a task's inputs (text lines, files). */
export function renderCompare(a: Side, b: Side, task: Task | null = null, names: string[] = []): void {
  const measures = h(
    'table',
    { 'data-webq': 'compare-table' },
    h('caption', { class: 'sr-only' }, 'Speed and size at each precision'),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, 'Measure'),
        h('th', { scope: 'col', class: 'num' }, a.label),
        h('th', { scope: 'col', class: 'num' }, b.label),
      ),
    ),
    h(
      'tbody',
      {},
      row('speed', `Inference (median of ${TIMED_RUNS})`, formatMs(a.medianMs), formatMs(b.medianMs)),
      row('size', 'Model bytes', formatBytes(a.metrics.modelBytes), formatBytes(b.metrics.modelBytes)),
      row(
        'reduction',
        'Memory reduction',
        `${a.metrics.memoryReductionPercent.toFixed(1)}%`,
        `${b.metrics.memoryReductionPercent.toFixed(1)}%`,
      ),
      row('backend', 'Backend', a.metrics.backend, b.metrics.backend),
    ),
  );
  const agreementTable = task ? taskAgreementTable(task, a, b, names) : tensorAgreementTable(a, b);
  const chart = barChart(
    [
      { label: 'Inference', a: a.medianMs, b: b.medianMs, format: formatMs },
      { label: 'Model bytes', a: a.metrics.modelBytes, b: b.metrics.modelBytes, format: formatBytes },
    ],
    [a.label, b.label],
  );
  $('[data-webq=compare-result]').replaceChildren(
    h('div', { class: 'table-scroll' }, measures),
    chart,
    h('h3', {}, `Agreement of ${b.label} with ${a.label}`),
    h('div', { class: 'table-scroll' }, agreementTable),
    a.metrics.fallbacks.length || b.metrics.fallbacks.length
      ? h(
          'p',
          { class: 'note' },
          `Fallbacks — ${a.label}: ${a.metrics.fallbacks.join('; ') || 'none'}; ${b.label}: ${b.metrics.fallbacks.join('; ') || 'none'}`,
        )
      : '',
  );
}

function tensorAgreementTable(a: Side, b: Side): HTMLTableElement {
  const outputsA = a.output as Record<string, Tensor>;
  const outputsB = b.output as Record<string, Tensor>;
  const agreementRows = Object.keys(outputsA).map((name) => {
    const x = outputsA[name]!;
    const y = outputsB[name];
    let cos = '—';
    let diff = '—';
    let cosine = NaN;
    if (y) {
      try {
        const r = agreement(x, y);
        cosine = r.cosine;
        cos = r.cosine.toFixed(6);
        diff = formatNumber(r.maxAbsDiff);
      } catch (err) {
        cos = (err as Error).message;
      }
    }
    const tr = h(
      'tr',
      {},
      h('th', { scope: 'row', class: 'mono' }, name),
      h('td', { class: 'num', 'data-cos': String(cosine) }, cos),
      h('td', { class: 'num', 'data-diff': '' }, diff),
    );
    tr.dataset.output = name;
    return tr;
  });
  return h(
    'table',
    { 'data-webq': 'agreement' },
    h('caption', { class: 'sr-only' }, `Output agreement of ${b.label} with ${a.label}`),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, 'Output'),
        h('th', { scope: 'col', class: 'num' }, 'Cosine'),
        h('th', { scope: 'col', class: 'num' }, 'Max |diff|'),
      ),
    ),
    h('tbody', {}, ...agreementRows),
  );
}

const yesNo = (same: boolean) => (same ? 'yes' : 'no');

function taskAgreementTable(task: Task, a: Side, b: Side, names: string[]): HTMLElement {
  let r: TaskAgreement;
  try {
    r = taskAgreement(task, a.output, b.output);
  } catch (err) {
    return h('p', { class: 'error', 'data-webq': 'agreement' }, (err as Error).message);
  }
  const name = (i: number) => names[i] ?? `input ${i + 1}`;
  /** Column headers; a trailing '#' marks a numeric column (right-aligned). */
  const head = (...cols: string[]) =>
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ...cols.map((c) => h('th', { scope: 'col', class: c.endsWith('#') ? 'num' : '' }, c.replace(/#$/, ''))),
      ),
    );
  const caption = h('caption', { class: 'sr-only' }, `Agreement of ${b.label} with ${a.label}`);
  let body: HTMLTableRowElement[];
  let header: HTMLTableSectionElement;
  switch (r.kind) {
    case 'embeddings':
      header = head('Input', 'Cosine#', 'Max |diff|#');
      body = r.rows.map((x, i) =>
        h(
          'tr',
          { 'data-output': String(i) },
          h('th', { scope: 'row' }, name(i)),
          h('td', { class: 'num', 'data-cos': String(x.cosine) }, x.cosine.toFixed(6)),
          h('td', { class: 'num', 'data-diff': String(x.maxAbsDiff) }, formatNumber(x.maxAbsDiff)),
        ),
      );
      break;
    case 'labels':
      header = head('Image', `Top label (${a.label})`, `Top label (${b.label})`, 'Same#', '|Δscore|#');
      body = r.rows.map((x, i) =>
        h(
          'tr',
          { 'data-output': String(i) },
          h('th', { scope: 'row' }, name(i)),
          h('td', {}, x.a ? `${x.a.label} (${(x.a.score * 100).toFixed(1)}%)` : '—'),
          h('td', {}, x.b ? `${x.b.label} (${(x.b.score * 100).toFixed(1)}%)` : '—'),
          h('td', { class: 'num', 'data-same': String(x.same) }, yesNo(x.same)),
          h(
            'td',
            { class: 'num', 'data-delta': x.deltaScore === null ? '' : String(x.deltaScore) },
            x.deltaScore === null ? `not in ${b.label}'s list` : `${(x.deltaScore * 100).toFixed(2)} points`,
          ),
        ),
      );
      break;
    case 'text':
      header = head('Input', `Text (${a.label})`, `Text (${b.label})`, 'Same#');
      body = [
        h(
          'tr',
          { 'data-output': '0' },
          h('th', { scope: 'row' }, name(0)),
          h('td', {}, r.a),
          h('td', {}, r.b),
          h('td', { class: 'num', 'data-same': String(r.same) }, yesNo(r.same)),
        ),
      ];
      break;
  }
  return h('table', { 'data-webq': 'agreement', 'data-kind': r.kind }, caption, header, h('tbody', {}, ...body));
}

function row(key: string, label: string, a: string, b: string): HTMLTableRowElement {
  const tr = h('tr', {}, h('th', { scope: 'row' }, label), h('td', { class: 'num' }, a), h('td', { class: 'num' }, b));
  tr.dataset.measure = key;
  return tr;
}
