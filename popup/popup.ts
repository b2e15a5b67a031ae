/**
 * The popup: manual testing of models through the same `webq` client pages use (over the extension's UI port, so no
 * consent prompt). Device panel; a model by registry id or URL (raw, or with a task) and its options; inputs by the
 * loaded model's task (text, images, audio) or generated tensors for a raw model; run with progress and cancel;
 * and compare mode; on top, sites waiting for a consent decision (pending.ts), when there are any. A second tab,
 * Chat (chat.ts), talks to text-generation models. Opened from the toolbar button, or as a tab at popup/popup.html.
 */
import browser from 'webextension-polyfill';
import type { ModelInfo, ModelRef, Tensor } from '../extension/shared/types';
import { $, definitions, h } from '../extension/ui/dom';
import { bitsLabel, formatBytes } from '../extension/ui/format';
import { uiWebq } from '../extension/ui/transport';
import { wireChat } from './chat';
import { measure, renderCompare } from './compare';
import { renderDevice, renderDeviceError } from './device';
import { wirePending } from './pending';
import { readInputs, renderInputs } from './inputs-form';
import {
  bitsOptions,
  loadOptions,
  modelKind,
  modelRef,
  modelTypeOf,
  renderCachedModels,
  setModel,
  wireModelForm,
} from './model-form';
import { runWork, setStatus, wireCancel } from './progress';
import { renderRun } from './results';
import { inputNames, readTaskInput, renderTaskInputs, resetTaskInputs, shownTask, taskRunOptions } from './task-inputs';
import { wireTabs } from './tabs';
import { renderTaskRun } from './task-results';

const webq = uiWebq();
/** Inputs are generated from a fixed seed, so two runs (and both sides of a comparison) see the same values. */
const SEED = 1234;
const LAST_URL = 'webq-popup-last-url';
const LAST_TASK = 'webq-popup-last-task';

let loaded: { ref: ModelRef; key: string; info: ModelInfo; registry: boolean } | null = null;

function updateButtons(): void {
  if (document.body.dataset.busy) return;
  $<HTMLButtonElement>('[data-webq=load]').disabled = modelRef() === null;
  $<HTMLButtonElement>('[data-webq=run]').disabled = loaded === null;
  $<HTMLButtonElement>('[data-webq=compare-run]').disabled = loaded === null;
}

function renderModelInfo(info: ModelInfo): void {
  const quantized = info.weights.filter((w) => w.precision < 32).length;
  const list = definitions([
    ['Model', info.id],
    ['Task', info.task ?? 'none: raw tensors in and out'],
    ['Backend', info.backend],
    [
      'Weights',
      `${bitsLabel(info.bits)}${info.scheme ? ` ${info.scheme}` : ''}${info.groupSize !== null ? `, group ${info.groupSize}` : ''}${info.mixedPrecision ? ', mixed precision' : ''}`,
    ],
    ['Size', `${formatBytes(info.modelBytes)} (fp32: ${formatBytes(info.originalBytes)})`],
    ['Weight tensors', `${info.weights.length}, ${quantized} below 32 bits`],
    [
      info.task ? 'Graph inputs' : 'Inputs',
      info.inputs.map((i) => `${i.name} ${i.type} [${i.dims.join(', ')}]`).join('; '),
    ],
    [
      info.task ? 'Graph outputs' : 'Outputs',
      info.outputs.map((o) => `${o.name} ${o.type} [${o.dims.join(', ')}]`).join('; '),
    ],
    ['Fallbacks', info.fallbacks.join('; ') || 'none'],
  ]);
  list.dataset.webq = 'model-summary';
  $('[data-webq=model-info]').replaceChildren(list);
}

function modelChanged(): void {
  // A different model means different inputs: forget the loaded model until it is loaded again.
  if (loaded && loaded.key === modelRef()?.key) return;
  loaded = null;
  resetTaskInputs();
  $('[data-webq=model-info]').replaceChildren();
  // Results of the previous model would read as this one's: clear them.
  $('[data-webq=result]').replaceChildren();
  $('[data-webq=compare-result]').replaceChildren();
  $('[data-webq=inputs]').replaceChildren(h('p', { class: 'note' }, 'Load the model to see its inputs.'));
  updateButtons();
}

async function load(): Promise<void> {
  const model = modelRef();
  if (!model) return;
  const registry = modelKind().kind === 'registry';
  const info = await runWork('Loading', (w) =>
    webq.load(model.ref, { ...loadOptions(), signal: w.signal, onProgress: w.onProgress }),
  );
  if (!info) return;
  localStorage.setItem(LAST_URL, typeof model.ref === 'string' ? model.ref : model.ref.url);
  localStorage.setItem(LAST_TASK, typeof model.ref === 'string' ? '' : (model.ref.task ?? ''));
  loaded = { ...model, info, registry };
  renderModelInfo(info);
  // Loading the same model again (say at other bits) keeps the text, images or audio already given.
  if (info.task) {
    if (shownTask() !== info.task) renderTaskInputs(info.task, modelTypeOf(model.ref));
  } else renderInputs(info.inputs);
  fillCompareSelects(registry);
  updateButtons(); // the work-done event came before `loaded` was set
  void renderCachedModels();
}

/** The run input: what the task editors hold, or tensors generated from the seed for a raw model. */
const readInput = (): unknown => (loaded?.info.task ? readTaskInput() : readInputs(SEED));

async function run(): Promise<void> {
  if (!loaded) return;
  const { ref, info } = loaded;
  const result = await runWork('Running', async (w) => {
    const input = readInput();
    return webq.run(ref, input, { ...loadOptions(), ...taskRunOptions(), signal: w.signal, onProgress: w.onProgress });
  });
  if (!result) return;
  if (info.task) renderTaskRun(info.task, result.output, result.performanceMetrics, inputNames());
  else renderRun(result.output as Record<string, Tensor>, result.performanceMetrics);
}

/** A side's name: its precision; "profile default" says what the profile chose once it has run. */
const sideLabel = (choice: string, bits?: number) =>
  choice === '' ? `profile default${bits ? ` (${bitsLabel(bits)})` : ''}` : bitsLabel(Number(choice));

async function compare(): Promise<void> {
  if (!loaded) return;
  const { ref, info } = loaded;
  const choiceA = $<HTMLSelectElement>('[data-webq=compare-a]').value;
  const choiceB = $<HTMLSelectElement>('[data-webq=compare-b]').value;
  const sides = await runWork('Comparing', async (w) => {
    const input = readInput(); // checked once, before either side loads
    const again = () => (info.task ? readTaskInput() : input);
    const taskOptions = taskRunOptions();
    const a = await measure(
      webq,
      ref,
      again,
      { ...loadOptions(choiceA), ...taskOptions },
      sideLabel(choiceA),
      w,
      w.step,
    );
    const b = await measure(
      webq,
      ref,
      again,
      { ...loadOptions(choiceB), ...taskOptions },
      sideLabel(choiceB),
      w,
      w.step,
    );
    a.label = sideLabel(choiceA, a.metrics.quantizationBits);
    b.label = sideLabel(choiceB, b.metrics.quantizationBits);
    return [a, b] as const;
  });
  if (sides) renderCompare(sides[0], sides[1], info.task, info.task ? inputNames() : []);
}

/** The precisions to compare; "profile default" only for registry ids (for a URL it is the stored weights). */
function fillCompareSelects(registry: boolean): void {
  const a = $<HTMLSelectElement>('[data-webq=compare-a]');
  const b = $<HTMLSelectElement>('[data-webq=compare-b]');
  const keep = [a.value, b.value];
  const options = () =>
    bitsOptions(registry)
      .filter((o) => registry || o.value !== '')
      .map((o) => {
        o.textContent = sideLabel(o.value);
        return o;
      });
  a.replaceChildren(...options());
  b.replaceChildren(...options());
  a.value = [...a.options].some((o) => o.value === keep[0]) && keep[0] !== undefined ? keep[0] : '32';
  b.value = [...b.options].some((o) => o.value === keep[1]) && keep[1] !== undefined ? keep[1] : '4';
}

function start(): void {
  $('[data-webq=version]').textContent = webq.version;
  wirePending();
  wireTabs();
  wireChat(webq);
  $('[data-webq=open-options]').addEventListener('click', () => void browser.runtime.openOptionsPage());
  fillCompareSelects(false);
  wireModelForm(() => {
    modelChanged();
    updateButtons();
  });
  wireCancel();
  $('[data-webq=load]').addEventListener('click', () => void load());
  $('[data-webq=run]').addEventListener('click', () => void run());
  $('[data-webq=compare-run]').addEventListener('click', () => void compare());
  document.addEventListener('webq-work-done', updateButtons);
  setModel(localStorage.getItem(LAST_URL) ?? '', localStorage.getItem(LAST_TASK) ?? '');
  updateButtons();
  void renderCachedModels();
  webq.capabilities().then(renderDevice, (err: Error) => {
    renderDeviceError(err);
    setStatus(`Device: ${err.message}`, 'error');
  });
}

start();
