/** The consent prompt (SPEC §3): one origin, two buttons; the answer goes to the background, which remembers it. */
import browser from 'webextension-polyfill';

const origin = new URLSearchParams(location.search).get('origin') ?? '';
document.getElementById('origin')!.textContent = origin;

async function answer(decision: 'allow' | 'deny'): Promise<void> {
  for (const b of document.querySelectorAll('button')) b.disabled = true;
  await browser.runtime.sendMessage({ type: 'webq-consent-answer', origin, decision });
  document.getElementById('status')!.textContent = decision === 'allow' ? 'Allowed.' : 'Denied.';
  window.close();
}

document.querySelector<HTMLButtonElement>('[data-webq=allow]')!.addEventListener('click', () => void answer('allow'));
document.querySelector<HTMLButtonElement>('[data-webq=deny]')!.addEventListener('click', () => void answer('deny'));
