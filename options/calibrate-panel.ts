/**
 * Calibrate: asks the engine to measure webq's kernel shapes on this GPU (an action of the extension's own pages:
 * web pages cannot calibrate) and shows what it measured and which was fastest. The engine stores the result, and
 * webq's own decode engine runs at the chosen tiles on this adapter (extension/host/calibrate.ts); it is not part of
 * the profile.
 */
import type { Calibration } from '../extension/shared/types';
import { $, h } from '../extension/ui/dom';
import { uiWebq } from '../extension/ui/transport';

const shape = (o: Record<string, unknown>) =>
  Object.entries(o)
    .map(([k, v]) => `${k} ${Array.isArray(v) ? v.join('×') : String(v)}`)
    .join(', ');

function render(c: Calibration): void {
  const rows = [
    ...c.gemv.candidates.map((x) => ({
      kernel: 'GEMV (M = 1)',
      options: x.options as unknown as Record<string, unknown>,
      ms: x.ms,
      chosen: JSON.stringify(x.options) === JSON.stringify(c.gemv.best),
    })),
    ...c.gemm.candidates.map((x) => ({
      kernel: `GEMM (M = ${c.shape.gemmRows})`,
      options: x.options as unknown as Record<string, unknown>,
      ms: x.ms,
      chosen: JSON.stringify(x.options) === JSON.stringify(c.gemm.best),
    })),
  ];
  const table = $<HTMLTableElement>('[data-webq=calibration]');
  table.tBodies[0]!.replaceChildren(
    ...rows.map((r) =>
      h(
        'tr',
        { 'data-chosen': String(r.chosen) },
        h('td', {}, r.kernel),
        h('td', {}, shape(r.options)),
        h('td', { class: 'num' }, r.ms.toFixed(2)),
        h('td', {}, r.chosen ? 'fastest' : ''),
      ),
    ),
  );
  $('[data-webq=calibration-caption]').textContent =
    `Median ms per call on a 4-bit ${c.shape.K}×${c.shape.N} weight; the fastest of each kernel is marked.`;
  table.hidden = false;
}

export function wireCalibrate(): void {
  const webq = uiWebq();
  const button = $<HTMLButtonElement>('[data-webq=calibrate]');
  const status = $('[data-webq=calibrate-status]');
  button.addEventListener('click', async () => {
    button.disabled = true;
    status.textContent = 'Measuring…';
    try {
      const c = await webq.calibrate({
        onProgress: (p) => {
          status.textContent = `Measuring… ${p.loaded} of ${p.total} shapes`;
        },
      });
      render(c);
      status.textContent = `Calibrated: GEMV workgroup ${c.gemv.best.workgroupSize.join('×')} (${c.gemv.ms.toFixed(2)} ms), GEMM ${shape(c.gemm.best as unknown as Record<string, unknown>)} (${c.gemm.ms.toFixed(2)} ms), for ${c.adapter}.`;
    } catch (err) {
      status.textContent = `Not calibrated: ${(err as Error).message}`;
    } finally {
      button.disabled = false;
    }
  });
}
