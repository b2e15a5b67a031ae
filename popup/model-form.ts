/**
 * The model and its load options: a URL (typed, or picked from the cache), backend, and quantization. Options are
 * built exactly as a page would pass them; quantization fields are sent only when weights are quantized, since
 * the engine refuses options that would have no effect.
 */
import { listEntries } from '../extension/host/cache';
import { $, h } from '../extension/ui/dom';

export const urlInput = () => $<HTMLInputElement>('[data-webq=model-url]');
const cachedSelect = () => $<HTMLSelectElement>('[data-webq=cached-models]');
const bitsSelect = () => $<HTMLSelectElement>('[data-webq=bits]');
const quantFields = () => $<HTMLFieldSetElement>('[data-webq=quant-fields]');

/** Fills the "cached models" list with each source URL the cache holds. */
export async function renderCachedModels(): Promise<void> {
  let sources: string[] = [];
  try {
    sources = [...new Set((await listEntries()).map((e) => e.source))].sort();
  } catch { /* no IndexedDB here: the list stays empty, URLs still work */ }
  cachedSelect().replaceChildren(
    h('option', { value: '' }, sources.length ? `Choose one of ${sources.length} cached models…` : 'No cached models yet'),
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

/** The options of a load or run with the form's precision (or `bits` when given, for compare mode). */
export function loadOptions(bits = Number(bitsSelect().value)): Record<string, unknown> {
  return { backend: backend(), ...quantOptions(bits) };
}

export function wireModelForm(onModelChange: () => void): void {
  cachedSelect().addEventListener('change', () => {
    if (!cachedSelect().value) return;
    urlInput().value = cachedSelect().value;
    onModelChange();
  });
  urlInput().addEventListener('input', onModelChange);
  const sync = () => { quantFields().disabled = Number(bitsSelect().value) >= 16; };
  bitsSelect().addEventListener('change', sync);
  sync();
}
