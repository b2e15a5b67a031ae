/**
 * One piece of long work at a time (load, run, compare): a Cancel button wired to an AbortController, a progress
 * bar fed by the engine's progress events (download, cache, quantize, compile), and a status line for screen
 * readers. Buttons that would start other work are disabled meanwhile.
 */
import type { Progress } from '../extension/shared/types';
import { $ } from '../extension/ui/dom';
import { formatBytes } from '../extension/ui/format';

const PHASES: Record<Progress['phase'], string> = {
  download: 'Downloading',
  cache: 'Reading the cache',
  quantize: 'Quantizing',
  compile: 'Compiling',
  calibrate: 'Measuring kernel shapes',
};

export interface Work {
  signal: AbortSignal;
  onProgress(p: Progress): void;
  step(text: string): void;
}

let current: AbortController | null = null;

const bar = () => $<HTMLProgressElement>('[data-webq=progress]');
const status = () => $('[data-webq=status]');
const cancel = () => $<HTMLButtonElement>('[data-webq=cancel]');

export function setStatus(text: string, kind: 'info' | 'error' | 'ok' = 'info'): void {
  status().textContent = text;
  status().dataset.kind = kind;
}

function describe(p: Progress): string {
  const what = PHASES[p.phase];
  // Download and cache counts are bytes; quantize and compile report 0/1 → 1/1 steps.
  if (p.phase === 'download' || p.phase === 'cache')
    return p.total > 0
      ? `${what}: ${formatBytes(p.loaded)} of ${formatBytes(p.total)}`
      : `${what}: ${formatBytes(p.loaded)}`;
  return p.loaded >= p.total ? `${what}: done` : `${what}…`;
}

/** Runs `body` as the current work; resolves to its result, or undefined when cancelled or failed (status says which).
 * */
export async function runWork<T>(label: string, body: (work: Work) => Promise<T>): Promise<T | undefined> {
  if (current) return undefined;
  const controller = new AbortController();
  current = controller;
  document.body.dataset.busy = 'true';
  for (const b of document.querySelectorAll<HTMLButtonElement>('[data-starts-work]')) b.disabled = true;
  cancel().disabled = false;
  bar().hidden = false;
  bar().removeAttribute('value'); // indeterminate until the first progress event
  setStatus(`${label}…`);
  const work: Work = {
    signal: controller.signal,
    onProgress: (p) => {
      if (p.total > 0) {
        bar().max = p.total;
        bar().value = Math.min(p.loaded, p.total);
      } else bar().removeAttribute('value');
      setStatus(`${label}: ${describe(p)}`);
    },
    step: (text) => setStatus(text),
  };
  try {
    const result = await body(work);
    setStatus(`${label}: done.`, 'ok');
    return result;
  } catch (err) {
    const e = err as Error;
    if (e.name === 'AbortError') setStatus(`${label}: cancelled.`, 'info');
    else setStatus(`${label} failed — ${e.name}: ${e.message}`, 'error');
    return undefined;
  } finally {
    current = null;
    delete document.body.dataset.busy;
    cancel().disabled = true;
    bar().hidden = true;
    document.dispatchEvent(new Event('webq-work-done'));
  }
}

export function wireCancel(): void {
  cancel().addEventListener('click', () => current?.abort());
}
