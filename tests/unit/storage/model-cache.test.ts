/**
 * The cache's partitions and per-site quota (SPEC §3) on the real `idb` code over fake-indexeddb, an in-memory
 * IndexedDB that implements the standard (the browsers' own IndexedDB is exercised by the e2e suites).
 */
import 'fake-indexeddb/auto';
import { beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import {
  cacheKey,
  commitStaged,
  deleteEntry,
  hasEntry,
  listEntries,
  readEntry,
  writeEntry,
} from '../../../extension/storage/model-cache';
import { putStagedChunk, stagedTotals, type StagedFile } from '../../../extension/storage/staging';
import { setBudgetBytes } from '../../../extension/storage/settings';

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);
const write = (source: string, site: string, n: number) =>
  writeEntry({ source, variant: 'src', site, sourceSha256: 'x', meta: null }, bytes(n, n & 255));
const held = async () => (await listEntries()).map((e) => `${e.site || 'shared'} ${e.source}`).sort();

beforeEach(async () => {
  for (const e of await listEntries()) await deleteEntry(e.key);
  await setBudgetBytes(1000);
});

describe('model cache partitions', () => {
  it('one URL is a separate entry per site, and the shared (registry) entry is a third', async () => {
    await write('https://cdn.example/m.onnx', 'https://a.example', 100);
    await write('https://cdn.example/m.onnx', 'https://b.example', 100);
    await write('https://cdn.example/m.onnx', '', 100);
    expect(await held()).toEqual([
      'https://a.example https://cdn.example/m.onnx',
      'https://b.example https://cdn.example/m.onnx',
      'shared https://cdn.example/m.onnx',
    ]);
    expect('entry' in (await readEntry(cacheKey('https://cdn.example/m.onnx', 'src', 'https://a.example')))).toBe(true);
    expect(await readEntry(cacheKey('https://cdn.example/m.onnx', 'src', 'https://c.example'))).toEqual({
      miss: 'absent',
    });
  });

  it('a site holds at most half the budget and makes room by evicting only its own oldest entries', async () => {
    await write('https://b.example/keep.onnx', 'https://b.example', 400);
    await write('https://a.example/1.onnx', 'https://a.example', 300);
    await write('https://a.example/2.onnx', 'https://a.example', 300); // over A's 500: A's oldest goes
    expect(await held()).toEqual([
      'https://a.example https://a.example/2.onnx',
      'https://b.example https://b.example/keep.onnx',
    ]);
    await expect(write('https://a.example/big.onnx', 'https://a.example', 600)).rejects.toMatchObject({
      name: 'QuotaExceededError',
    });
    expect(await held()).toContain('https://b.example https://b.example/keep.onnx');
  });

  it('when other sites fill the budget, a site gets QuotaExceededError instead of evicting them', async () => {
    await write('https://b.example/1.onnx', 'https://b.example', 450);
    await write('https://c.example/1.onnx', 'https://c.example', 450);
    await expect(write('https://a.example/1.onnx', 'https://a.example', 200)).rejects.toMatchObject({
      name: 'QuotaExceededError',
    });
    expect(await held()).toEqual([
      'https://b.example https://b.example/1.onnx',
      'https://c.example https://c.example/1.onnx',
    ]);
  });
});

/** Stages `bytes` as a download would, in chunks of `chunk` bytes. */
async function stage(id: string, bytes: Uint8Array, chunk: number): Promise<StagedFile> {
  let chunks = 0;
  for (let at = 0; at < bytes.byteLength; at += chunk)
    await putStagedChunk(id, chunks++, bytes.subarray(at, at + chunk));
  const hash = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
  const chunkSha256 = Array.from({ length: chunks }, (_, i) => hash(bytes.subarray(i * chunk, (i + 1) * chunk)));
  return { id, size: bytes.byteLength, chunks, sha256: hash(bytes), chunkBytes: chunk, chunkSha256 };
}

describe('committing a staged download', () => {
  const body = Uint8Array.from({ length: 250 }, (_, i) => i);
  const key = cacheKey('https://a.example/m.onnx', 'src', 'https://a.example');
  const fields = {
    source: 'https://a.example/m.onnx',
    variant: 'src',
    site: 'https://a.example',
    sourceSha256: 'x',
    meta: null,
  };

  it('staged chunks are no entry: invisible to lookups and the budget until committed, then moved into the entry', async () => {
    const staged = await stage('d1', body, 64);
    expect(await hasEntry(key)).toBe(false);
    expect(await readEntry(key)).toEqual({ miss: 'absent' });
    expect(await listEntries()).toEqual([]);
    const entry = await commitStaged(fields, staged);
    expect(entry).toMatchObject({ complete: true, size: 250, chunks: 4, site: 'https://a.example' });
    const read = await readEntry(key);
    expect('entry' in read && read.bytes).toEqual(body);
    expect(await stagedTotals()).toEqual({ chunks: 0, bytes: 0 });
  });

  it("a commit over the site's quota evicts only that site's entries, or fails and drops the staged chunks", async () => {
    await write('https://b.example/keep.onnx', 'https://b.example', 400);
    await write('https://a.example/old.onnx', 'https://a.example', 300);
    await commitStaged(fields, await stage('d2', body, 100)); // 300 + 250 > A's 500: A's old entry goes
    expect(await held()).toEqual([
      'https://a.example https://a.example/m.onnx',
      'https://b.example https://b.example/keep.onnx',
    ]);
    const big = await stage('d3', bytes(600, 1), 100);
    await expect(commitStaged({ ...fields, source: 'https://a.example/big.onnx' }, big)).rejects.toMatchObject({
      name: 'QuotaExceededError',
    });
    expect(await stagedTotals()).toEqual({ chunks: 0, bytes: 0 });
    expect(await held()).toContain('https://b.example https://b.example/keep.onnx');
  });

  it('a staged download with a chunk missing is not committed (no entry, nothing staged left)', async () => {
    const staged = await stage('d4', body, 64);
    await expect(
      commitStaged(fields, { ...staged, size: staged.size + 64, chunks: staged.chunks + 1 }),
    ).rejects.toThrow(/incomplete/);
    expect(await listEntries()).toEqual([]);
    expect(await stagedTotals()).toEqual({ chunks: 0, bytes: 0 });
  });
});
