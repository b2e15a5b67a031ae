/**
 * The layout check of SPEC §7: weights quantized by webq, run through onnxruntime's own MatMulNBits
 * (CPU EP, the wasm EP's kernels), must equal A · dequantize(B) computed here.
 */
import { describe, expect, test } from 'vitest';
import { matMulNBits } from '../../../extension/onnx/nodes';
import { DataType } from '../../../extension/onnx/tensor';
import { dequantize, quantize } from '../../../extension/quant/quantize';
import type { Bits, Scheme } from '../../../extension/quant/types';
import { ort, runModel, singleGraphModel, valueInfo } from '../onnx/ort';
import { gaussian } from './random';

function reference(a: Float32Array, b: Float32Array, M: number, K: number, N: number): Float64Array {
  const y = new Float64Array(M * N);
  for (let m = 0; m < M; m++)
    for (let k = 0; k < K; k++) {
      const av = a[m * K + k]!;
      for (let n = 0; n < N; n++) y[m * N + n] = y[m * N + n]! + av * b[k * N + n]!;
    }
  return y;
}

describe('onnxruntime MatMulNBits runs webq layout unchanged', () => {
  const cases: [Bits, Scheme, number, number][] = [];
  for (const bits of [2, 4, 8] as const)
    for (const scheme of ['symmetric', 'asymmetric'] as const) {
      cases.push([bits, scheme, 37, 16], [bits, scheme, 77, 32], [bits, scheme, 45, 0], [bits, scheme, 33, -1]);
    }
  test.each(cases)('%i-bit %s, K=%i, group %i', async (bits, scheme, K, groupSize) => {
    const M = 3,
      N = 5;
    const b = gaussian(K * N, K + bits);
    const a = gaussian(M * K, 99);
    const q = quantize(b, K, N, { bits, scheme, groupSize });
    const { node, tensors } = matMulNBits(q, 'A', 'Y', 'W');
    const model = singleGraphModel({
      name: 'one_matmulnbits',
      node: [node],
      initializer: tensors,
      input: [valueInfo('A', DataType.FLOAT, [M, K])],
      output: [valueInfo('Y', DataType.FLOAT, [M, N])],
    });
    const { Y } = await runModel(model, { A: new ort.Tensor('float32', a, [M, K]) });
    const expected = reference(a, dequantize(q), M, K, N);
    const got = Y!.data as Float32Array;
    expect(Y!.dims).toEqual([M, N]);
    for (let i = 0; i < M * N; i++)
      expect(Math.abs(got[i]! - expected[i]!)).toBeLessThan(1e-4 * (1 + Math.abs(expected[i]!)));
  });
});
