/**
 * webq's one IndexedDB database in the extension's origin (through `idb`): the model cache's entries and chunks
 * (model-cache.ts), the chunks of downloads still in flight (staging.ts) and the settings the engine host must read
 * (settings.ts). One module opens it, so the schema and
 * its upgrades live in one place. IndexedDB, not storage.local, because Chrome's offscreen document (the engine
 * host) has only chrome.runtime: storage.local is out of its reach, IndexedDB in the extension origin is not.
 */
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';

const DB_NAME = 'webq-models';

export interface CacheEntry<Meta = unknown> {
  key: string;
  source: string;
  variant: string;
  /** The partition it belongs to: a page's top-level origin, or '' for registry files shared by every site. */
  site: string;
  /** sha256 of the stored bytes, checked on every read. */
  sha256: string;
  /** sha256 of the source model these bytes come from (equal to sha256 for the "src" variant). */
  sourceSha256: string;
  size: number;
  chunks: number;
  /**
   * Every chunk but the last holds exactly this many bytes, and `chunkSha256[i]` is chunk i's sha256: a file read in
   * pieces (stored-file.ts) is checked chunk by chunk. Absent in entries written before webq read files in pieces;
   * model-cache.ts `openEntry` adds them after checking the whole file once.
   */
  chunkBytes?: number;
  chunkSha256?: string[];
  complete: boolean;
  createdAt: number;
  lastUsed: number;
  meta: Meta;
}

interface Schema extends DBSchema {
  entries: { key: string; value: CacheEntry; indexes: { lastUsed: number; source: string } };
  chunks: { key: [string, number]; value: ArrayBuffer };
  /** A download's body as it arrives, by (download id, index): never read as a cache entry (staging.ts). */
  staging: { key: [string, number]; value: ArrayBuffer };
  settings: { key: string; value: unknown };
}

let dbPromise: Promise<IDBPDatabase<Schema>> | null = null;

/** The open database (opened once per context; a failed open is retried on the next call). */
export function db(): Promise<IDBPDatabase<Schema>> {
  dbPromise ??= openDB<Schema>(DB_NAME, 2, {
    upgrade(database) {
      // Each store is made when it is missing, whatever version the database had (version 2 added `staging`:
      // downloads are written to disk as they arrive instead of being held in memory).
      const has = (name: string) => database.objectStoreNames.contains(name as 'entries');
      if (!has('entries')) {
        const entries = database.createObjectStore('entries', { keyPath: 'key' });
        entries.createIndex('lastUsed', 'lastUsed');
        entries.createIndex('source', 'source');
      }
      if (!has('chunks')) database.createObjectStore('chunks');
      if (!has('settings')) database.createObjectStore('settings');
      if (!has('staging')) database.createObjectStore('staging');
    },
  }).catch((err) => {
    dbPromise = null;
    throw err;
  });
  return dbPromise;
}
