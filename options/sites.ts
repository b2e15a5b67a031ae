/** Sites: the per-origin consent decisions, each revocable (SPEC §3). */
import { forget, readConsent } from '../extension/background/consent';
import { $, h } from '../extension/ui/dom';

export async function renderSites(): Promise<void> {
  const decisions = await readConsent();
  const body = $('[data-webq=origins] tbody');
  const origins = Object.keys(decisions).sort();
  $('[data-webq=origins-empty]').hidden = origins.length > 0;
  body.replaceChildren(
    ...origins.map((origin) => {
      const revoke = h(
        'button',
        { type: 'button', 'data-webq': 'revoke', 'aria-label': `Revoke the decision for ${origin}` },
        'Revoke',
      );
      revoke.addEventListener('click', async () => {
        await forget(origin);
        await renderSites();
      });
      const row = h(
        'tr',
        {},
        h('td', { class: 'mono' }, origin),
        h('td', {}, decisions[origin] === 'allow' ? 'Allowed' : 'Denied'),
        h('td', {}, revoke),
      );
      row.dataset.origin = origin;
      return row;
    }),
  );
}
