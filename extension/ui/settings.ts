/**
 * The options page's settings and their checks. Stored in the cache database's settings store (host/cache.ts),
 * where the engine host can read them too (Chrome's offscreen document has no storage.local).
 */
import { budgetBytes, readSetting, setBudgetBytes, writeSetting } from '../host/cache';
import { isProfileKey, PROFILES, PROFILE_OVERRIDE_SETTING } from '../host/profile';

export const DEFAULT_MODEL_HOST = 'https://huggingface.co';
const MODEL_HOST_SETTING = 'modelHost';
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * A model host is where registry ids will be fetched from: https anywhere, or plain http only on this machine
 * (the same rule the engine applies to model URLs). Returns the normalised URL or the reason it is refused.
 */
export function checkModelHost(raw: string): { ok: true; url: string } | { ok: false; reason: string } {
  const text = raw.trim();
  let url: URL;
  try { url = new URL(text); } catch { return { ok: false, reason: 'Enter an absolute URL, such as https://huggingface.co.' }; }
  if (url.username || url.password) return { ok: false, reason: 'The URL must not contain a user name or password.' };
  if (url.search || url.hash) return { ok: false, reason: 'The URL must not have a query (?…) or fragment (#…).' };
  const loopback = LOOPBACK.has(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    return { ok: false, reason: 'Use https, or http only for localhost, 127.0.0.1 or [::1].' };
  }
  return { ok: true, url: url.href.replace(/\/+$/, '') };
}

export async function modelHost(): Promise<string> {
  const v = await readSetting(MODEL_HOST_SETTING);
  return typeof v === 'string' && checkModelHost(v).ok ? v : DEFAULT_MODEL_HOST;
}

export async function setModelHost(url: string): Promise<void> {
  const checked = checkModelHost(url);
  if (!checked.ok) throw new TypeError(checked.reason);
  await writeSetting(MODEL_HOST_SETTING, checked.url);
}

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
  if (!Number.isInteger(mib) || mib < BUDGET_MIN_MIB || mib > BUDGET_MAX_MIB) throw new RangeError(`the budget must be a whole number of MiB from ${BUDGET_MIN_MIB} to ${BUDGET_MAX_MIB}`);
  await setBudgetBytes(mib * 2 ** 20);
}
