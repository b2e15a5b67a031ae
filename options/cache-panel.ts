/**
 * Cache: every stored model and variant (source bytes and each quantized rewrite) with its size and last use,
 * deletable one by one or all at once, and what the browser says about the extension's storage.
 */
import { deleteEntry, listEntries, type CacheEntry } from '../extension/storage/model-cache';
import { budgetBytes } from '../extension/storage/settings';
import { $, h } from '../extension/ui/dom';
import { formatBytes, formatDate } from '../extension/ui/format';

/** Human form of a variant key written by the engine (`q4s128m8.8`, `q8s128ei`, `src`, …). */
export function describeVariant(variant: string): string {
  if (variant === 'src') return 'as downloaded';
  const m = /^q(\d+)([sa])(-?\d+)(?:m(\d+)\.(\d+))?(n?)(e?)(i?)$/.exec(variant);
  if (!m) return variant;
  const [, bits, scheme, group, attention, embedding, noSkip, tablesKept, integer] = m;
  const groupText = group === '0' ? 'per channel' : group === '-1' ? 'per tensor' : `group ${group}`;
  const parts = [`${bits}-bit`, scheme === 's' ? 'symmetric' : 'asymmetric', groupText];
  if (attention) parts.push(`mixed (attention ${attention}-bit, embeddings ${embedding}-bit)`);
  if (noSkip) parts.push('LayerNorm quantized');
  if (tablesKept) parts.push('embedding tables as stored (for wasm/WebNN)');
  if (integer) parts.push('int8 MatMuls (for wasm)');
  return parts.join(', ');
}

export async function renderCache(): Promise<void> {
  const entries = (await listEntries()).sort(
    (a, b) => a.source.localeCompare(b.source) || a.variant.localeCompare(b.variant),
  );
  $('[data-webq=cache-empty]').hidden = entries.length > 0;
  $<HTMLButtonElement>('[data-webq=cache-clear]').disabled = entries.length === 0;
  $('[data-webq=cache] tbody').replaceChildren(...entries.map(row));
  const used = entries.reduce((n, e) => n + e.size, 0);
  const budget = await budgetBytes();
  let estimate = '';
  try {
    const e = await navigator.storage.estimate();
    if (e.usage !== undefined)
      estimate = ` The browser counts ${formatBytes(e.usage)} used by webq${e.quota ? ` of a ${formatBytes(e.quota)} quota` : ''}.`;
  } catch {
    /* no estimate in this browser: the cache's own total still shows */
  }
  $('[data-webq=cache-total]').textContent =
    `${entries.length} ${entries.length === 1 ? 'entry' : 'entries'}, ${formatBytes(used)} of the ${formatBytes(budget)} budget.${estimate}`;
}

function row(entry: CacheEntry): HTMLTableRowElement {
  const name = `${entry.source} (${describeVariant(entry.variant)})`;
  const del = h(
    'button',
    { type: 'button', 'data-webq': 'cache-delete', 'aria-label': `Delete ${name} from the cache` },
    'Delete',
  );
  del.addEventListener('click', async () => {
    del.disabled = true;
    await deleteEntry(entry.key);
    announce(`Deleted ${name}.`);
    await renderCache();
  });
  const tr = h(
    'tr',
    {},
    // A page's URL is cached for that site alone (SPEC §3); registry files are shared by every site.
    h(
      'td',
      { class: 'mono' },
      entry.source,
      h('div', { class: 'muted' }, entry.site ? `for ${entry.site}` : 'shared (built-in model)'),
    ),
    h('td', {}, describeVariant(entry.variant), entry.complete ? null : h('span', { class: 'warn' }, ' (incomplete)')),
    h('td', { class: 'num' }, formatBytes(entry.size)),
    h('td', {}, h('time', { datetime: new Date(entry.lastUsed).toISOString() }, formatDate(entry.lastUsed))),
    h('td', {}, del),
  );
  tr.dataset.key = entry.key;
  tr.dataset.source = entry.source;
  tr.dataset.site = entry.site ?? '';
  tr.dataset.variant = entry.variant;
  return tr;
}

function announce(text: string): void {
  $('[data-webq=cache-status]').textContent = text;
}

export function wireCache(): void {
  $('[data-webq=cache-clear]').addEventListener('click', async () => {
    const entries = await listEntries();
    if (
      !confirm(
        `Delete all ${entries.length} cached models and variants? Sites will download them again when they next need them.`,
      )
    )
      return;
    for (const e of entries) await deleteEntry(e.key);
    announce(`Deleted ${entries.length} ${entries.length === 1 ? 'entry' : 'entries'}.`);
    await renderCache();
  });
  $('[data-webq=cache-refresh]').addEventListener('click', () => void renderCache());
}
