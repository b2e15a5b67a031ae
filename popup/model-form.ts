/**
 * The model and its load options. The model is a registry id (picked from the built-in list or typed) or a URL
 * (typed, or picked from the cache), which may name a task to run a compatible model with that task's pre- and
 * post-processing (`{ url, task }`). Options are built exactly as a page would pass them: quantization fields are
 * sent only when weights are quantized, since the engine refuses options that would have no effect, and "profile
 * default" sends no precision at all, so a registry id gets its profile's advice.
 */
import { listEntries } from '../extension/storage/model-cache';
import { entryTasks, REGISTRY, registryEntry } from '../extension/models/registry';
import { modelTypeOfGraph } from '../extension/tasks/model-type';
import type { ModelRef, Task } from '../extension/shared/types';
import { $, h } from '../extension/ui/dom';
import { bitsLabel } from '../extension/ui/format';

export const urlInput = () => $<HTMLInputElement>('[data-webq=model-url]');
const cachedSelect = () => $<HTMLSelectElement>('[data-webq=cached-models]');
const registrySelect = () => $<HTMLSelectElement>('[data-webq=registry-model]');
const taskSelect = () => $<HTMLSelectElement>('[data-webq=task]');
const bitsSelect = () => $<HTMLSelectElement>('[data-webq=bits]');
const quantFields = () => $<HTMLFieldSetElement>('[data-webq=quant-fields]');

/** The weights choices: '' is the profile's default (no `bits` sent), the rest are bit widths. */
export const BITS_CHOICES = ['', '32', '16', '8', '4', '2'] as const;

export function bitsChoiceLabel(value: string, registry: boolean): string {
  if (value === '') return registry ? 'profile default' : 'profile default (as stored for a URL)';
  const bits = Number(value);
  return bits === 32 ? 'fp32 (as stored)' : bits === 16 ? '16-bit (fp16)' : bitsLabel(bits);
}

export type ModelKind =
  | { kind: 'none' }
  | { kind: 'registry'; id: string; task: Task; tasks: readonly Task[]; description: string }
  | { kind: 'url'; url: string; task: Task | null };

/** What the model field names now. */
export function modelKind(): ModelKind {
  const value = urlInput().value.trim();
  if (!value) return { kind: 'none' };
  const entry = registryEntry(value);
  if (entry) {
    // An id serving several tasks (CLIP) takes the task select's choice among its own; others their one task.
    const tasks = entryTasks(entry);
    const chosen = tasks.find((t) => t === taskSelect().value) ?? entry.task;
    return { kind: 'registry', id: entry.id, task: chosen, tasks, description: entry.description };
  }
  return { kind: 'url', url: value, task: (taskSelect().value || null) as Task | null };
}

/** The model as `webq.load`/`run` take it, and a key that changes whenever the model does. */
export function modelRef(): { ref: ModelRef; key: string } | null {
  const m = modelKind();
  if (m.kind === 'none') return null;
  if (m.kind === 'registry') return { ref: m.id, key: `id:${m.id}|${m.task}` };
  return m.task
    ? { ref: { url: m.url, task: m.task }, key: `url:${m.url}|${m.task}` }
    : { ref: m.url, key: `url:${m.url}` };
}

/** The model's type where its task has several pipelines (a CTC speech model: 'wav2vec2'), for the task editors. */
export function modelTypeOf(ref: ModelRef): string | undefined {
  if (typeof ref === 'string') return registryEntry(ref)?.modelType;
  if (!ref.task) return undefined;
  try {
    return modelTypeOfGraph(ref.task, new URL(ref.url));
  } catch {
    return undefined; // not a URL: the load itself says so
  }
}

/** Fills the "cached models" list with each source URL the cache holds. */
export async function renderCachedModels(): Promise<void> {
  let sources: string[] = [];
  try {
    sources = [...new Set((await listEntries()).map((e) => e.source))].sort();
  } catch {
    /* no IndexedDB here: the list stays empty, URLs still work */
  }
  cachedSelect().replaceChildren(
    h(
      'option',
      { value: '' },
      sources.length ? `Choose one of ${sources.length} cached models…` : 'No cached models yet',
    ),
    ...sources.map((s) => h('option', { value: s }, s)),
  );
  cachedSelect().disabled = sources.length === 0;
}

/** Quantization options for `bits` from the form's scheme, group size and mixed precision. */
export function quantOptions(bits: number): Record<string, unknown> {
  // fp16 is a cast, not a quantizer: scheme, groups and mixed precision mean nothing there, so they are not sent.
  if (bits >= 16) return { bits };
  return {
    bits,
    scheme: $<HTMLSelectElement>('[data-webq=scheme]').value,
    groupSize: Number($<HTMLSelectElement>('[data-webq=group-size]').value),
    mixedPrecision: $<HTMLInputElement>('[data-webq=mixed]').checked,
  };
}

export function backend(): string {
  return $<HTMLSelectElement>('[data-webq=backend]').value;
}

/**
 * The options of a load or run with the form's precision, or `bits` when given (compare mode): a choice from
 * BITS_CHOICES, where '' sends no precision (the profile's advice for a registry id; the stored weights for a URL).
 */
export function loadOptions(bits: string = bitsSelect().value): Record<string, unknown> {
  const m = modelKind();
  // The `task` option picks among the tasks of an id that serves several; a URL's task travels in its ref.
  const task = m.kind === 'registry' && m.tasks.length > 1 ? { task: m.task } : {};
  return bits === '' ? { backend: backend(), ...task } : { backend: backend(), ...task, ...quantOptions(Number(bits)) };
}

/** The precision choices, as options of a select; '' is labelled for the kind of model. */
export function bitsOptions(registry: boolean): HTMLOptionElement[] {
  return BITS_CHOICES.map((v) => h('option', { value: v }, bitsChoiceLabel(v, registry)));
}

/** The task select's choice for URLs, kept while the field holds a registry id (whose task it then shows). */
let urlTask = '';
/** Whether the person chose the weights: until then a registry id defaults to the profile, a URL to fp32. */
let bitsChosen = false;
let lastKind: ModelKind['kind'] = 'none';
/** Whether the task select shows a registry id's task (else it holds the URL's choice). */
let showsRegistryTask = false;

function syncKind(): void {
  const m = modelKind();
  const registry = m.kind === 'registry';
  registrySelect().value = registry ? m.id : '';
  $('[data-webq=registry-description]').textContent = registry ? m.description : '';
  const task = taskSelect();
  if (registry && !showsRegistryTask) urlTask = task.value;
  showsRegistryTask = registry;
  // An id with one task shows it, fixed; an id with several offers just those.
  task.disabled = registry && m.tasks.length === 1;
  for (const option of task.options) option.disabled = registry && !m.tasks.includes(option.value as Task);
  task.value = registry ? m.task : urlTask;
  const others = registry ? m.tasks.filter((t) => t !== m.task) : [];
  $('[data-webq=model-kind]').textContent =
    m.kind === 'registry'
      ? `Registry id: ${m.task}${others.length ? ` (the task select also offers ${others.join(', ')})` : ''}, files from the model host (options page).`
      : m.kind === 'url'
        ? m.task
          ? `URL with task ${m.task}: companion files are read beside the graph.`
          : 'URL of a raw ONNX model: tensors in, tensors out.'
        : '';
  // The '' choice reads differently for a URL; relabel it, and move the default when the kind of model changes.
  const profileChoice = bitsSelect().querySelector<HTMLOptionElement>('option[value=""]');
  if (profileChoice) profileChoice.textContent = bitsChoiceLabel('', m.kind !== 'url');
  if (m.kind !== lastKind && m.kind !== 'none' && !bitsChosen) bitsSelect().value = registry ? '' : '32';
  if (m.kind !== 'none') lastKind = m.kind;
  syncQuantFields();
}

function syncQuantFields(): void {
  const v = bitsSelect().value;
  quantFields().disabled = v === '' || Number(v) >= 16;
}

export function wireModelForm(onModelChange: () => void): void {
  const registry = registrySelect();
  registry.replaceChildren(
    h('option', { value: '' }, 'None: a URL, or an id typed below'),
    ...[...REGISTRY.values()].map((e) =>
      h('option', { value: e.id, title: e.description }, `${e.id} — ${e.description}`),
    ),
  );
  $('#registry-ids').replaceChildren(...[...REGISTRY.values()].map((e) => h('option', { value: e.id }, e.task)));
  bitsSelect().replaceChildren(...bitsOptions(true));
  const changed = () => {
    syncKind();
    onModelChange();
  };
  registry.addEventListener('change', () => {
    // Choosing "None" leaves a typed URL alone; it only clears a registry id.
    if (registry.value) urlInput().value = registry.value;
    else if (modelKind().kind === 'registry') urlInput().value = '';
    changed();
  });
  cachedSelect().addEventListener('change', () => {
    if (!cachedSelect().value) return;
    urlInput().value = cachedSelect().value;
    changed();
  });
  urlInput().addEventListener('input', changed);
  taskSelect().addEventListener('change', () => {
    if (!showsRegistryTask) urlTask = taskSelect().value;
    changed();
  });
  bitsSelect().addEventListener('change', () => {
    bitsChosen = true;
    syncQuantFields();
  });
  syncKind();
}

/** Sets the model field (e.g. to the last model used) and brings the form in line with it. */
export function setModel(value: string, task = ''): void {
  urlInput().value = value;
  urlTask = task;
  taskSelect().value = task;
  syncKind();
}
