/**
 * The consent prompt (SPEC §3): one origin, two buttons; the answer goes to the background, which remembers it.
 * The buttons take clicks only ARM_MS after the prompt became visible (the timer restarts whenever it is hidden
 * again), so a page cannot open it under the user's pointer and have the second click of a double-click answer it.
 */
import browser from 'webextension-polyfill';

/** How long the prompt must have been visible before its buttons take a click. */
const ARM_MS = 750;

const origin = new URLSearchParams(location.search).get('origin') ?? '';
document.getElementById('origin')!.textContent = origin;
const buttons = [...document.querySelectorAll<HTMLButtonElement>('[data-webq=allow], [data-webq=deny]')];
let answered = false;
let timer: ReturnType<typeof setTimeout> | undefined;

function setEnabled(enabled: boolean): void {
  for (const b of buttons) b.disabled = !enabled || answered;
}

/** Disables the buttons and, while the prompt is visible, enables them ARM_MS later. */
function arm(): void {
  clearTimeout(timer);
  setEnabled(false);
  if (document.visibilityState === 'visible') timer = setTimeout(() => setEnabled(true), ARM_MS);
}

async function answer(decision: 'allow' | 'deny'): Promise<void> {
  if (answered) return;
  answered = true;
  setEnabled(false);
  const status = document.getElementById('status')!;
  try {
    await browser.runtime.sendMessage({ type: 'webq-consent-answer', origin, decision });
  } catch (err) {
    status.textContent = `webq did not get the answer (${(err as Error).message}); try again.`;
    answered = false;
    arm();
    return;
  }
  status.textContent = decision === 'allow' ? 'Allowed.' : 'Denied.';
  window.close();
}

document.querySelector<HTMLButtonElement>('[data-webq=allow]')!.addEventListener('click', () => void answer('allow'));
document.querySelector<HTMLButtonElement>('[data-webq=deny]')!.addEventListener('click', () => void answer('deny'));
document.addEventListener('visibilitychange', arm);
arm();
