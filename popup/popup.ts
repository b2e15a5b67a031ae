/**
 * The popup: manual testing of raw ONNX models through the same `webq` client pages use (over the extension's UI
 * port, so no consent prompt). Device panel, model + options, generated inputs, run with progress and cancel,
 * and compare mode. Opened from the toolbar button, or as a tab at popup/popup.html.
 */
import browser from 'webextension-polyfill';
import type { ModelInfo, Tensor } from '../extension/shared/types';
import { $, definitions, h } from '../extension/ui/dom';
import { bitsLabel, formatBytes } from '../extension/ui/format';
import { uiWebq } from '../extension/ui/transport';
import { measure, renderCompare } from './compare';
import { renderDevice, renderDeviceError } from './device';
import { readInputs, renderInputs } from './inputs-form';
import { loadOptions, renderCachedModels, urlInput, wireModelForm } from './model-form';
import { runWork, setStatus, wireCancel } from './progress';
import { renderRun } from './results';

const webq = uiWebq();
/** Inputs are generated from a fixed seed, so two runs (and both sides of a comparison) see the same values. */
const SEED = 1234;
const LAST_URL = 'webq-popup-last-url';

let loaded: { url: string; info: ModelInfo } | null = null;

function updateButtons(): void {
  if (document.body.dataset.busy) return;
  $<HTMLButtonElement>('[data-webq=load]').disabled = urlInput().value.trim() === '';
  $<HTMLButtonElement>('[data-webq=run]').disabled = loaded === null;
  $<HTMLButtonElement>('[data-webq=compare-run]').disabled = loaded === null;
}

function renderModelInfo(info: ModelInfo): void {
  const quantized = info.weights.filter((w) => w.precision < 32).length;
  const list = definitions([
    ['Backend', info.backend],
    ['Weights', `${bitsLabel(info.bits)}${info.scheme ? ` ${info.scheme}` : ''}${info.groupSize !== null ? `, group ${info.groupSize}` : ''}${info.mixedPrecision ? ', mixed precision' : ''}`],
    ['Size', `${formatBytes(info.modelBytes)} (fp32: ${formatBytes(info.originalBytes)})`],
    ['Weight tensors', `${info.weights.length}, ${quantized} below 32 bits`],
    ['Inputs', info.inputs.map((i) => `${i.name} ${i.type} [${i.dims.join(', ')}]`).join('; ')],
    ['Outputs', info.outputs.map((o) => `${o.name} ${o.type} [${o.dims.join(', ')}]`).join('; ')],
    ['Fallbacks', info.fallbacks.join('; ') || 'none'],
  ]);
  list.dataset.webq = 'model-summary';
  $('[data-webq=model-info]').replaceChildren(list);
}

function modelChanged(): void {
  // A different URL means different inputs: forget the loaded model until it is loaded again.
  if (loaded && loaded.url === urlInput().value.trim()) return;
  loaded = null;
  $('[data-webq=model-info]').replaceChildren();
  // Results of the previous model would read as this one's: clear them.
  $('[data-webq=result]').replaceChildren();
  $('[data-webq=compare-result]').replaceChildren();
  $('[data-webq=inputs]').replaceChildren(h('p', { class: 'note' }, 'Load the model to see its inputs.'));
  updateButtons();
}

async function load(): Promise<void> {
  const url = urlInput().value.trim();
  const info = await runWork('Loading', (w) => webq.load(url, { ...loadOptions(), signal: w.signal, onProgress: w.onProgress }));
  if (!info) return;
  localStorage.setItem(LAST_URL, url);
  loaded = { url, info };
  renderModelInfo(info);
  renderInputs(info.inputs);
  updateButtons(); // the work-done event came before `loaded` was set
  void renderCachedModels();
}

async function run(): Promise<void> {
  if (!loaded) return;
  const { url } = loaded;
  const result = await runWork('Running', async (w) => {
    const input = readInputs(SEED);
    return webq.run(url, input, { ...loadOptions(), signal: w.signal, onProgress: w.onProgress });
  });
  if (result) renderRun(result.output as Record<string, Tensor>, result.performanceMetrics);
}

async function compare(): Promise<void> {
  if (!loaded) return;
  const { url } = loaded;
  const bitsA = Number($<HTMLSelectElement>('[data-webq=compare-a]').value);
  const bitsB = Number($<HTMLSelectElement>('[data-webq=compare-b]').value);
  const sides = await runWork('Comparing', async (w) => {
    const input = readInputs(SEED);
    const a = await measure(webq, url, input, loadOptions(bitsA), bitsLabel(bitsA), w, w.step);
    const b = await measure(webq, url, input, loadOptions(bitsB), bitsLabel(bitsB), w, w.step);
    return [a, b] as const;
  });
  if (sides) renderCompare(sides[0], sides[1]);
}

function fillCompareSelects(): void {
  const options = () => [32, 16, 8, 4, 2].map((b) => h('option', { value: String(b) }, bitsLabel(b)));
  $<HTMLSelectElement>('[data-webq=compare-a]').replaceChildren(...options());
  $<HTMLSelectElement>('[data-webq=compare-b]').replaceChildren(...options());
  $<HTMLSelectElement>('[data-webq=compare-a]').value = '32';
  $<HTMLSelectElement>('[data-webq=compare-b]').value = '4';
}

function start(): void {
  $('[data-webq=version]').textContent = webq.version;
  $('[data-webq=open-options]').addEventListener('click', () => void browser.runtime.openOptionsPage());
  fillCompareSelects();
  wireModelForm(() => { modelChanged(); updateButtons(); });
  wireCancel();
  $('[data-webq=load]').addEventListener('click', () => void load());
  $('[data-webq=run]').addEventListener('click', () => void run());
  $('[data-webq=compare-run]').addEventListener('click', () => void compare());
  document.addEventListener('webq-work-done', updateButtons);
  urlInput().value = localStorage.getItem(LAST_URL) ?? '';
  updateButtons();
  void renderCachedModels();
  webq.capabilities().then(renderDevice, (err: Error) => { renderDeviceError(err); setStatus(`Device: ${err.message}`, 'error'); });
}

start();
