/**
 * The model cache (SPEC §4): IndexedDB in the extension's origin, through `idb`. One entry per (source URL,
 * variant): the downloaded source bytes (variant "src") or a quantized rewrite of them, stored in chunks of at most
 * 32 MiB (large single values fail in IndexedDB), with metadata: sizes, sha256 of the stored bytes, the source's
 * sha256, last use, and whatever the variant needs to be used without redoing work (its weight report).
 *
 * Every read is checked against the stored sha256; a corrupt or partial entry is deleted and reported as a miss,
 * so the caller fetches or quantizes again. Writes mark an entry complete only after its last chunk, in one
 * transaction. A download reaches the cache by `commitStaged`: its chunks, written to the staging store as they
 * arrived (staging.ts), move into the entry in that one transaction, so an entry is visible to lookups and counted
 * in the budget only once the caller has validated its bytes. Reading an entry assembles its chunks into one buffer:
 * onnxruntime and the parsers need a model whole. A model's external data is instead read in pieces
 * (stored-file.ts): each chunk's sha256 is kept in the entry for that.
 *
 * Entries belong to a site (the partition of the page that named the URL, resolve.ts) or to everyone (registry ids,
 * site ''). A site may hold at most half the budget, and to make room it evicts only its own least-recently-used
 * entries, never another site's (SPEC §3): a site cannot flush what other sites loaded, or learn of it by trying.
 */
import { sha256Hex } from '../shared/sha256';
import { db, type CacheEntry } from './database';
import { budgetBytes } from './settings';
import { discardStaged, type StagedFile } from './staging';

export type { CacheEntry } from './database';

export const CHUNK_BYTES = 32 * 1024 * 1024;

/** Registry files (site '') keep the key they have always had; a site's copy of a URL is a key of its own. */
export const cacheKey = (source: string, variant: string, site = '') =>
  site ? `${variant}|${site}|${source}` : `${variant}|${source}`;

/** The share of the budget one site's entries may hold (the shared registry files may use all of it). */
export const SITE_SHARE = 0.5;

let persistAsked = false;
/** Ask once for persistent storage, so the browser does not evict models under pressure. */
async function askPersist(): Promise<void> {
  if (persistAsked) return;
  persistAsked = true;
  try {
    await navigator.storage?.persist?.();
  } catch {
    /* not granted: unlimitedStorage still exempts the extension */
  }
}

export type CacheRead<Meta> =
  { entry: CacheEntry<Meta>; bytes: Uint8Array } | { miss: 'absent' | 'corrupt' | 'partial' };

/** Reads and verifies an entry. A corrupt or partial entry is deleted; the caller gets it as a miss with the reason. */
export async function readEntry<Meta>(
  key: string,
  onProgress?: (loaded: number, total: number) => void,
): Promise<CacheRead<Meta>> {
  const entry = await completeEntry<Meta>(key);
  if ('miss' in entry) return entry;
  const database = await db();
  const bytes = new Uint8Array(entry.size);
  let offset = 0;
  for (let i = 0; i < entry.chunks; i++) {
    const chunk = await database.get('chunks', [key, i]);
    if (!chunk || offset + chunk.byteLength > entry.size) {
      await deleteEntry(key);
      return { miss: 'partial' };
    }
    bytes.set(new Uint8Array(chunk), offset);
    offset += chunk.byteLength;
    onProgress?.(offset, entry.size);
  }
  if (offset !== entry.size || (await sha256Hex(bytes)) !== entry.sha256) {
    await deleteEntry(key);
    return { miss: offset !== entry.size ? 'partial' : 'corrupt' };
  }
  await markUsed(entry);
  return { entry, bytes };
}

/** The entry under `key` if it is complete; one a write left incomplete is deleted and reported partial. */
export async function completeEntry<Meta>(key: string): Promise<CacheEntry<Meta> | { miss: 'absent' | 'partial' }> {
  const entry = (await (await db()).get('entries', key)) as CacheEntry<Meta> | undefined;
  if (!entry) return { miss: 'absent' };
  if (entry.complete) return entry;
  await deleteEntry(key);
  return { miss: 'partial' };
}

/** Records a read of the entry (eviction goes by least recent use). */
export async function markUsed(entry: CacheEntry<unknown>): Promise<void> {
  entry.lastUsed = Date.now();
  await (await db()).put('entries', entry);
}

type EntryFields<Meta> = { source: string; variant: string; site?: string; sourceSha256: string; meta: Meta };

/**
 * Stores bytes under the entry's key (replacing what was there), evicting the same site's least-recently-used
 * entries to fit its quota and the budget; QuotaExceededError when that cannot make room.
 */
export async function writeEntry<Meta>(fields: EntryFields<Meta>, bytes: Uint8Array): Promise<CacheEntry<Meta>> {
  const chunks = Math.ceil(bytes.byteLength / CHUNK_BYTES);
  const parts = Array.from({ length: chunks }, (_, i) =>
    bytes.subarray(i * CHUNK_BYTES, Math.min(bytes.byteLength, (i + 1) * CHUNK_BYTES)),
  );
  const layout = { chunkBytes: CHUNK_BYTES, chunkSha256: await Promise.all(parts.map(sha256Hex)) };
  const entry = await makeRoom(fields, bytes.byteLength, chunks, await sha256Hex(bytes), layout);
  const database = await db();
  // The entry is written first as incomplete and flipped to complete in the same transaction as its chunks:
  // a crash or quota error part-way leaves either nothing or an entry that reads as "partial".
  const tx = database.transaction(['entries', 'chunks'], 'readwrite');
  await tx.objectStore('entries').put(entry);
  for (const [i, part] of parts.entries()) await tx.objectStore('chunks').put(part.slice().buffer, [entry.key, i]);
  entry.complete = true;
  await tx.objectStore('entries').put(entry);
  await tx.done;
  return entry;
}

/**
 * Makes a validated download a cache entry: its staged chunks move into the entry (one chunk in memory at a time)
 * in the transaction that marks it complete, under the same quota and eviction rules as `writeEntry`. The staged
 * chunks are gone afterwards whatever happens: moved, or dropped when the entry cannot be stored.
 */
export async function commitStaged<Meta>(fields: EntryFields<Meta>, staged: StagedFile): Promise<CacheEntry<Meta>> {
  try {
    const entry = await makeRoom(fields, staged.size, staged.chunks, staged.sha256, {
      chunkBytes: staged.chunkBytes,
      chunkSha256: [...staged.chunkSha256],
    });
    const database = await db();
    const tx = database.transaction(['entries', 'chunks', 'staging'], 'readwrite');
    await tx.objectStore('entries').put(entry);
    let size = 0;
    for (let i = 0; i < entry.chunks; i++) {
      const chunk = await tx.objectStore('staging').get([staged.id, i]);
      if (!chunk) break;
      size += chunk.byteLength;
      await tx.objectStore('chunks').put(chunk, [entry.key, i]);
      await tx.objectStore('staging').delete([staged.id, i]);
    }
    if (size !== staged.size) {
      tx.abort();
      await tx.done.catch(() => undefined);
      throw new Error(`the staged download ${staged.id} is incomplete`);
    }
    entry.complete = true;
    await tx.objectStore('entries').put(entry);
    await tx.done;
    return entry;
  } finally {
    await discardStaged(staged.id).catch(() => undefined);
  }
}

/** Drops what is stored under the entry's key and evicts for `size` bytes; the new entry, not yet complete. */
async function makeRoom<Meta>(
  fields: EntryFields<Meta>,
  size: number,
  chunks: number,
  sha256: string,
  layout: { chunkBytes: number; chunkSha256: string[] },
): Promise<CacheEntry<Meta>> {
  void askPersist();
  const site = fields.site ?? '';
  const key = cacheKey(fields.source, fields.variant, site);
  await deleteEntry(key);
  const budget = await budgetBytes();
  const quota = site ? Math.floor(budget * SITE_SHARE) : budget;
  if (size > quota) {
    throw quotaError(
      `the model variant is ${size} bytes, more than the ${site ? "site's share of the " : ''}cache budget (${quota} bytes)`,
    );
  }
  await evictFor(size, site, quota, budget);
  const now = Date.now();
  return { key, ...fields, site, sha256, size, chunks, ...layout, complete: false, createdAt: now, lastUsed: now };
}

/** Whether a complete entry is stored under `key` (its bytes are not read or checked). */
export async function hasEntry(key: string): Promise<boolean> {
  const entry = await (await db()).get('entries', key);
  return entry?.complete === true;
}

export async function deleteEntry(key: string): Promise<void> {
  const database = await db();
  const tx = database.transaction(['entries', 'chunks'], 'readwrite');
  await tx.objectStore('chunks').delete(IDBKeyRange.bound([key, 0], [key, Number.MAX_SAFE_INTEGER]));
  await tx.objectStore('entries').delete(key);
  await tx.done;
}

export async function listEntries(): Promise<CacheEntry[]> {
  return (await db()).getAll('entries');
}

/** Frees room for `incoming` bytes of `site` by evicting that site's own entries, oldest use first. */
async function evictFor(incoming: number, site: string, quota: number, budget: number): Promise<void> {
  const entries = await listEntries();
  let used = entries.reduce((n, e) => n + e.size, 0);
  const own = entries.filter((e) => (e.site ?? '') === site).sort((a, b) => a.lastUsed - b.lastUsed);
  let ownUsed = own.reduce((n, e) => n + e.size, 0);
  for (const e of own) {
    if (used + incoming <= budget && ownUsed + incoming <= quota) break;
    await deleteEntry(e.key);
    used -= e.size;
    ownUsed -= e.size;
  }
  if (used + incoming > budget || ownUsed + incoming > quota) {
    throw quotaError(`the cache has no room for ${incoming} bytes without evicting other sites' models`);
  }
}

function quotaError(message: string): Error {
  const err = new Error(message);
  err.name = 'QuotaExceededError';
  return err;
}
