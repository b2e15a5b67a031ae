/** Device panel: what `webq.capabilities()` reports about this browser, GPU, WebNN, wasm and the profile in use. */
import type { Capabilities } from '../extension/shared/types';
import { $, definitions, h } from '../extension/ui/dom';
import { bitsLabel, formatNumber } from '../extension/ui/format';

export function renderDevice(caps: Capabilities): void {
  const { webgpu, webnn, wasm, profile } = caps;
  const adapter = webgpu.adapter;
  const adapterText = adapter
    ? [
        adapter.description || '(no description)',
        adapter.vendor && `vendor ${adapter.vendor}`,
        adapter.architecture && `architecture ${adapter.architecture}`,
      ]
        .filter(Boolean)
        .join(' · ')
    : `none — ${webgpu.reason ?? 'WebGPU is unavailable'}`;
  const summary = definitions([
    ['Browser', `${caps.browser.name} ${caps.browser.version}`],
    ['WebGPU adapter', adapterText],
    ['Emulated', adapter ? (adapter.emulated ? 'yes — runs on the CPU, so auto prefers other backends' : 'no') : '—'],
    ['WebNN', webnn.available ? 'available' : `unavailable — ${webnn.reason ?? 'no reason given'}`],
    ['wasm', `${wasm.threads} thread${wasm.threads === 1 ? '' : 's'}, SIMD ${wasm.simd ? 'yes' : 'no'}`],
    [
      'Profile',
      `${profile.name}: auto tries ${profile.backendOrder.join(' → ')}; quantizes to ${bitsLabel(profile.bits)} ${profile.scheme}, group ${profile.groupSize}${profile.mixedPrecision ? ', mixed precision' : ''}`,
    ],
  ]);
  summary.dataset.webq = 'device-summary';
  const features = h(
    'details',
    { 'data-webq': 'features' },
    h('summary', {}, `Features (${webgpu.features.length})`),
    webgpu.features.length
      ? h('ul', { class: 'columns' }, ...webgpu.features.map((f) => h('li', { class: 'mono' }, f)))
      : h('p', {}, 'None.'),
  );
  const limits = Object.entries(webgpu.limits).sort(([a], [b]) => a.localeCompare(b));
  const limitsTable = h(
    'details',
    { 'data-webq': 'limits' },
    h('summary', {}, `Limits (${limits.length})`),
    h(
      'table',
      {},
      h(
        'tbody',
        {},
        ...limits.map(([k, v]) =>
          h('tr', {}, h('th', { scope: 'row', class: 'mono' }, k), h('td', { class: 'num' }, formatNumber(v))),
        ),
      ),
    ),
  );
  $('[data-webq=device-body]').replaceChildren(summary, features, limitsTable);
}

export function renderDeviceError(err: Error): void {
  $('[data-webq=device-body]').replaceChildren(
    h('p', { class: 'error', role: 'alert' }, `Could not read the device: ${err.name}: ${err.message}`),
  );
}
