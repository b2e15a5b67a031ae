/**
 * GPU quantizer (kernels/quantize.ts) against the CPU reference: identical codes for round-to-nearest except
 * where a value lies within float rounding of a .5 tie (counted and bounded), identical scales and zero points;
 * with the scale search, an error no worse than round-to-nearest and as good as the CPU search.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { quantize, dequantize, downloadQuantized, readFloats, uploadBytes, uploadQuantized } from '../../kernels/index';
import type { Bits, QuantizeOptions, Scheme } from '../../kernels/layout';
import { getDevice, noGpuErrors } from './gpu';
import { dequantizeReference, pack, quantizeReference, randomWeights, unpack } from './reference';

let device: GPUDevice;
beforeAll(async () => {
  device = await getDevice();
});

const BITS: Bits[] = [2, 4, 8];
const SCHEMES: Scheme[] = ['symmetric', 'asymmetric'];
/** [K, N, groupSize]: K not a multiple of the block, N = 1, K < 16, per channel, per tensor, large K. */
const SHAPES: [number, number, number][] = [
  [37, 5, 16],
  [300, 33, 32],
  [64, 1, 64],
  [5, 3, 16],
  [200, 7, 0],
  [45, 6, -1],
  [4096, 3, 128],
];

async function gpuQuantize(b: Float32Array, K: number, N: number, o: QuantizeOptions) {
  return noGpuErrors(device, async () => {
    const weights = uploadBytes(device, b);
    const q = await downloadQuantized(device, quantize(device, { weights, K, N }, o));
    weights.destroy();
    return q;
  });
}

/** Squared reconstruction error of B from a packed weight. */
function sse(b: Float32Array, deq: Float32Array): number {
  let e = 0;
  for (let i = 0; i < b.length; i++) e += (b[i]! - deq[i]!) ** 2;
  return e;
}

describe('quantize: round-to-nearest matches the CPU reference', () => {
  for (const bits of BITS) {
    for (const scheme of SCHEMES) {
      for (const [K, N, groupSize] of SHAPES) {
        it(`${bits}-bit ${scheme} K=${K} N=${N} group=${groupSize}`, async () => {
          const o: QuantizeOptions = { bits, scheme, groupSize, scaleSearch: false };
          const b = randomWeights(K * N, K * 131 + N * 7 + bits);
          const ref = quantizeReference(b, K, N, o);
          const cpu = pack(ref, bits, K, N, o);
          const gpu = await gpuQuantize(b, K, N, o);
          expect(gpu.blockSize).toBe(cpu.blockSize);
          expect(Array.from(gpu.scales)).toEqual(Array.from(cpu.scales));
          if (scheme === 'asymmetric') expect(Array.from(gpu.zeroPoints!)).toEqual(Array.from(cpu.zeroPoints!));
          else expect(gpu.zeroPoints).toBeUndefined();
          if (groupSize === -1) expect(new Set(gpu.scales).size).toBe(1);
          // Codes: equal, except a code one step off where w/scale is within float rounding of a tie.
          const g = unpack(gpu).codes;
          let diffs = 0;
          for (let n = 0; n < N; n++) {
            for (let k = 0; k < ref.codes[n]!.length; k++) {
              const d = g[n]![k]! - ref.codes[n]![k]!;
              if (d === 0) continue;
              diffs++;
              expect(Math.abs(d)).toBe(1);
              const x = b[k * N + n]! / ref.scales[n * ref.kBlocks + Math.floor(k / ref.blockSize)]!;
              expect(Math.abs(Math.abs(x % 1) - 0.5)).toBeLessThan(1e-5);
            }
          }
          expect(diffs).toBeLessThanOrEqual(Math.max(1, (K * N) / 1000));
          // Padding past K takes the zero point.
          const zps = unpack(gpu).zps;
          for (let n = 0; n < N; n++)
            for (let k = K; k < ref.codes[n]!.length; k++)
              expect(g[n]![k]).toBe(zps[n * ref.kBlocks + ref.kBlocks - 1]);
        });
      }
    }
  }

  it('exact .5 ties: bounded disagreement (GPU division may be a few ULP off)', async () => {
    // Symmetric 4-bit, block max 8 → scale = -1; values k + 0.5 make every w/scale an exact tie.
    const K = 32,
      N = 4;
    const b = new Float32Array(K * N);
    for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) b[k * N + n] = k % 2 === 0 ? -8 : ((k + n) % 15) - 7 + 0.5;
    const o: QuantizeOptions = { bits: 4, scheme: 'symmetric', groupSize: 16, scaleSearch: false };
    const ref = quantizeReference(b, K, N, o);
    const g = unpack(await gpuQuantize(b, K, N, o)).codes;
    let diffs = 0;
    for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) diffs += g[n]![k] === ref.codes[n]![k] ? 0 : 1;
    // Half the elements are ties; a correctly rounded division gets them all equal (half-even on both sides),
    // rounding ties up instead would get about half of them wrong.
    expect(diffs).toBeLessThanOrEqual((K * N) / 2 / 8);
    console.info(`exact ties: ${diffs} of ${(K * N) / 2} tie codes differ between GPU and CPU`);
  });
});

describe('quantize: scale search', () => {
  for (const bits of BITS) {
    for (const scheme of SCHEMES) {
      for (const [K, N, groupSize] of [
        [300, 17, 32],
        [96, 5, 0],
        [40, 6, -1],
      ] as const) {
        it(`${bits}-bit ${scheme} K=${K} N=${N} group=${groupSize}`, async () => {
          const b = randomWeights(K * N, 99 + K + bits);
          const rtn = pack(quantizeReference(b, K, N, { bits, scheme, groupSize, scaleSearch: false }), bits, K, N, {
            bits,
            scheme,
            groupSize,
          });
          const o: QuantizeOptions = { bits, scheme, groupSize, scaleSearch: true };
          const cpu = pack(quantizeReference(b, K, N, o), bits, K, N, o);
          const gpu = await gpuQuantize(b, K, N, o);
          const eGpu = sse(b, dequantizeReference(gpu));
          const eRtn = sse(b, dequantizeReference(rtn));
          const eCpu = sse(b, dequantizeReference(cpu));
          expect(eGpu).toBeLessThanOrEqual(eRtn * (1 + 1e-6));
          expect(Math.abs(eGpu - eCpu)).toBeLessThanOrEqual(eCpu * 1e-3);
          if (bits === 2) expect(eGpu).toBeLessThan(eRtn); // clipping pays off at 2 bits on outlier-heavy data
        });
      }
    }
  }
});

describe('dequantize', () => {
  for (const bits of BITS) {
    for (const scheme of SCHEMES) {
      it(`${bits}-bit ${scheme}: (q - zp) * scale for K=77 N=9 group=32 and per channel`, async () => {
        for (const groupSize of [32, 0]) {
          const K = 77,
            N = 9;
          const o: QuantizeOptions = { bits, scheme, groupSize, scaleSearch: false };
          const q = pack(quantizeReference(randomWeights(K * N, bits * 10 + groupSize), K, N, o), bits, K, N, o);
          const w = uploadQuantized(device, q);
          const out = await noGpuErrors(device, () => readFloats(device, dequantize(device, w), K * N));
          expect(Array.from(out)).toEqual(Array.from(dequantizeReference(q)));
        }
      });
    }
  }
});
