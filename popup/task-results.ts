/**
 * A task model's output (SPEC §5), by task: embeddings as a summary (dims, tokens per input, L2 norm, first values),
 * labels as a table with scores as percentages and bars, a transcript as text. The metrics follow, as for raw runs.
 */
import type { PerformanceMetrics, Task } from '../extension/shared/types';
import { $, definitions, h } from '../extension/ui/dom';
import { formatNumber } from '../extension/ui/format';
import {
  embeddingRows,
  labelSets,
  type EmbeddingOutput,
  type Label,
  type LabelsOutput,
  type TextOutput,
} from '../extension/ui/task-io';
import { metricsList } from './results';

const percent = (score: number) => `${(score * 100).toFixed(1)}%`;
const shorten = (text: string, n = 60) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);

function embeddingSummary(out: EmbeddingOutput, names: string[]): HTMLElement {
  const rows = embeddingRows(out);
  const dims = out.dims.join(' × ');
  const table = h(
    'table',
    {},
    h('caption', { class: 'sr-only' }, 'One embedding per input'),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, 'Input'),
        h('th', { scope: 'col', class: 'num' }, 'Tokens'),
        h('th', { scope: 'col', class: 'num' }, 'L2 norm'),
        h('th', { scope: 'col' }, 'First values'),
      ),
    ),
    h(
      'tbody',
      {},
      ...rows.map((r, i) => {
        const tr = h(
          'tr',
          {},
          h('th', { scope: 'row' }, names[i] !== undefined ? shorten(names[i]!) : `input ${i + 1}`),
          h('td', { class: 'num', 'data-tokens': String(r.tokens ?? '') }, r.tokens === null ? '—' : String(r.tokens)),
          h('td', { class: 'num', 'data-norm': String(r.norm) }, formatNumber(r.norm)),
          h('td', { class: 'mono first' }, `${r.first.map(formatNumber).join(', ')}, …`),
        );
        tr.dataset.input = String(i);
        return tr;
      }),
    ),
  );
  const box = h(
    'div',
    { 'data-webq': 'embedding-summary', 'data-dims': out.dims.join('x') },
    definitions([
      ['Embeddings', `${dims} (inputs × hidden size), float32, mean over each input's tokens`],
      ...(out.lastHiddenState
        ? [
            ['Token embeddings', `${out.lastHiddenState.dims.join(' × ')} (inputs × tokens × hidden size)`] as [
              string,
              string,
            ],
          ]
        : []),
    ]),
    h('div', { class: 'table-scroll' }, table),
  );
  return box;
}

export function labelsTable(labels: Label[], caption: string, index: number): HTMLTableElement {
  const table = h(
    'table',
    { 'data-webq': 'labels', 'data-image': String(index) },
    h('caption', {}, caption),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col', class: 'num' }, '#'),
        h('th', { scope: 'col' }, 'Label'),
        h('th', { scope: 'col', class: 'num' }, 'Score'),
        h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Score as a bar')),
      ),
    ),
    h(
      'tbody',
      {},
      ...labels.map((l, i) => {
        const fill = h('span', { class: 'score-fill' });
        fill.style.width = `${Math.max(0, Math.min(1, l.score)) * 100}%`;
        const tr = h(
          'tr',
          {},
          h('td', { class: 'num' }, String(i + 1)),
          h('th', { scope: 'row', class: 'label' }, l.label),
          h('td', { class: 'num', 'data-score': String(l.score) }, percent(l.score)),
          h('td', { class: 'bar-cell' }, h('span', { class: 'score-bar', 'aria-hidden': 'true' }, fill)),
        );
        tr.dataset.label = l.label;
        return tr;
      }),
    ),
  );
  return table;
}

function transcript(out: TextOutput): HTMLElement {
  const seconds = (t: number) => `${t.toFixed(2)} s`;
  return h(
    'div',
    {},
    h('p', { class: 'transcript', 'data-webq': 'transcript' }, out.text.trim() || '(no text)'),
    // Whisper with returnTimestamps: each segment with its time.
    out.chunks
      ? h(
          'ol',
          { class: 'chunks', 'data-webq': 'transcript-chunks' },
          ...out.chunks.map((c) =>
            h(
              'li',
              {},
              h('span', { class: 'chunk-time' }, `${seconds(c.timestamp[0])} – ${seconds(c.timestamp[1])}`),
              ` ${c.text}`,
            ),
          ),
        )
      : null,
    h('p', { class: 'hint' }, `${out.tokens.length} token${out.tokens.length === 1 ? '' : 's'} generated.`),
  );
}

/** The view of one run's output for `task`; `names` label the inputs (text lines, image files). */
export function taskOutputView(task: Task, output: unknown, names: string[]): HTMLElement {
  switch (task) {
    case 'feature-extraction':
    case 'image-feature-extraction':
      return embeddingSummary(output as EmbeddingOutput, names);
    case 'image-classification':
    case 'zero-shot-image-classification': {
      const sets = labelSets(output as LabelsOutput | LabelsOutput[]);
      return h(
        'div',
        {},
        ...sets.map((labels, i) =>
          h(
            'div',
            { class: 'table-scroll' },
            labelsTable(labels, names[i] ? `Labels for ${names[i]}` : `Labels for image ${i + 1}`, i),
          ),
        ),
      );
    }
    case 'automatic-speech-recognition':
    case 'text-generation':
    case 'text2text-generation':
      return transcript(output as TextOutput);
  }
}

export function renderTaskRun(task: Task, output: unknown, metrics: PerformanceMetrics, names: string[]): void {
  $('[data-webq=result]').replaceChildren(
    h('h3', {}, 'Output'),
    taskOutputView(task, output, names),
    h('h3', {}, 'Performance'),
    metricsList(metrics),
  );
}
