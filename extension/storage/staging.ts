/**
 * Downloads in flight, on disk (SPEC §3, exhaustion): download.ts writes a body here in chunks as it arrives, so
 * what one download holds in memory is one chunk whatever the file's size, and a slow or stalled download from any
 * site holds disk, bounded by the global bytes-in-flight cap, not the engine's memory. Staged chunks are never a
 * cache entry: nothing looks them up. model-cache.ts `commitStaged` moves them into an entry once the bytes have
 * proved to be what was asked for; `discardStaged` drops them on every other path; `sweepStaging` drops what an
 * engine that went away (closed offscreen document, browser exit) left behind.
 */
import { db } from './database';

/** A download's staged body: where its chunks are and what they add up to. */
export interface StagedFile {
  /** The download's id: its chunks are staging records [id, 0 … chunks - 1]. */
  readonly id: string;
  readonly size: number;
  readonly chunks: number;
  /** sha256 of the whole body. */
  readonly sha256: string;
  /** Every chunk but the last holds this many bytes; chunk i's sha256 is `chunkSha256[i]` (stored-file.ts). */
  readonly chunkBytes: number;
  readonly chunkSha256: readonly string[];
}

const range = (id: string) => IDBKeyRange.bound([id, 0], [id, Number.MAX_SAFE_INTEGER]);

/** A fresh id for a download's chunks. */
export function stagingId(): string {
  return crypto.randomUUID();
}

/**
 * Writes one chunk and waits until IndexedDB has it. The value is copied (structured clone) when the write is
 * queued, so the caller may reuse `bytes`' buffer at once.
 */
export async function putStagedChunk(id: string, index: number, bytes: Uint8Array): Promise<void> {
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
  const value = whole ? (bytes.buffer as ArrayBuffer) : (bytes.slice().buffer as ArrayBuffer);
  const tx = (await db()).transaction('staging', 'readwrite');
  await tx.store.put(value, [id, index]);
  await tx.done;
}

/**
 * The staged body as one buffer (onnxruntime and the parsers need it whole), or null when a chunk is missing or
 * the sizes do not add up (swept while in use, or written by another engine).
 */
export async function readStaged(id: string, chunks: number, size: number): Promise<Uint8Array | null> {
  const database = await db();
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (let i = 0; i < chunks; i++) {
    const chunk = await database.get('staging', [id, i]);
    if (!chunk || offset + chunk.byteLength > size) return null;
    bytes.set(new Uint8Array(chunk), offset);
    offset += chunk.byteLength;
  }
  return offset === size ? bytes : null;
}

/** Drops a download's staged chunks (nothing when they were committed or never written). */
export async function discardStaged(id: string): Promise<void> {
  const tx = (await db()).transaction('staging', 'readwrite');
  await tx.store.delete(range(id));
  await tx.done;
}

/** How many chunks and bytes are staged, across all downloads (for tests and the options page). */
export async function stagedTotals(): Promise<{ chunks: number; bytes: number }> {
  const values = await (await db()).getAll('staging');
  return { chunks: values.length, bytes: values.reduce((n, v) => n + v.byteLength, 0) };
}

let swept: Promise<void> | null = null;
/**
 * Drops every staged chunk, once per engine: whatever is staged when an engine starts belongs to downloads of an
 * engine that is gone (only one engine host runs at a time). The engine calls it at its start, and every download
 * waits for it before its first write, so a sweep never removes a live download's chunks.
 */
export function sweepStaging(): Promise<void> {
  swept ??= (async () => {
    const tx = (await db()).transaction('staging', 'readwrite');
    await tx.store.clear();
    await tx.done;
  })().catch(() => undefined);
  return swept;
}
