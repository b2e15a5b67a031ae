/**
 * Settings of the options page that the engine host reads (the default-profile override, the model host, the cache
 * budget), in the shared database (database.ts). They are read on every request, so they are kept in memory; a
 * BroadcastChannel of the extension's origin tells every other context (the engine host, the popup) when one
 * changed, so a change applies without restarting the engine.
 */
import { db } from './database';

export const DEFAULT_BUDGET_BYTES = 4 * 1024 ** 3;
const BUDGET_SETTING = 'cacheBudgetBytes';

const settingsCache = new Map<string, Promise<unknown>>();
const settingsChannel = typeof BroadcastChannel === 'function' ? new BroadcastChannel('webq-settings') : null;
// Node's channel would keep a script that imports this (through prepare.ts) alive; browsers have no unref.
(settingsChannel as { unref?: () => void } | null)?.unref?.();
settingsChannel?.addEventListener('message', (event: MessageEvent<{ changed?: unknown }>) => {
  if (typeof event.data?.changed === 'string') settingsCache.delete(event.data.changed);
});

export async function readSetting(key: string): Promise<unknown> {
  if (!settingsCache.has(key)) settingsCache.set(key, (await db()).get('settings', key));
  return settingsCache.get(key);
}

/** Stores a setting; `undefined` removes it. Other contexts of the extension hear of it and re-read. */
export async function writeSetting(key: string, value: unknown): Promise<void> {
  const database = await db();
  if (value === undefined) await database.delete('settings', key);
  else await database.put('settings', value, key);
  settingsCache.delete(key);
  settingsChannel?.postMessage({ changed: key });
}

/**
 * The model cache's size budget (options page), 4 GiB unless set. Read from the database on every call, not the
 * in-memory copy: it is needed only when an entry is written, and another context may have changed it.
 */
export async function budgetBytes(): Promise<number> {
  const value = await (await db()).get('settings', BUDGET_SETTING);
  return typeof value === 'number' && value > 0 ? value : DEFAULT_BUDGET_BYTES;
}

export async function setBudgetBytes(bytes: number): Promise<void> {
  await writeSetting(BUDGET_SETTING, bytes);
}
