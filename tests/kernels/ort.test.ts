/**
 * The layout proof: weights packed by webq's GPU quantizer run unchanged in onnxruntime-node's MatMulNBits
 * (com.microsoft) on both its CPU EP and its WebGPU EP (Dawn, here on SwiftShader), and ORT's Y equals webq's
 * GEMV/GEMM Y on the same A. A wrong bit order, block padding, zero-point packing or default zero point would
 * make them disagree.
 */
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { downloadQuantized, matmul, quantize, readFloats, uploadBytes } from '../../kernels/index';
import { buildMatMulNBitsModel } from '../../kernels/testing/matmulnbits-model';
import { getDevice, noGpuErrors } from './gpu';
import { randomWeights, rng, widthMatrix } from './reference';

let device: GPUDevice;
beforeAll(async () => {
  device = await getDevice();
});

const cases: { M: number; K: number; N: number; groupSize: number; bias?: boolean }[] = [
  { M: 1, K: 100, N: 9, groupSize: 32 }, // K not a multiple of the block: padded last block
  { M: 1, K: 512, N: 1, groupSize: 128, bias: true },
  { M: 7, K: 80, N: 21, groupSize: 16 }, // GEMM path, 5 blocks: zero points cross byte boundaries
  { M: 3, K: 64, N: 5, groupSize: 0 }, // per channel
  { M: 2, K: 48, N: 6, groupSize: -1 }, // per tensor
];

describe.each(['cpu', 'webgpu'])('GPU-quantized weights in onnxruntime-node MatMulNBits (%s EP)', (ep) => {
  for (const { bits, scheme, c } of widthMatrix(cases)) {
    it(`${bits}-bit ${scheme} M=${c.M} K=${c.K} N=${c.N} group=${c.groupSize}${c.bias ? ' +bias' : ''}`, async () => {
      const { M, K, N } = c;
      const r = rng(K * N + bits);
      const a = Float32Array.from({ length: M * K }, () => r() * 2 - 1);
      const bias = c.bias ? Float32Array.from({ length: N }, () => r() - 0.5) : undefined;
      const { webq, packed } = await noGpuErrors(device, async () => {
        const w = quantize(
          device,
          { weights: uploadBytes(device, randomWeights(K * N, bits + K)), K, N },
          { bits, scheme, groupSize: c.groupSize },
        );
        const y = matmul(device, { a: uploadBytes(device, a), M, w, bias: bias && uploadBytes(device, bias) });
        return { webq: await readFloats(device, y, M * N), packed: await downloadQuantized(device, w) };
      });
      const session = await ort.InferenceSession.create(buildMatMulNBitsModel(packed, { bias }), {
        executionProviders: [ep],
      });
      const out = await session.run({ A: new ort.Tensor('float32', a, [M, K]) });
      const y = out.Y!.data as Float32Array;
      expect(y.length).toBe(M * N);
      const scale = Math.max(...Array.from(y, Math.abs), 1e-3);
      for (let i = 0; i < M * N; i++)
        expect(Math.abs(webq[i]! - y[i]!), `Y[${i}] webq ${webq[i]} ort ${y[i]}`).toBeLessThan(1e-4 * scale + 1e-5);
      await session.release();
    });
  }
});
