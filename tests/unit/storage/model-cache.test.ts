/**
 * The cache's partitions and per-site quota (SPEC §3) on the real `idb` code over fake-indexeddb, an in-memory
 * IndexedDB that implements the standard (the browsers' own IndexedDB is exercised by the e2e suites).
 */
import 'fake-indexeddb/auto';
import { beforeEach, describe, expect, it } from 'vitest';
import { cacheKey, deleteEntry, listEntries, readEntry, writeEntry } from '../../../extension/storage/model-cache';
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
