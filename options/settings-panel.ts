/**
 * Settings: model host (where registry ids are fetched from), cache budget (the cache's LRU limit), and the default
 * profile override (the engine reads it when it picks a profile), and the window.LanguageModel switch.
 */
import { $, h } from '../extension/ui/dom';
import {
  BUDGET_MAX_MIB,
  BUDGET_MIN_MIB,
  cacheBudgetMiB,
  checkModelHost,
  modelHost,
  PROFILE_CHOICES,
  profileOverride,
  setCacheBudgetMiB,
  setModelHost,
  setProfileOverride,
} from '../extension/ui/settings';
import { languageModelGlobal, setLanguageModelGlobal } from '../extension/content/language-model-global';

const hostInput = () => $<HTMLInputElement>('[data-webq=model-host]');
const budgetInput = () => $<HTMLInputElement>('[data-webq=cache-budget]');
const profileSelect = () => $<HTMLSelectElement>('[data-webq=profile]');
const languageModelBox = () => $<HTMLInputElement>('[data-webq=language-model-global]');

function setError(input: HTMLInputElement, errorId: string, message: string | null): void {
  const error = $(`#${errorId}`);
  error.textContent = message ?? '';
  error.hidden = message === null;
  if (message === null) input.removeAttribute('aria-invalid');
  else input.setAttribute('aria-invalid', 'true');
}

export async function renderSettings(): Promise<void> {
  const select = profileSelect();
  select.replaceChildren(
    h('option', { value: '' }, 'Detect from the browser (recommended)'),
    ...PROFILE_CHOICES.map((p) => h('option', { value: p.key }, `${p.name} (${p.key})`)),
  );
  const [host, budget, profile, globalLm] = await Promise.all([
    modelHost(),
    cacheBudgetMiB(),
    profileOverride(),
    languageModelGlobal(),
  ]);
  hostInput().value = host;
  budgetInput().value = String(budget);
  budgetInput().min = String(BUDGET_MIN_MIB);
  budgetInput().max = String(BUDGET_MAX_MIB);
  select.value = profile ?? '';
  languageModelBox().checked = globalLm;
}

export function wireSettings(changed: () => void): void {
  const form = $<HTMLFormElement>('[data-webq=settings]');
  const status = $('[data-webq=settings-status]');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    status.textContent = '';
    // Check everything first, so a bad field saves nothing and focus lands on the first one to fix.
    const host = checkModelHost(hostInput().value);
    setError(hostInput(), 'model-host-error', host.ok ? null : host.reason);
    const mib = Number(budgetInput().value);
    const budgetOk = Number.isInteger(mib) && mib >= BUDGET_MIN_MIB && mib <= BUDGET_MAX_MIB;
    setError(
      budgetInput(),
      'cache-budget-error',
      budgetOk ? null : `Enter a whole number of MiB from ${BUDGET_MIN_MIB} to ${BUDGET_MAX_MIB}.`,
    );
    if (!host.ok) {
      hostInput().focus();
      status.textContent = 'Not saved: fix the model host.';
      return;
    }
    if (!budgetOk) {
      budgetInput().focus();
      status.textContent = 'Not saved: fix the cache budget.';
      return;
    }
    await setModelHost(host.url);
    await setCacheBudgetMiB(mib);
    await setProfileOverride(profileSelect().value || null);
    const lmError = await setLanguageModelGlobal(languageModelBox().checked).then(
      () => null,
      (err: unknown) => (err as Error)?.message ?? String(err),
    );
    await renderSettings();
    status.textContent = lmError ? `Saved, but window.LanguageModel could not be switched: ${lmError}` : 'Saved.';
    changed();
  });
}
