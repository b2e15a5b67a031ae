/**
 * A file read in pieces from IndexedDB, never whole in memory: a model's external data (`model.onnx_data`, 4.9 GB
 * for Llama-3.2-1B in fp32) is quantized one weight at a time straight from its chunks, in the cache (a stored entry)
 * or in the staging store (a download not yet committed). A `StoredFile` says where the chunks are and what each
 * must hash to; it is plain data, so it crosses to the preparation worker, which opens the same database.
 *
 * Each chunk is checked against its own sha256 when read. A cache entry that fails the check is deleted, so the next
 * load downloads it again; the load that found it fails with a DataError that says so.
 */
import { WebqError } from '../shared/errors';
import { sha256Hex, sha256Stream } from '../shared/sha256';
import { db, type CacheEntry } from './database';
import { completeEntry, deleteEntry, markUsed } from './model-cache';
import type { StagedFile } from './staging';

export interface StoredFile {
  /** A cache entry's chunks (by its key) or a staged download's (by its id). */
  store: 'chunks' | 'staging';
  key: string;
  /** What the file is, for messages: its URL. */
  label: string;
  size: number;
  chunks: number;
  /** Every chunk but the last holds exactly this many bytes. */
  chunkBytes: number;
  chunkSha256: readonly string[];
}

/** A staged download, to read before it is committed to the cache. */
export function stagedFile(staged: StagedFile, label: string): StoredFile {
  const { id, size, chunks, chunkBytes, chunkSha256 } = staged;
  return { store: 'staging', key: id, label, size, chunks, chunkBytes, chunkSha256 };
}

/**
 * A complete cache entry, to read in pieces (its bytes are not read now). An entry written before chunks had their
 * own sha256 is read once, checked against the whole file's sha256, and given them; a partial or corrupt one is
 * deleted and reported as a miss, as `readEntry` does.
 */
export async function openCachedFile(
  key: string,
  label: string,
): Promise<{ entry: CacheEntry; file: StoredFile } | { miss: 'absent' | 'corrupt' | 'partial' }> {
  const entry = await completeEntry(key);
  if ('miss' in entry) return entry;
  if (!entry.chunkSha256 || entry.chunkBytes === undefined) {
    const layout = await chunkLayout(entry);
    if ('miss' in layout) {
      await deleteEntry(key);
      return layout;
    }
    Object.assign(entry, layout);
  }
  await markUsed(entry);
  const { size, chunks, chunkBytes, chunkSha256 } = entry as Required<CacheEntry>;
  return { entry, file: { store: 'chunks', key, label, size, chunks, chunkBytes, chunkSha256 } };
}

/** An older entry's chunk sizes and hashes, read chunk by chunk and checked against its whole sha256. */
async function chunkLayout(
  entry: CacheEntry,
): Promise<{ chunkBytes: number; chunkSha256: string[] } | { miss: 'corrupt' | 'partial' }> {
  const database = await db();
  const whole = await sha256Stream();
  const chunkSha256: string[] = [];
  let chunkBytes = 0;
  let size = 0;
  for (let i = 0; i < entry.chunks; i++) {
    const chunk = await database.get('chunks', [entry.key, i]);
    if (!chunk) return { miss: 'partial' };
    if (i === 0) chunkBytes = chunk.byteLength;
    const last = i === entry.chunks - 1;
    if (last ? chunk.byteLength > chunkBytes : chunk.byteLength !== chunkBytes) return { miss: 'partial' };
    const bytes = new Uint8Array(chunk);
    whole.update(bytes);
    chunkSha256.push(await sha256Hex(bytes));
    size += bytes.byteLength;
  }
  if (size !== entry.size) return { miss: 'partial' };
  if (whole.hex() !== entry.sha256) return { miss: 'corrupt' };
  return { chunkBytes, chunkSha256 };
}

/**
 * Reads byte ranges of a stored file. The last chunk read is kept, since weights lie one after another and a chunk
 * holds many; a range across chunks is copied out of each in turn. What `read` returns is a fresh array that owns
 * its bytes: a small weight kept by the model never holds a whole chunk alive.
 */
export class StoredFileReader {
  private last: { index: number; bytes: Uint8Array } | null = null;

  constructor(readonly file: StoredFile) {}

  get size(): number {
    return this.file.size;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const { file } = this;
    if (!(offset >= 0 && length >= 0 && offset + length <= file.size))
      throw new RangeError(`bytes ${offset}–${offset + length} lie outside ${file.label} (${file.size} bytes)`);
    const out = new Uint8Array(length);
    for (let at = offset; at < offset + length;) {
      const index = Math.floor(at / file.chunkBytes);
      const chunk = await this.chunk(index);
      const start = at - index * file.chunkBytes;
      const n = Math.min(chunk.byteLength - start, offset + length - at);
      out.set(chunk.subarray(start, start + n), at - offset);
      at += n;
    }
    return out;
  }

  /** The whole file in one array (onnxruntime-web takes a graph's external data whole). */
  readAll(): Promise<Uint8Array> {
    return this.read(0, this.file.size);
  }

  private async chunk(index: number): Promise<Uint8Array> {
    if (this.last?.index === index) return this.last.bytes;
    this.last = null;
    const { file } = this;
    const value = await (await db()).get(file.store, [file.key, index]);
    const expected = index < file.chunks - 1 ? file.chunkBytes : file.size - file.chunkBytes * (file.chunks - 1);
    const bytes = value && value.byteLength === expected ? new Uint8Array(value) : null;
    if (!bytes || (await sha256Hex(bytes)) !== file.chunkSha256[index]) {
      if (file.store === 'staging')
        throw new WebqError('NetworkError', `the download of ${file.label} was lost from disk; try again`);
      await deleteEntry(file.key);
      throw new WebqError(
        'DataError',
        `the cached copy of ${file.label} is ${bytes ? 'corrupt' : 'partial'} (chunk ${index + 1} of ${file.chunks}); it was deleted, and the next load downloads it again`,
      );
    }
    this.last = { index, bytes };
    return bytes;
  }
}
