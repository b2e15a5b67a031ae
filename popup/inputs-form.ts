/**
 * Input editors generated from a loaded model's declared inputs: each free dimension gets a number field
 * (default 1), and the contents are zeros, seeded random values, a constant, or pasted JSON.
 */
import type { ModelInfo } from '../extension/shared/types';
import type { Tensor } from '../extension/shared/tensor';
import { $, h } from '../extension/ui/dom';
import { isFreeDim, makeTensor, resolveDims, type Fill } from '../extension/ui/tensors';

let declared: ModelInfo['inputs'] = [];

const slug = (name: string, i: number) => `in${i}-${name.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40)}`;

export function renderInputs(inputs: ModelInfo['inputs']): void {
  declared = inputs;
  $('[data-webq=inputs]').replaceChildren(...inputs.map((input, i) => editor(input, slug(input.name, i))));
}

function editor(input: ModelInfo['inputs'][number], id: string): HTMLFieldSetElement {
  const dims = input.dims.map((d, j) => {
    if (!isFreeDim(d)) return h('span', { class: 'dim-fixed', title: 'fixed by the model' }, String(d));
    const field = h('input', {
      id: `${id}-d${j}`,
      type: 'number',
      min: '1',
      step: '1',
      value: '1',
      required: true,
      'data-dim': String(j),
      class: 'dim',
    });
    return h(
      'span',
      { class: 'dim-free' },
      h('label', { for: `${id}-d${j}`, class: 'sr-only' }, `${input.name} dimension ${j} (${String(d)})`),
      field,
    );
  });
  const dimsRow = h(
    'div',
    { class: 'dims' },
    h('span', { 'aria-hidden': 'true' }, '['),
    ...dims.flatMap((d, j) => (j ? [h('span', { 'aria-hidden': 'true' }, '×'), d] : [d])),
    h('span', { 'aria-hidden': 'true' }, ']'),
  );
  const free = input.dims.map((d, j) => (isFreeDim(d) ? `${j}: ${String(d)}` : null)).filter(Boolean);
  const fill = h(
    'select',
    { id: `${id}-fill`, 'data-webq': 'fill' },
    h('option', { value: 'zeros' }, 'zeros'),
    h('option', { value: 'random' }, 'random (seeded)'),
    h('option', { value: 'constant' }, 'constant'),
    h('option', { value: 'json' }, 'JSON'),
  );
  const constant = h('input', {
    id: `${id}-const`,
    type: 'number',
    step: 'any',
    value: '0.5',
    'data-webq': 'constant',
  });
  const constantField = h(
    'span',
    { class: 'inline', hidden: true },
    h('label', { for: `${id}-const` }, 'value '),
    constant,
  );
  const json = h('textarea', {
    id: `${id}-json`,
    rows: '3',
    spellcheck: 'false',
    'data-webq': 'json',
    placeholder: '[[0.1, 0.2], [0.3, 0.4]]',
  });
  const jsonField = h(
    'div',
    { hidden: true },
    h('label', { for: `${id}-json` }, 'Values (a flat or nested JSON array, as many as the dims need)'),
    json,
  );
  fill.addEventListener('change', () => {
    constantField.hidden = fill.value !== 'constant';
    jsonField.hidden = fill.value !== 'json';
  });
  const set = h(
    'fieldset',
    { class: 'input' },
    h('legend', {}, h('span', { class: 'mono' }, input.name), ` ${input.type} [${input.dims.map(String).join(', ')}]`),
    h('div', { class: 'row' }, h('span', { class: 'label' }, 'Dims'), dimsRow),
    free.length ? h('p', { class: 'hint' }, `Free dimensions: ${free.join(', ')}`) : null,
    h('div', { class: 'row' }, h('label', { for: `${id}-fill`, class: 'label' }, 'Fill'), fill, constantField),
    jsonField,
  );
  set.dataset.input = input.name;
  return set;
}

/** The tensors the editors describe; throws with the input's name in the message when one is not valid. */
export function readInputs(seed: number): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  declared.forEach((input, i) => {
    const set = $<HTMLFieldSetElement>(`fieldset[data-input="${CSS.escape(input.name)}"]`);
    try {
      const free = input.dims.map((_, j) => {
        const field = set.querySelector<HTMLInputElement>(`[data-dim="${j}"]`);
        return field ? Number(field.value) : undefined;
      });
      const dims = resolveDims(input.dims, free);
      const kind = $<HTMLSelectElement>('[data-webq=fill]', set).value;
      const fill: Fill =
        kind === 'random'
          ? { kind, seed: seed + i }
          : kind === 'constant'
            ? { kind, value: Number($<HTMLInputElement>('[data-webq=constant]', set).value) }
            : kind === 'json'
              ? { kind, text: $<HTMLTextAreaElement>('[data-webq=json]', set).value }
              : { kind: 'zeros' };
      out[input.name] = makeTensor(input.type, dims, fill);
    } catch (err) {
      throw new Error(`input ${input.name}: ${(err as Error).message}`);
    }
  });
  return out;
}
