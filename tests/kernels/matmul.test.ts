/**
 * GEMV and tiled GEMM (kernels/gemv.ts, kernels/gemm.ts) against a float64 CPU matmul of the CPU-dequantized
 * weight, on weights packed by the CPU reference (so a layout bug in the GPU quantizer cannot hide one here).
 * Both the subgroup and the shared-memory reduction of the GEMV run, and non-default tiles of the GEMM.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { gemm, gemv, matmul, pipelineCount, readFloats, uploadBytes, uploadQuantized } from '../../kernels/index';
import { isSoftwareAdapter } from '../../kernels/pipelines';
import type { GemmOptions, GemvOptions } from '../../kernels/index';
import type { Bits, QuantizeOptions, Scheme } from '../../kernels/layout';
import { getDevice, noGpuErrors } from './gpu';
import {
  dequantizeReference,
  matmulReference,
  pack,
  quantizeReference,
  randomWeights,
  rng,
  widthMatrix,
} from './reference';

let device: GPUDevice;
let plainDevice: GPUDevice; // no `subgroups`: the shared-memory path
beforeAll(async () => {
  device = await getDevice(true);
  plainDevice = await getDevice(false);
});

interface Case {
  M: number;
  K: number;
  N: number;
  groupSize: number;
  bias?: boolean;
  /** The GEMV normalizes A itself (args.norm): the reference multiplies rmsNorm(A)·g in float64. */
  norm?: boolean;
}

const EPS = 1e-5;

/** Each row of a [M, K] RMS-normalized and scaled by g, in float64. */
function rmsNormReference(a: Float32Array, g: Float32Array, M: number, K: number): Float64Array {
  const out = new Float64Array(M * K);
  for (let m = 0; m < M; m++) {
    let ss = 0;
    for (let k = 0; k < K; k++) ss += a[m * K + k]! ** 2;
    const denom = Math.sqrt(ss / K + EPS);
    for (let k = 0; k < K; k++) out[m * K + k] = (a[m * K + k]! / denom) * g[k]!;
  }
  return out;
}

function activations(count: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: count }, () => r() * 2 - 1);
}

async function check(
  dev: GPUDevice,
  kernel: 'gemv' | 'gemm',
  c: Case,
  bits: Bits,
  scheme: Scheme,
  opts: GemvOptions | GemmOptions = {},
) {
  const { M, K, N } = c;
  const o: QuantizeOptions = { bits, scheme, groupSize: c.groupSize, scaleSearch: false };
  const q = pack(quantizeReference(randomWeights(K * N, K + N + bits), K, N, o), bits, K, N, o);
  const a = activations(M * K, M * 7 + K);
  const bias = c.bias ? activations(N, N) : undefined;
  const g = c.norm ? activations(K, K + 1).map((x) => 0.5 + x) : undefined;
  const ref = matmulReference(g ? rmsNormReference(a, g, M, K) : a, dequantizeReference(q), M, K, N, bias);
  const y = await noGpuErrors(dev, async () => {
    const args = {
      a: uploadBytes(dev, a),
      M,
      w: uploadQuantized(dev, q),
      bias: bias && uploadBytes(dev, bias),
      ...(g ? { norm: { weight: uploadBytes(dev, g), eps: EPS } } : {}),
    };
    const out = kernel === 'gemv' ? gemv(dev, args, opts as GemvOptions) : gemm(dev, args, opts as GemmOptions);
    return readFloats(dev, out, M * N);
  });
  let worst = 0;
  for (let i = 0; i < M * N; i++) {
    // fp32 accumulation over K terms: error bounded by a small multiple of eps · Σ|a·b|
    const err = Math.abs(y[i]! - ref.y[i]!) / (ref.mag[i]! * 1e-5 + 1e-6);
    worst = Math.max(worst, err);
  }
  expect(worst, `worst error / bound`).toBeLessThanOrEqual(1);
}

const BITS: Bits[] = [2, 4, 8];

/** A small 4-bit weight [32, 4] and M rows of A with room for 5, for the argument checks. */
function smallArgs(dev: GPUDevice, M: number) {
  const K = 32;
  const o: QuantizeOptions = { bits: 4, scheme: 'symmetric', groupSize: 32 };
  return {
    a: uploadBytes(dev, new Float32Array(5 * K)),
    M,
    w: uploadQuantized(dev, pack(quantizeReference(randomWeights(K * 4, 3), K, 4, o), 4, K, 4, o)),
  };
}

describe('gemv', () => {
  const cases: Case[] = [
    { M: 1, K: 37, N: 1, groupSize: 16 }, // K not a multiple of the block nor of 4, N = 1
    { M: 1, K: 4096, N: 24, groupSize: 32, bias: true }, // large K
    { M: 1, K: 258, N: 67, groupSize: 64 },
    { M: 3, K: 100, N: 50, groupSize: 0, bias: true }, // per channel, several rows
  ];
  for (const { bits, scheme, c } of widthMatrix(cases)) {
    it(`${bits}-bit ${scheme} M=${c.M} K=${c.K} N=${c.N} group=${c.groupSize}${c.bias ? ' +bias' : ''}`, async () => {
      await check(device, 'gemv', c, bits, scheme);
    });
  }
  it('with the RMSNorm of A fused (norm): both reductions, A staged and not, K odd, several rows, bias', async () => {
    const variants: [GPUDevice, GemvOptions][] = [
      [device, {}],
      [plainDevice, {}],
      [device, { workgroupSize: [4, 16, 1], colsPerThread: 2 }], // the emulated adapters' tile
      [device, { stageA: false, colsPerThread: 3 }],
      [plainDevice, { workgroupSize: [32, 2, 1], stageA: false }],
    ];
    for (const [dev, o] of variants) {
      for (const bits of BITS) {
        await check(dev, 'gemv', { M: 3, K: 333, N: 19, groupSize: 16, bias: true, norm: true }, bits, 'asymmetric', o);
        await check(dev, 'gemv', { M: 1, K: 37, N: 5, groupSize: 32, norm: true }, bits, 'symmetric', o);
      }
    }
    await check(device, 'gemv', { M: 1, K: 2048, N: 40, groupSize: 32, norm: true }, 4, 'asymmetric');
  });
  it('norm: a bad eps or a short weight is a RangeError; the GEMM takes none', () => {
    const args = smallArgs(device, 1);
    const weight = uploadBytes(device, new Float32Array(32));
    expect(() => gemv(device, { ...args, norm: { weight, eps: -1 } })).toThrow(/norm.eps/);
    expect(() => gemv(device, { ...args, norm: { weight: uploadBytes(device, new Float32Array(8)), eps: 0 } })).toThrow(
      /norm.weight/,
    );
    expect(() => gemm(device, { ...args, M: 5, norm: { weight, eps: 0 } })).toThrow(/rmsNorm first/);
    expect(() => matmul(device, { ...args, M: 5, norm: { weight, eps: 0 } })).toThrow(/rmsNorm first/);
  });
  it('shared-memory reduction (no subgroups) and other workgroup shapes', async () => {
    for (const wg of [
      [64, 4, 1],
      [32, 1, 1],
      [128, 2, 1],
      [4, 8, 1],
    ] as const) {
      await check(plainDevice, 'gemv', { M: 1, K: 333, N: 19, groupSize: 32, bias: true }, 4, 'asymmetric', {
        workgroupSize: wg,
      });
      await check(device, 'gemv', { M: 2, K: 333, N: 19, groupSize: 32 }, 2, 'symmetric', { workgroupSize: wg });
    }
  });
  it('columns per thread, A staged or read from global memory, block sizes 16…128 (chunks of 1, 2, 4, 8 words)', async () => {
    const variants: GemvOptions[] = [
      { colsPerThread: 1 },
      { colsPerThread: 3, stageA: false },
      { colsPerThread: 4, stageA: true },
      { workgroupSize: [16, 2, 1], colsPerThread: 5 },
      { workgroupSize: [128, 1, 1], colsPerThread: 2, stageA: false },
      { workgroupSize: [1, 8, 1], colsPerThread: 2 },
    ];
    for (const o of variants) {
      for (const bits of BITS) {
        // K = 333: 3 to 21 tiles of chunks, a partial last block; N = 19: the last workgroup has columns past N
        await check(device, 'gemv', { M: 2, K: 333, N: 19, groupSize: 16, bias: true }, bits, 'asymmetric', o);
        await check(plainDevice, 'gemv', { M: 1, K: 333, N: 19, groupSize: 128 }, bits, 'symmetric', o);
      }
    }
    await check(device, 'gemv', { M: 1, K: 2048, N: 9, groupSize: 32 }, 8, 'asymmetric', {
      colsPerThread: 4,
      workgroupSize: [32, 1, 1],
    });
  });
  it('rejects a workgroup x that is not a power of two, bad colsPerThread, stageA that does not fit', () => {
    const args = {
      a: uploadBytes(device, new Float32Array(16)),
      M: 1,
      w: uploadQuantized(
        device,
        pack(
          quantizeReference(new Float32Array(16), 16, 1, { bits: 4, scheme: 'symmetric', groupSize: 16 }),
          4,
          16,
          1,
          { bits: 4, scheme: 'symmetric', groupSize: 16 },
        ),
      ),
    };
    expect(() => gemv(device, args, { workgroupSize: [48, 1, 1] })).toThrow(RangeError);
    expect(() => gemv(device, args, { colsPerThread: 0 })).toThrow(RangeError);
    // 256 threads x 16 codes x 4 bytes of A + the reduction's 4 KiB: more than the 16 KiB of a default device
    expect(() => gemv(device, args, { workgroupSize: [256, 1, 1], colsPerThread: 4, stageA: true })).toThrow(
      RangeError,
    );
    expect(() => gemv(device, args, { workgroupSize: [256, 1, 1], colsPerThread: 4 })).not.toThrow();
  });
});

describe('gemm', () => {
  const cases: Case[] = [
    { M: 17, K: 200, N: 70, groupSize: 32, bias: true },
    { M: 5, K: 37, N: 1, groupSize: 16 },
    { M: 64, K: 512, N: 96, groupSize: 128 },
    { M: 9, K: 130, N: 33, groupSize: -1 },
  ];
  for (const { bits, scheme, c } of widthMatrix(cases)) {
    it(`${bits}-bit ${scheme} M=${c.M} K=${c.K} N=${c.N} group=${c.groupSize}${c.bias ? ' +bias' : ''}`, async () => {
      await check(device, 'gemm', c, bits, scheme);
    });
  }
  it('other tile shapes', async () => {
    const tiles: GemmOptions[] = [
      { workgroupSize: [8, 8, 1], rowsPerThread: 2, colsPerThread: 2, kTile: 16 },
      { workgroupSize: [32, 2, 1], rowsPerThread: 1, colsPerThread: 3, kTile: 32 },
      { workgroupSize: [4, 16, 1], rowsPerThread: 3, colsPerThread: 1, kTile: 64 },
    ];
    for (const t of tiles)
      await check(device, 'gemm', { M: 23, K: 150, N: 41, groupSize: 16, bias: true }, 8, 'asymmetric', t);
  });
  it('unstaged (no workgroup memory, gemm-unstaged.ts): odd shapes, partial row and column tiles, every width', async () => {
    const tiles: GemmOptions[] = [
      { stage: false }, // GEMM_UNSTAGED_DEFAULTS
      { stage: false, workgroupSize: [8, 1, 1], rowsPerThread: 3, colsPerThread: 5 },
      { stage: false, workgroupSize: [1, 1, 1], rowsPerThread: 1, colsPerThread: 1 },
    ];
    for (const t of tiles) {
      for (const bits of BITS) {
        // K = 150 (not a multiple of 4: A read by floats), M = 23 and N = 41 past whole tiles
        await check(device, 'gemm', { M: 23, K: 150, N: 41, groupSize: 16, bias: true }, bits, 'asymmetric', t);
        await check(device, 'gemm', { M: 5, K: 256, N: 70, groupSize: 128 }, bits, 'symmetric', t);
      }
    }
  });
  it('unstaged: rejects a 2-D workgroup, kTile and splitK', () => {
    const args = smallArgs(device, 2);
    expect(() => gemm(device, args, { stage: false, workgroupSize: [4, 4, 1] })).toThrow(/\[x, 1, 1\]/);
    expect(() => gemm(device, args, { stage: false, kTile: 32 })).toThrow(/kTile 32/);
    expect(() => gemm(device, args, { stage: false, splitK: 2 })).toThrow(/splitK 2/);
    expect(() => gemm(device, args, { stage: false, rowsPerThread: 0 })).toThrow(RangeError);
  });
  it('split-K: explicit slice counts (1 = one pass), more slices than steps, with and without bias', async () => {
    for (const splitK of [1, 2, 3, 7, 100]) {
      for (const bits of BITS) {
        await check(device, 'gemm', { M: 19, K: 300, N: 45, groupSize: 32, bias: true }, bits, 'asymmetric', {
          splitK,
        });
        await check(device, 'gemm', { M: 6, K: 130, N: 70, groupSize: 0 }, bits, 'symmetric', { splitK, kTile: 16 });
      }
    }
    // a grid of 1 workgroup with the automatic choice (one slice here: SwiftShader is a software adapter; 8 on a GPU)
    await check(device, 'gemm', { M: 8, K: 1024, N: 16, groupSize: 64, bias: true }, 4, 'asymmetric');
  });
  it('automatic split-K: one slice on a software adapter', async () => {
    const fresh = await getDevice(true); // its own pipeline cache: a split would compile the reduction as well
    // a grid of one workgroup and 22 K steps: a GPU would split it into 11 slices
    await check(fresh, 'gemm', { M: 8, K: 1024, N: 16, groupSize: 32 }, 4, 'symmetric', {
      workgroupSize: [8, 8, 1],
      rowsPerThread: 1,
      colsPerThread: 2,
      kTile: 48,
    });
    expect(isSoftwareAdapter(fresh)).toBe(true); // the test GPU is SwiftShader
    expect(pipelineCount(fresh)).toBe(1); // the main pass only
    fresh.destroy();
  });
  it('rejects a bad splitK and a tile beyond the workgroup storage', () => {
    const args = smallArgs(device, 2);
    expect(() => gemm(device, args, { splitK: 0 })).toThrow(RangeError);
    expect(() => gemm(device, args, { splitK: 1.5 })).toThrow(RangeError);
    expect(() =>
      gemm(device, args, { workgroupSize: [16, 16, 1], rowsPerThread: 4, colsPerThread: 4, kTile: 64 }),
    ).toThrow(RangeError);
  });
});

describe('pipeline cache', () => {
  it('reuses one pipeline across shapes (shapes are uniforms)', async () => {
    await check(device, 'gemv', { M: 1, K: 64, N: 8, groupSize: 32 }, 4, 'symmetric');
    const before = pipelineCount(device);
    await check(device, 'gemv', { M: 1, K: 96, N: 5, groupSize: 32 }, 4, 'symmetric');
    await check(device, 'gemv', { M: 2, K: 1024, N: 3, groupSize: 64 }, 4, 'symmetric');
    expect(pipelineCount(device)).toBe(before);
  });
  it('matmul picks gemv for small M and gemm above', async () => {
    const K = 64,
      N = 8;
    const o: QuantizeOptions = { bits: 4, scheme: 'symmetric', groupSize: 32 };
    const w = uploadQuantized(device, pack(quantizeReference(randomWeights(K * N, 1), K, N, o), 4, K, N, o));
    // Tile options no other test uses, so each call compiles exactly the pipeline of the kernel it picked.
    const options = { gemvMaxRows: 4, gemv: { workgroupSize: [16, 16, 1] as const }, gemm: { kTile: 16 } };
    const before = pipelineCount(device);
    matmul(device, { a: uploadBytes(device, activations(8 * K, 2)), M: 8, w }, options);
    expect(pipelineCount(device)).toBe(before + 1);
    matmul(device, { a: uploadBytes(device, activations(8 * K, 2)), M: 6, w }, options); // gemm again: cached
    expect(pipelineCount(device)).toBe(before + 1);
    matmul(device, { a: uploadBytes(device, activations(K, 2)), M: 1, w }, options);
    expect(pipelineCount(device)).toBe(before + 2);
  });
});
