/**
 * Files read in pieces from IndexedDB (extension/storage/stored-file.ts) on the real `idb` code over fake-indexeddb:
 * ranges across chunks read what was stored, each chunk is checked against its own sha256 (a corrupt cache entry
 * is deleted, a lost staged chunk is a NetworkError), and an entry written before chunks had hashes gets them once
 * its whole sha256 checks out.
 */
import 'fake-indexeddb/auto';
import { beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { db } from '../../../extension/storage/database';
import { cacheKey, commitStaged, deleteEntry, hasEntry, listEntries } from '../../../extension/storage/model-cache';
import { discardStaged, putStagedChunk, type StagedFile } from '../../../extension/storage/staging';
import { openCachedFile, stagedFile, StoredFileReader } from '../../../extension/storage/stored-file';
import { setBudgetBytes } from '../../../extension/storage/settings';

const SOURCE = 'https://models.example/onnx/model.onnx_data';
const KEY = cacheKey(SOURCE, 'src');
const CHUNK = 1000;
/** 10.5 chunks of varied bytes. */
const DATA = Uint8Array.from({ length: 10_500 }, (_, i) => (i * 7919) >> 5);
const hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function stage(id: string, bytes = DATA): Promise<StagedFile> {
  const chunkSha256: string[] = [];
  for (let at = 0, i = 0; at < bytes.byteLength; at += CHUNK, i++) {
    await putStagedChunk(id, i, bytes.subarray(at, at + CHUNK));
    chunkSha256.push(hex(bytes.subarray(at, at + CHUNK)));
  }
  const chunks = chunkSha256.length;
  return { id, size: bytes.byteLength, chunks, sha256: hex(bytes), chunkBytes: CHUNK, chunkSha256 };
}

async function cached(): Promise<StoredFileReader> {
  await commitStaged({ source: SOURCE, variant: 'src', sourceSha256: hex(DATA), meta: null }, await stage('s1'));
  const opened = await openCachedFile(KEY, SOURCE);
  if (!('file' in opened)) throw new Error(`not cached: ${opened.miss}`);
  return new StoredFileReader(opened.file);
}

/** Overwrites chunk `index` of the cached entry with other bytes of the same length. */
async function spoil(index: number): Promise<void> {
  const chunk = new Uint8Array((await (await db()).get('chunks', [KEY, index]))!);
  chunk[7] = chunk[7]! ^ 1;
  await (await db()).put('chunks', chunk.buffer, [KEY, index]);
}

beforeEach(async () => {
  for (const e of await listEntries()) await deleteEntry(e.key);
  await setBudgetBytes(10 ** 9);
});

describe('a stored file read in pieces', () => {
  it('reads any range, within a chunk or across several, as the bytes stored', async () => {
    const reader = await cached();
    expect(reader.size).toBe(DATA.byteLength);
    for (const [offset, length] of [
      [0, 10],
      [995, 10],
      [1500, 3700],
      [9999, 501],
      [0, DATA.byteLength],
      [4000, 0],
    ] as const)
      expect(await reader.read(offset, length)).toEqual(DATA.subarray(offset, offset + length));
    // What it returns owns its bytes: a small weight kept by the model holds no chunk alive.
    const piece = await reader.read(10, 20);
    expect(piece.buffer.byteLength).toBe(20);
    await expect(reader.read(10_000, 501)).rejects.toThrow(RangeError);
  });

  it('a chunk that does not match its sha256 deletes the entry and fails the read with a DataError', async () => {
    const reader = await cached();
    expect(await reader.read(0, 100)).toEqual(DATA.subarray(0, 100));
    await spoil(3);
    await expect(reader.read(3100, 10)).rejects.toMatchObject({
      name: 'DataError',
      message: expect.stringMatching(/cached copy of .*model\.onnx_data is corrupt \(chunk 4 of 11\).*deleted/),
    });
    expect(await hasEntry(KEY)).toBe(false);
  });

  it('a chunk missing from a cache entry is reported partial and the entry deleted', async () => {
    const reader = await cached();
    await (await db()).delete('chunks', [KEY, 10]);
    await expect(reader.read(10_400, 10)).rejects.toMatchObject({ message: expect.stringMatching(/is partial/) });
    expect(await hasEntry(KEY)).toBe(false);
  });

  it('an entry from before chunk hashes is checked whole once and given them; a corrupt one is a miss', async () => {
    await cached();
    const database = await db();
    const entry = (await database.get('entries', KEY))!;
    delete entry.chunkBytes;
    delete entry.chunkSha256;
    await database.put('entries', entry);
    const opened = await openCachedFile(KEY, SOURCE);
    expect('file' in opened && opened.file.chunkSha256).toEqual((await stage('s2')).chunkSha256);
    await discardStaged('s2');
    expect((await database.get('entries', KEY))!.chunkBytes).toBe(CHUNK);

    delete entry.chunkBytes;
    delete entry.chunkSha256;
    await database.put('entries', entry);
    await spoil(5);
    expect(await openCachedFile(KEY, SOURCE)).toEqual({ miss: 'corrupt' });
    expect(await hasEntry(KEY)).toBe(false);
    expect(await openCachedFile(KEY, SOURCE)).toEqual({ miss: 'absent' });
  });

  it('a staged download reads the same, and a staged chunk gone is a NetworkError', async () => {
    const staged = await stage('s3');
    const reader = new StoredFileReader(stagedFile(staged, SOURCE));
    expect(await reader.read(950, 2100)).toEqual(DATA.subarray(950, 3050));
    await discardStaged('s3');
    await expect(reader.read(5000, 10)).rejects.toMatchObject({
      name: 'NetworkError',
      message: expect.stringContaining('lost from disk'),
    });
  });
});
