/**
 * The GPU quantizer against webq's TypeScript quantizer (extension/quant/quantize.ts), the one the engine
 * host falls back to: same packed bytes for round-to-nearest, except codes within float rounding of a tie
 * (counted and bounded, as in quantize.test.ts).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { quantize as tsQuantize } from '../../extension/quant/quantize';
import { downloadQuantized, quantize, uploadBytes } from '../../kernels/index';
import type { Bits, Scheme } from '../../kernels/layout';
import { getDevice, noGpuErrors } from './gpu';
import { randomWeights, unpack } from './reference';

let device: GPUDevice;
beforeAll(async () => {
  device = await getDevice();
});

describe('GPU quantizer = TypeScript quantizer (round-to-nearest)', () => {
  for (const bits of [2, 4, 8] as Bits[]) {
    for (const scheme of ['symmetric', 'asymmetric'] as Scheme[]) {
      for (const [K, N, groupSize] of [
        [300, 33, 32],
        [37, 1, 16],
        [130, 9, 0],
        [50, 7, -1],
      ] as const) {
        it(`${bits}-bit ${scheme} K=${K} N=${N} group=${groupSize}`, async () => {
          const b = randomWeights(K * N, 7 * K + N + bits);
          const o = { bits, scheme, groupSize, scaleSearch: false };
          const ts = tsQuantize(b, K, N, o);
          const gpu = await noGpuErrors(device, async () =>
            downloadQuantized(device, quantize(device, { weights: uploadBytes(device, b), K, N }, o)),
          );
          expect(gpu.blockSize).toBe(ts.blockSize);
          expect(Array.from(gpu.scales)).toEqual(Array.from(ts.scales));
          expect(gpu.zeroPoints && Array.from(gpu.zeroPoints)).toEqual(ts.zeroPoints && Array.from(ts.zeroPoints));
          const g = unpack(gpu).codes;
          const t = unpack(ts).codes;
          let diffs = 0;
          g.forEach((row, n) =>
            row.forEach((c, k) => {
              if (c !== t[n]![k]) {
                diffs++;
                expect(Math.abs(c - t[n]![k]!)).toBe(1);
              }
            }),
          );
          expect(diffs).toBeLessThanOrEqual(Math.max(1, (K * N) / 1000));
        });
      }
    }
  }
});
