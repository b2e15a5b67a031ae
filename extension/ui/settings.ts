/**
 * The options page's settings and their checks. Stored in the cache database's settings store (storage/settings.ts),
 * where the engine host can read them too (Chrome's offscreen document has no storage.local).
 */
import { budgetBytes, readSetting, setBudgetBytes, writeSetting } from '../storage/settings';
import { isProfileKey, PROFILES, PROFILE_OVERRIDE_SETTING } from '../host/profile';

export { checkModelHost, DEFAULT_MODEL_HOST, modelHost, setModelHost } from '../models/model-host';

/** The profiles a user may force, by key, with the name the engine reports for each. */
export const PROFILE_CHOICES = Object.entries(PROFILES).map(([key, p]) => ({ key, name: p.name }));

export async function profileOverride(): Promise<string | null> {
  const v = await readSetting(PROFILE_OVERRIDE_SETTING);
  return isProfileKey(v) ? v : null;
}

export async function setProfileOverride(key: string | null): Promise<void> {
  if (key !== null && !isProfileKey(key)) throw new TypeError(`unknown profile ${key}`);
  await writeSetting(PROFILE_OVERRIDE_SETTING, key ?? undefined);
}

/** Budget limits offered by the page: from 64 MiB (one small model) to 1 TiB. */
export const BUDGET_MIN_MIB = 64;
export const BUDGET_MAX_MIB = 1024 * 1024;
export const cacheBudgetMiB = async (): Promise<number> => Math.round((await budgetBytes()) / 2 ** 20);

export async function setCacheBudgetMiB(mib: number): Promise<void> {
  if (!Number.isInteger(mib) || mib < BUDGET_MIN_MIB || mib > BUDGET_MAX_MIB)
    throw new RangeError(`the budget must be a whole number of MiB from ${BUDGET_MIN_MIB} to ${BUDGET_MAX_MIB}`);
  await setBudgetBytes(mib * 2 ** 20);
}
