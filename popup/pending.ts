/**
 * Sites waiting for a decision (SPEC §3): an origin whose permission prompt was closed twice without an answer is
 * not prompted by window again; it is listed here, with the action's badge, until the user allows or denies it.
 * Deciding stores the decision the way the prompt does (`remember`), which clears the origin's dismissals and badge.
 */
import browser from 'webextension-polyfill';
import { CONSENT_STORAGE_KEYS, readPending, remember, type Decision } from '../extension/background/consent';
import { $, h } from '../extension/ui/dom';

function decideButton(origin: string, decision: Decision): HTMLButtonElement {
  const label = decision === 'allow' ? 'Allow' : 'Deny';
  const button = h(
    'button',
    {
      type: 'button',
      'data-webq': `pending-${decision}`,
      class: decision === 'allow' ? 'primary' : false,
      'aria-label': `${label} ${origin} to use webq`,
    },
    label,
  );
  button.addEventListener('click', async () => {
    button.disabled = true;
    await remember(origin, decision);
    await renderPending();
  });
  return button;
}

function siteItem(origin: string): HTMLLIElement {
  const item = h(
    'li',
    { 'data-webq': 'pending-site', class: 'row' },
    h('span', { class: 'mono', 'data-webq': 'pending-origin' }, origin),
    decideButton(origin, 'allow'),
    decideButton(origin, 'deny'),
  );
  item.dataset.origin = origin;
  return item;
}

/** Shows the waiting sites (the section is hidden when there are none). */
export async function renderPending(): Promise<void> {
  const origins = await readPending();
  $('[data-webq=pending]').hidden = origins.length === 0;
  $('[data-webq=pending-list]').replaceChildren(...origins.map(siteItem));
}

/** Renders now and again whenever decisions or dismissals change (another window deciding, a new dismissal). */
export function wirePending(): void {
  browser.storage.onChanged.addListener((changes, area) => {
    if (area === 'local' && CONSENT_STORAGE_KEYS.some((key) => key in changes)) void renderPending();
  });
  void renderPending();
}
