/** Options page: the per-origin consent decisions, each revocable (SPEC §3). */
import { forget, readConsent } from '../extension/background/consent';

async function render(): Promise<void> {
  const decisions = await readConsent();
  const body = document.querySelector('[data-webq=origins] tbody')!;
  body.replaceChildren();
  const origins = Object.keys(decisions).sort();
  document.querySelector<HTMLElement>('[data-webq=origins-empty]')!.hidden = origins.length > 0;
  for (const origin of origins) {
    const row = document.createElement('tr');
    row.dataset.origin = origin;
    const site = document.createElement('td');
    site.className = 'origin';
    site.textContent = origin;
    const decision = document.createElement('td');
    decision.textContent = decisions[origin] === 'allow' ? 'Allowed' : 'Denied';
    const action = document.createElement('td');
    const revoke = document.createElement('button');
    revoke.type = 'button';
    revoke.dataset.webq = 'revoke';
    revoke.textContent = 'Revoke';
    revoke.setAttribute('aria-label', `Revoke the decision for ${origin}`);
    revoke.addEventListener('click', async () => { await forget(origin); await render(); });
    action.append(revoke);
    row.append(site, decision, action);
    body.append(row);
  }
}

void render();
