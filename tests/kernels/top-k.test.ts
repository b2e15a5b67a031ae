/**
 * The top-k kernel (kernels/top-k.ts) against sampling.ts's `topIndices` (the CPU sampler's candidate set and order)
 * on vocabulary-sized rows: every k from 1 to MAX_TOP_K that the rounds treat differently, ties across chunks and
 * rounds, NaNs, fewer candidates than k, and the argument errors.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createStorage, MAX_TOP_K, readBytes, topK, uploadBytes } from '../../kernels/index';
import { topIndices } from '../../extension/tasks/generation/sampling';
import { getDevice, noGpuErrors } from './gpu';
import { uniformRandoms as randoms } from './reference';

let device: GPUDevice;
beforeAll(async () => {
  device = await getDevice(false);
});

async function run(x: Float32Array, k: number, count = x.length): Promise<{ ids: number[]; values: number[] }> {
  return noGpuErrors(device, async () => {
    const out = createStorage(device, k * 8);
    topK(device, { x: uploadBytes(device, x), count, k, out });
    const bytes = await readBytes(device, out, k * 8);
    const pairs = new Uint32Array(bytes.buffer, bytes.byteOffset, 2 * k);
    const ids: number[] = [];
    const values: number[] = [];
    for (let j = 0; j < k; j++) {
      ids.push(pairs[2 * j + 1]!);
      values.push(new Float32Array(pairs.buffer, pairs.byteOffset + 8 * j, 1)[0]!);
    }
    return { ids, values };
  });
}

describe('topK', () => {
  it('vocabulary-sized rows: the same ids in the same order as the CPU sampler, for k across the rounds', async () => {
    // Qwen2's vocabulary: three rounds at k 50 (149 chunks → 8 → 1); the largest k on a shorter row (two rounds).
    for (const [count, k] of [
      [151_936, 1],
      [151_936, 50],
      [20_000, MAX_TOP_K],
    ] as const) {
      const x = randoms(count, 91 + k, 8);
      const got = await run(x, k);
      const want = topIndices(x, k);
      expect(got.ids, `k ${k}`).toEqual(want);
      expect(got.values).toEqual(want.map((i) => x[i]!));
    }
  });

  it('ties go to the smaller index, across chunks and merge rounds', async () => {
    const count = 50_000;
    const x = randoms(count, 92, 1);
    // Equal values in different chunks (1024 each) and in the same chunk, above everything else.
    for (const i of [49_999, 3, 30_720, 1025, 1024, 7, 20_000]) x[i] = 5;
    for (const i of [40_000, 2]) x[i] = 6;
    const got = await run(x, 12);
    expect(got.ids).toEqual(topIndices(x, 12));
    expect(got.ids.slice(0, 9)).toEqual([2, 40_000, 3, 7, 1024, 1025, 20_000, 30_720, 49_999]);
  });

  it('NaNs are no candidates; fewer candidates than k leave (−∞, none); count < the buffer', async () => {
    const x = Float32Array.of(NaN, 1, NaN, -3, 2, 0.5, 9, 9);
    const got = await run(x, 5, 6);
    expect(got.ids).toEqual([4, 1, 5, 3, 0xffffffff]);
    expect(got.values).toEqual([2, 1, 0.5, -3, -Infinity]);
  });

  it('rejects a k it cannot take, and a short output buffer', () => {
    const x = uploadBytes(device, new Float32Array(16));
    const out = createStorage(device, 8 * MAX_TOP_K);
    expect(() => topK(device, { x, count: 16, k: 0, out })).toThrow(RangeError);
    expect(() => topK(device, { x, count: 16, k: MAX_TOP_K + 1, out })).toThrow(/k must be an integer from 1 to 256/);
    expect(() => topK(device, { x, count: 16, k: 4, out: createStorage(device, 16) })).toThrow(RangeError);
    expect(() => topK(device, { x, count: 17, k: 4, out })).toThrow(RangeError);
  });
});
