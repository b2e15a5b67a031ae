/**
 * Where registry ids are fetched from (SPEC §5): a model host with the Hugging Face hub's path layout
 * `/{repo}/resolve/{revision}/{file}` — a pinned entry's commit, else `main` (registry.ts). The host is a setting
 * (options page `[data-webq=model-host]`), stored in the cache database's settings store so the engine host reads
 * it too; a local mirror with the same layout works.
 */
import { readSetting, writeSetting } from '../storage/settings';

export const DEFAULT_MODEL_HOST = 'https://huggingface.co';
const MODEL_HOST_SETTING = 'modelHost';
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * https anywhere, or plain http only on this machine (the rule the engine applies to model URLs). Returns the
 * normalised URL (no trailing slash) or the reason it is refused.
 */
export function checkModelHost(raw: string): { ok: true; url: string } | { ok: false; reason: string } {
  const text = raw.trim();
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, reason: 'Enter an absolute URL, such as https://huggingface.co.' };
  }
  if (url.username || url.password) return { ok: false, reason: 'The URL must not contain a user name or password.' };
  if (url.search || url.hash) return { ok: false, reason: 'The URL must not have a query (?…) or fragment (#…).' };
  const loopback = LOOPBACK.has(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    return { ok: false, reason: 'Use https, or http only for localhost, 127.0.0.1 or [::1].' };
  }
  return { ok: true, url: url.href.replace(/\/+$/, '') };
}

/** The configured host; an unreadable or invalid setting means the default. */
export async function modelHost(): Promise<string> {
  const v = await readSetting(MODEL_HOST_SETTING).catch(() => undefined);
  return typeof v === 'string' && checkModelHost(v).ok ? v : DEFAULT_MODEL_HOST;
}

export async function setModelHost(url: string): Promise<void> {
  const checked = checkModelHost(url);
  if (!checked.ok) throw new TypeError(checked.reason);
  await writeSetting(MODEL_HOST_SETTING, checked.url);
}

/**
 * The URL of `file` in `repo` at `revision` (a commit id for a pinned entry, `main` for an unpinned one) on `host`,
 * in the hub's layout. Each path segment is encoded; '/' separates them.
 */
export function hubFileUrl(host: string, repo: string, file: string, revision = 'main'): URL {
  const path = [...repo.split('/'), 'resolve', revision, ...file.split('/')].map(encodeURIComponent).join('/');
  return new URL(`${host.replace(/\/+$/, '')}/${path}`);
}
