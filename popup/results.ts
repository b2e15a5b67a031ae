/** A run's outputs (summarised per output) and its performanceMetrics. */
import type { PerformanceMetrics, Tensor } from '../extension/shared/types';
import { $, h } from '../extension/ui/dom';
import { bitsLabel, formatBytes, formatMs, formatNumber } from '../extension/ui/format';
import { summarize } from '../extension/ui/tensors';

export type Outputs = Record<string, Tensor>;

export function outputsTable(outputs: Outputs): HTMLTableElement {
  const rows = Object.entries(outputs).map(([name, t]) => {
    const s = summarize(t);
    const tr = h(
      'tr',
      {},
      h('th', { scope: 'row', class: 'mono' }, name),
      h('td', {}, `${s.type} [${s.dims.join('×')}]`),
      h('td', { class: 'num' }, formatNumber(s.min)),
      h('td', { class: 'num' }, formatNumber(s.max)),
      h('td', { class: 'num' }, formatNumber(s.mean)),
      h(
        'td',
        { class: 'mono first' },
        s.first.map(formatNumber).join(', ') +
          (s.count > s.first.length ? ', …' : '') +
          (s.nonFinite ? ` (${s.nonFinite} not finite)` : ''),
      ),
    );
    tr.dataset.output = name;
    return tr;
  });
  return h(
    'table',
    { 'data-webq': 'outputs' },
    h('caption', { class: 'sr-only' }, 'Outputs'),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ...['Output', 'Type and dims', 'Min', 'Max', 'Mean', 'First values'].map((c, i) =>
          h('th', { scope: 'col', class: i >= 2 && i <= 4 ? 'num' : '' }, c),
        ),
      ),
    ),
    h('tbody', {}, ...rows),
  );
}

export function metricsList(m: PerformanceMetrics): HTMLDListElement {
  const rows: [string, string, string][] = [
    ['inference', 'Inference', formatMs(m.inferenceTimeMs)],
    ['total', 'Total (call to result)', formatMs(m.totalTimeMs)],
    ...(m.loadTimeMs !== undefined ? [['load', 'Load', formatMs(m.loadTimeMs)] as [string, string, string]] : []),
    ['backend', 'Backend', m.backend],
    [
      'bits',
      'Weights',
      `${bitsLabel(m.quantizationBits)}${m.quantizationScheme ? ` ${m.quantizationScheme}` : ''}${m.mixedPrecision ? ', mixed precision' : ''}`,
    ],
    ['model-bytes', 'Model bytes', `${formatBytes(m.modelBytes)} of ${formatBytes(m.originalBytes)} at fp32`],
    ['reduction', 'Memory reduction', `${m.memoryReductionPercent.toFixed(1)}%`],
    ['profile', 'Profile', `${m.profile} (${m.browser})`],
    ['fallbacks', 'Fallbacks', m.fallbacks.length ? m.fallbacks.join('; ') : 'none'],
  ];
  return h(
    'dl',
    { 'data-webq': 'metrics' },
    ...rows.flatMap(([key, label, value]) => {
      const dd = h('dd', {}, value);
      dd.dataset.metric = key;
      return [h('dt', {}, label), dd];
    }),
  );
}

export function renderRun(outputs: Outputs, metrics: PerformanceMetrics): void {
  $('[data-webq=result]').replaceChildren(
    h('h3', {}, 'Outputs'),
    h('div', { class: 'table-scroll' }, outputsTable(outputs)),
    h('h3', {}, 'Performance'),
    metricsList(metrics),
  );
}
