import { describe, expect, test } from 'vitest';
import { roundHalfEven } from './block';
import { quantizationError, quantizedByteCount } from './metrics';
import { unpackCodes } from './pack';
import { dequantize, quantize, zeroPointOf } from './quantize';
import type { Bits, QuantizeOptions, Scheme } from './types';
import { gaussian } from '../../tests/unit/quant/random';

const opts = (bits: Bits, scheme: Scheme, groupSize: number, scaleSearch = false): QuantizeOptions => ({
  bits,
  scheme,
  groupSize,
  scaleSearch,
});

describe('exact codes on hand-made cases', () => {
  test('asymmetric 4-bit: 0..15 × 0.1 maps to codes 0..15, packed low nibble first', () => {
    const w = Float32Array.from({ length: 16 }, (_, i) => i * 0.1);
    const q = quantize(w, 16, 1, opts(4, 'asymmetric', 16));
    expect(q.kBlocks).toBe(1);
    expect(Array.from(unpackCodes(q.data, 16, 4))).toEqual(Array.from({ length: 16 }, (_, i) => i));
    expect(q.data[0]).toBe(0x10);
    expect(q.data[1]).toBe(0x32);
    expect(zeroPointOf(q, 0, 0)).toBe(0);
    expect(q.scales[0]).toBe(Math.fround(Math.fround(1.5) * Math.fround(1 / 15)));
  });

  test('symmetric 4-bit: signed scale, the largest magnitude maps to code 0, ties round to even', () => {
    // m = -8 (|lo| >= hi) → scale = -8 × (-1/8) = 1, zp = 8; 2.5 → 2 + 8, 3.5 → 4 + 8, -2.5 → -2 + 8.
    const w = new Float32Array(16);
    w.set([-8, 2.5, 3.5, -2.5, 7, 0]);
    const q = quantize(w, 16, 1, opts(4, 'symmetric', 16));
    expect(q.scales[0]).toBe(1);
    expect(q.zeroPoints).toBeUndefined();
    expect(Array.from(unpackCodes(q.data, 6, 4))).toEqual([0, 10, 12, 6, 15, 8]);
  });

  test('symmetric with a positive extreme gets a negative scale', () => {
    const w = new Float32Array(16);
    w.set([4, -1, 2]);
    const q = quantize(w, 16, 1, opts(8, 'symmetric', 16));
    expect(q.scales[0]).toBe(Math.fround(-4 / 128));
    expect(unpackCodes(q.data, 1, 8)[0]).toBe(0); // +4 → -128 + 128
    expect(Array.from(dequantize(q).subarray(0, 3))).toEqual([4, -1, 2]);
  });

  test('2-bit packing puts element j at bits 2j..2j+1', () => {
    const w = new Float32Array(16);
    w.set([-2, -1, 0, 1]); // symmetric 2-bit: m = -2, scale = 1, zp = 2 → codes 0,1,2,3
    const q = quantize(w, 16, 1, opts(2, 'symmetric', 16, false));
    expect(q.data[0]).toBe(0b11_10_01_00);
    expect(q.data[1]).toBe(0b10_10_10_10); // zeros → code 2
  });

  test('roundHalfEven follows WGSL round()', () => {
    expect([2.5, 3.5, -2.5, -3.5, 0.5, 1.4999, -0.5].map(roundHalfEven)).toEqual([2, 4, -2, -4, 0, 1, -0]);
  });

  test('all-zero block: scale 0, codes = zero point, dequantizes to 0', () => {
    for (const scheme of ['symmetric', 'asymmetric'] as const) {
      const q = quantize(new Float32Array(32), 16, 2, opts(4, scheme, 16, true));
      expect(Array.from(q.scales)).toEqual([0, 0]);
      expect(Array.from(dequantize(q))).toEqual(new Array(32).fill(0));
    }
  });
});

describe('layout', () => {
  test('K tail is padded with the zero point and dropped by dequantize', () => {
    const K = 20,
      N = 3;
    const w = gaussian(K * N, 7);
    const q = quantize(w, K, N, opts(4, 'asymmetric', 16));
    expect(q.kBlocks).toBe(2);
    expect(q.data.length).toBe(N * 2 * 8);
    for (let n = 0; n < N; n++) {
      const codes = unpackCodes(q.data.subarray((n * 2 + 1) * 8, (n * 2 + 2) * 8), 16, 4);
      expect(Array.from(codes.subarray(4))).toEqual(new Array(12).fill(zeroPointOf(q, n, 1)));
    }
    expect(dequantize(q).length).toBe(K * N);
  });

  test('data is [N, kBlocks, blockBytes]: column n of B lives in row n', () => {
    const K = 32,
      N = 2;
    const w = new Float32Array(K * N);
    for (let k = 0; k < K; k++) w[k * N + 1] = k === 5 ? 1 : 0; // only B[5, 1] is non-zero
    const q = quantize(w, K, N, opts(8, 'symmetric', 16));
    expect(q.scales[0]).toBe(0);
    expect(q.scales[1]).toBe(0);
    expect(q.scales[2]).toBe(Math.fround(-1 / 128));
    expect(q.data[2 * 16 + 5]).toBe(0);
  });

  test('per-channel is one block of nextPow2(K); per-tensor repeats one scale', () => {
    const w = gaussian(40 * 6, 3);
    const pc = quantize(w, 40, 6, opts(4, 'asymmetric', 0));
    expect([pc.blockSize, pc.kBlocks, pc.groupSize]).toEqual([64, 1, 0]);
    expect(new Set(pc.scales).size).toBe(6);
    const pt = quantize(w, 40, 6, opts(4, 'asymmetric', -1));
    expect(new Set(pt.scales).size).toBe(1);
    expect(new Set(Array.from({ length: 6 }, (_, n) => zeroPointOf(pt, n, 0))).size).toBe(1);
    const small = quantize(gaussian(5 * 2), 5, 2, opts(8, 'symmetric', 0));
    expect(small.blockSize).toBe(16);
  });

  test('zero points are packed per row with unused high bits 0', () => {
    const q = quantize(gaussian(48 * 2, 9), 48, 2, opts(4, 'asymmetric', 16)); // 3 blocks → 2 bytes per row
    expect(q.zeroPoints!.length).toBe(4);
    expect(q.zeroPoints![1]! >> 4).toBe(0);
    expect(q.zeroPoints![3]! >> 4).toBe(0);
  });

  test.each([
    [2, 'symmetric', 16],
    [2, 'asymmetric', 32],
    [4, 'asymmetric', 128],
    [4, 'symmetric', 0],
    [8, 'asymmetric', -1],
    [8, 'asymmetric', 64],
  ] as const)('byte count %i-bit %s group %i = data + scales + zero points', (bits, scheme, group) => {
    const K = 200,
      N = 7;
    const q = quantize(gaussian(K * N, bits), K, N, opts(bits, scheme, group));
    const blockSize = group > 0 ? group : 256;
    const kBlocks = Math.ceil(K / blockSize);
    const expected =
      (N * kBlocks * blockSize * bits) / 8 +
      N * kBlocks * 4 +
      (scheme === 'asymmetric' ? N * Math.ceil((kBlocks * bits) / 8) : 0);
    expect(quantizedByteCount(q)).toBe(expected);
  });
});

describe('round-trip error', () => {
  const K = 256,
    N = 64;
  const w = gaussian(K * N, 11);
  // Per-element bound of round-to-nearest: half a step, plus (symmetric) the one code lost at the top.
  test.each([2, 4, 8] as const)('%i-bit RTN error within the per-block step', (bits) => {
    for (const scheme of ['symmetric', 'asymmetric'] as const) {
      const q = quantize(w, K, N, opts(bits, scheme, 32));
      const back = dequantize(q);
      for (let n = 0; n < N; n++) {
        for (let k = 0; k < K; k++) {
          const step = Math.abs(q.scales[n * q.kBlocks + Math.floor(k / 32)]!);
          const bound = (scheme === 'asymmetric' ? 0.5 : 1) * step * (1 + 1e-6) + 1e-7;
          expect(Math.abs(w[k * N + n]! - back[k * N + n]!)).toBeLessThanOrEqual(bound);
        }
      }
    }
  });

  test.each([
    [2, 8, 0.75],
    [4, 19, 0.99],
    [8, 42, 0.9999],
  ] as const)('%i-bit group 32: SNR > %i dB, cosine > %f', (bits, snr, cos) => {
    for (const scheme of ['symmetric', 'asymmetric'] as const) {
      const e = quantizationError(w, dequantize(quantize(w, K, N, opts(bits, scheme, 32, bits === 2))));
      expect(e.snrDb).toBeGreaterThan(snr);
      expect(e.cosine).toBeGreaterThan(cos);
    }
  });

  test('the scale search never loses to round-to-nearest and wins clearly at 2 bits', () => {
    // Heavy tails (a few outliers per block) are where clipping pays off.
    const heavy = gaussian(K * N, 5).map((v, i) => (i % 97 === 0 ? v * 8 : v));
    for (const bits of [2, 4, 8] as const) {
      for (const scheme of ['symmetric', 'asymmetric'] as const) {
        for (const group of [32, 0, -1]) {
          const rtn = quantizationError(heavy, dequantize(quantize(heavy, K, N, opts(bits, scheme, group, false))));
          const searched = quantizationError(heavy, dequantize(quantize(heavy, K, N, opts(bits, scheme, group, true))));
          expect(searched.snrDb).toBeGreaterThanOrEqual(rtn.snrDb - 1e-9);
          // The README's ratio grid stops at 0.55, so per-tensor 2-bit with 8x outliers gains little.
          if (bits === 2) expect(searched.snrDb).toBeGreaterThan(rtn.snrDb + 0.1);
        }
      }
    }
  });

  test('the search is on by default at 2 bits only', () => {
    const heavy = gaussian(K * N, 5).map((v, i) => (i % 97 === 0 ? v * 8 : v));
    const base = { scheme: 'asymmetric', groupSize: 32 } as const;
    expect(quantize(heavy, K, N, { ...base, bits: 2 })).toEqual(
      quantize(heavy, K, N, { ...base, bits: 2, scaleSearch: true }),
    );
    expect(quantize(heavy, K, N, { ...base, bits: 4 })).toEqual(
      quantize(heavy, K, N, { ...base, bits: 4, scaleSearch: false }),
    );
  });
});

describe('metrics and validation', () => {
  test('quantizationError on known vectors', () => {
    const e = quantizationError(Float32Array.of(1, 2, 3, 4), Float32Array.of(1, 2, 3, 5));
    expect(e.meanAbsError).toBe(0.25);
    expect(e.maxAbsError).toBe(1);
    expect(e.snrDb).toBeCloseTo(10 * Math.log10(30), 10);
    expect(e.cosine).toBeCloseTo(34 / Math.sqrt(30 * 39), 12);
    expect(quantizationError(Float32Array.of(1, 2), Float32Array.of(1, 2)).snrDb).toBe(Infinity);
  });

  test.each([
    ['bits', () => quantize(new Float32Array(16), 16, 1, { bits: 3 as Bits, scheme: 'symmetric', groupSize: 16 })],
    ['scheme', () => quantize(new Float32Array(16), 16, 1, { bits: 4, scheme: 'signed' as Scheme, groupSize: 16 })],
    ['groupSize', () => quantize(new Float32Array(16), 16, 1, opts(4, 'symmetric', 24))],
    ['groupSize', () => quantize(new Float32Array(16), 16, 1, opts(4, 'symmetric', 8))],
    ['weights', () => quantize(new Float32Array(15), 16, 1, opts(4, 'symmetric', 16))],
    ['weights', () => quantize(Float32Array.of(...new Array(15).fill(0), NaN), 16, 1, opts(4, 'symmetric', 16))],
    ['K', () => quantize(new Float32Array(0), 0, 1, opts(4, 'symmetric', 16))],
    ['N', () => quantize(new Float32Array(16), 16, 1.5, opts(4, 'symmetric', 16))],
  ])('bad %s is a DataError naming it', (field, call) => {
    expect(call).toThrowError(
      expect.objectContaining({ name: 'DataError', message: expect.stringMatching(new RegExp(`^${field}:`)) }),
    );
  });
});
