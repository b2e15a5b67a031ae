/** Next-token choice: greedy, seeded sampling, and what each logits processor does; options validated by name. */
import { describe, expect, test } from 'vitest';
import { checkSamplingOptions, nucleus, Sampler, topIndices } from '../../../extension/tasks/generation/sampling';

const logits = Float32Array.from([1, 3, 2, 5, 4, 0]);
const draws = (options: ConstructorParameters<typeof Sampler>[0], n = 400, history: number[] = []) => {
  const s = new Sampler(options);
  return Array.from({ length: n }, () => s.pick(logits, history));
};

describe('sampling', () => {
  test('the top-k best of a row (what webq’s engine reads back) give the tokens the whole row gives, draw for draw', () => {
    let state = 5;
    const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 16 - 8;
    const row = Float32Array.from({ length: 5000 }, random);
    for (const options of [
      { temperature: 0.7, topK: 40, seed: 1 },
      { temperature: 1.5, topK: 50, topP: 0.9, seed: 2 },
      { temperature: 1, topK: 3, seed: 3 },
    ]) {
      const whole = new Sampler(options);
      const best = new Sampler(options);
      const k = best.bestNeeded(row.length, 256)!;
      expect(k).toBe(options.topK);
      const ids = topIndices(row, k);
      const top = { ids: Uint32Array.from(ids), logits: Float32Array.from(ids, (i) => row[i]!) };
      const picks = Array.from({ length: 200 }, () => [best.pickAmong(top), whole.pick(row)]);
      for (const [a, b] of picks) expect(a).toBe(b);
      expect(new Set(picks.map(([a]) => a)).size).toBeGreaterThan(1);
    }
    // Not where the k best cannot decide: greedy, no topK, k past the limit or the kernel's, a repetition penalty.
    expect(new Sampler({ topK: 5 }).bestNeeded(100, 256)).toBeUndefined();
    expect(new Sampler({ temperature: 1 }).bestNeeded(100, 256)).toBeUndefined();
    expect(new Sampler({ temperature: 1, topK: 100 }).bestNeeded(100, 256)).toBeUndefined();
    expect(new Sampler({ temperature: 1, topK: 300 }).bestNeeded(1000, 256)).toBeUndefined();
    expect(new Sampler({ temperature: 1, topK: 5, repetitionPenalty: 1.2 }).bestNeeded(100, 256)).toBeUndefined();
    expect(new Sampler({ temperature: 1, topK: 5, repetitionPenalty: 1 }).bestNeeded(100, 256)).toBe(5);
  });

  test('greedy when temperature is 0 or absent; lowest id wins a tie; limit excludes padded ids', () => {
    expect(new Sampler().pick(logits)).toBe(3);
    expect(new Sampler({ temperature: 0, topK: 2, seed: 1 }).pick(logits)).toBe(3);
    expect(new Sampler().pick(Float32Array.from([0, 7, 7]))).toBe(1);
    expect(new Sampler().pick(logits, [], 3)).toBe(1);
    expect(new Sampler({ temperature: 1, seed: 3 }).pick(Float32Array.from([0, 0, 50]), [], 2)).toBeLessThan(2);
  });

  test('the same seed gives the same tokens; another seed another sequence', () => {
    const options = { temperature: 2, seed: 42 };
    expect(draws(options, 50)).toEqual(draws(options, 50));
    expect(draws({ temperature: 2, seed: 43 }, 50)).not.toEqual(draws(options, 50));
  });

  test('topK keeps the k best, topP the nucleus, temperature flattens', () => {
    expect(new Set(draws({ temperature: 5, topK: 2, seed: 1 }))).toEqual(new Set([3, 4]));
    expect(topIndices(logits, 3)).toEqual([3, 4, 1]);
    // softmax(logits): 5 → 0.63, 4 → 0.23, 3 → 0.086 …: p = 0.8 needs the two best.
    expect(nucleus(logits, 0.8)).toEqual([3, 4]);
    expect(nucleus(logits, 0.1)).toEqual([3]);
    expect(new Set(draws({ temperature: 1, topP: 0.8, seed: 2 }))).toEqual(new Set([3, 4]));
    const count = (xs: number[], id: number) => xs.filter((x) => x === id).length;
    const cold = draws({ temperature: 0.3, seed: 5 });
    const hot = draws({ temperature: 3, seed: 5 });
    expect(count(cold, 3)).toBeGreaterThan(count(hot, 3));
    expect(new Set(hot).size).toBe(6);
  });

  test('repetition penalty lowers tokens already seen (positive and negative logits)', () => {
    const s = new Sampler({ repetitionPenalty: 2 });
    expect(s.pick(logits, [3])).toBe(4); // 5 / 2 = 2.5 < 4
    // -1 × 2 = -2 < -1.5
    expect(new Sampler({ repetitionPenalty: 2 }).pick(Float32Array.from([-1, -1.5]), [0])).toBe(1);
  });

  test('a large vocabulary: nucleus over the near-maximum tokens equals the full sort', () => {
    const big = Float32Array.from({ length: 150_000 }, (_, i) => Math.sin(i * 12.9898) * 8);
    const fast = nucleus(big, 0.9);
    const sorted = [...big.keys()].sort((a, b) => big[b]! - big[a]! || a - b);
    const max = big[sorted[0]!]!;
    let total = 0,
      sum = 0;
    for (const v of big) total += Math.exp(v - max);
    const slow: number[] = [];
    for (const i of sorted) {
      slow.push(i);
      sum += Math.exp(big[i]! - max) / total;
      if (sum >= 0.9) break;
    }
    expect(fast).toEqual(slow);
  });

  test('bad options are DataErrors naming the option', () => {
    const bad = (raw: Record<string, unknown>, name: string) =>
      expect(() => checkSamplingOptions(raw)).toThrow(
        expect.objectContaining({ name: 'DataError', message: expect.stringContaining(name) }),
      );
    bad({ temperature: -0.1 }, 'temperature');
    bad({ temperature: Number.NaN }, 'temperature');
    bad({ temperature: '1' }, 'temperature');
    bad({ topK: 0 }, 'topK');
    bad({ topK: 2.5 }, 'topK');
    bad({ topP: 0 }, 'topP');
    bad({ topP: 1.01 }, 'topP');
    bad({ repetitionPenalty: 0 }, 'repetitionPenalty');
    bad({ seed: -1 }, 'seed');
    bad({ seed: 2 ** 32 }, 'seed');
    expect(
      checkSamplingOptions({ temperature: 0.7, topK: 40, topP: 0.9, repetitionPenalty: 1.1, seed: 0, other: 1 }),
    ).toEqual({ temperature: 0.7, topK: 40, topP: 0.9, repetitionPenalty: 1.1, seed: 0 });
  });
});
