/**
 * `accumulate` of the quantized GEMV and GEMM (kernels/gemv.ts, gemm.ts): Y + (A · dequant(B) + bias), the residual
 * add webq's decode engine records in the o and down projections' own dispatch. It must equal the plain product added
 * by addInPlace bit for bit (the same rounding), for the GEMV, the GEMM in one pass and the GEMM split along K (the
 * reduction pass adds into Y), with and without a bias; and it needs a Y to add into.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  addInPlace,
  createStorage,
  destroyQuantized,
  gemm,
  gemv,
  quantize,
  readFloats,
  uploadBytes,
} from '../../kernels/index';
import { uniformFloats } from '../../extension/shared/random';
import { getDevice, noGpuErrors } from './gpu';

let device: GPUDevice;
beforeAll(async () => {
  device = await getDevice(false);
});

const K = 256;
const N = 96;

describe('matmul accumulate (the residual add in the projection)', () => {
  it.each([
    ['gemv', 1, 'default tiles', {}],
    ['gemv', 3, 'default tiles', {}],
    ['gemm', 9, 'one pass', { splitK: 1 }],
    ['gemm', 9, 'split-K 4', { splitK: 4 }],
    ['gemm', 9, 'unstaged', { stage: false }],
  ] as const)(
    '%s, %i rows, %s: Y + A·B equals addInPlace of the plain product, bit for bit',
    async (kernel, M, _name, options) => {
      for (const withBias of [false, true]) {
        const [got, want] = await noGpuErrors(device, async () => {
          const b = uploadBytes(device, uniformFloats(K * N, 5, 0.5));
          const w = quantize(
            device,
            { weights: b, K, N },
            { bits: 4, scheme: 'asymmetric', groupSize: 32, scaleSearch: false },
          );
          b.destroy();
          const a = uploadBytes(device, uniformFloats(M * K, 6, 1));
          const residual = uniformFloats(M * N, 7, 3);
          const bias = withBias ? { bias: uploadBytes(device, uniformFloats(N, 8, 1)) } : {};
          const run = (args: Parameters<typeof gemv>[1]) =>
            kernel === 'gemv' ? gemv(device, args) : gemm(device, args, options);
          const y = uploadBytes(device, residual);
          run({ a, M, w, y, accumulate: true, ...bias });
          const plain = run({ a, M, w, ...bias });
          const x = uploadBytes(device, residual);
          addInPlace(device, { x, y: plain, count: M * N });
          const out = [await readFloats(device, y, M * N), await readFloats(device, x, M * N)] as const;
          destroyQuantized(w);
          return out;
        });
        expect(Array.from(got)).toEqual(Array.from(want));
      }
    },
  );

  it('needs a Y to add into', () => {
    const b = uploadBytes(device, uniformFloats(K * N, 5, 0.5));
    const w = quantize(
      device,
      { weights: b, K, N },
      { bits: 4, scheme: 'symmetric', groupSize: 32, scaleSearch: false },
    );
    const a = createStorage(device, K * 4);
    expect(() => gemv(device, { a, M: 1, w, accumulate: true })).toThrow(/pass y/);
    expect(() => gemm(device, { a, M: 1, w, accumulate: true })).toThrow(/pass y/);
    destroyQuantized(w);
  });
});
