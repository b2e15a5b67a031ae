/**
 * Quick tuning of kernel tile shapes on Node's Dawn (SwiftShader unless VK_ICD_FILENAMES says otherwise):
 *   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json npx tsx bench/kernels-tune.ts
 * Environment: K, N (default 768×768), BITS (default 4; e.g. 2,4,8), ONLY=gemm (skip the GEMV tiles). Each GEMM
 * tile also prints its first call's ms, which includes compiling its pipeline (the unstaged tiles' cost).
 * Not the benchmark of record (that is bench/kernels.mjs, in Chromium next to onnxruntime-web).
 */
import { create, globals } from 'webgpu';
import {
  createStorage,
  gemm,
  gemv,
  quantize,
  readBytes,
  uploadBytes,
  type GemmOptions,
  type GemvOptions,
} from '../kernels/index';
import type { Bits } from '../kernels/layout';

Object.assign(globalThis, globals);
// Keep the GPU instance referenced: if it is garbage-collected Dawn for Node aborts the process.
const gpu = create([]);
const adapter = await gpu.requestAdapter();
const device = await adapter!.requestDevice({
  requiredFeatures: adapter!.features.has('subgroups') ? ['subgroups'] : [],
});

// Dawn for Node aborts in queue.onSubmittedWorkDone() here; a buffer map waits for the same queue.
const fence = createStorage(device, 4);
const drain = (): Promise<unknown> => readBytes(device, fence, 4);

/** ms per call after one warm-up call; with `first`, the warm-up's own ms (the pipeline's compile included). */
async function time(fn: () => void, reps = 10, first?: { ms: number }): Promise<number> {
  const t0 = performance.now();
  fn();
  await drain();
  if (first) first.ms = performance.now() - t0;
  const t = performance.now();
  for (let i = 0; i < reps; i++) fn();
  await drain();
  return (performance.now() - t) / reps;
}

const [K, N] = [Number(process.env.K ?? 768), Number(process.env.N ?? 768)];
for (const bits of (process.env.BITS ?? '4').split(',').map(Number) as Bits[]) {
  const w = quantize(
    device,
    {
      weights: uploadBytes(
        device,
        new Float32Array(K * N).map(() => Math.random() - 0.5),
      ),
      K,
      N,
    },
    { bits, scheme: 'asymmetric', groupSize: 32, scaleSearch: false },
  );
  const a1 = uploadBytes(device, new Float32Array(K).fill(0.5));
  for (const wg of process.env.ONLY === 'gemm'
    ? []
    : ([
        [64, 4, 1],
        [32, 8, 1],
        [16, 16, 1],
        [8, 32, 1],
        [4, 64, 1],
        [8, 8, 1],
        [4, 16, 1],
      ] as const)) {
    for (const subgroups of [true, false]) {
      const o: GemvOptions = { workgroupSize: wg, subgroups };
      console.error(
        `gemv ${bits}b ${K}x${N} wg=${wg.join('x')} sg=${subgroups}: ${(await time(() => gemv(device, { a: a1, M: 1, w }, o))).toFixed(2)} ms`,
      );
    }
  }
  const M = 16;
  const a = uploadBytes(device, new Float32Array(M * K).fill(0.5));
  const tiles: GemmOptions[] = [
    {},
    { workgroupSize: [16, 4, 1], rowsPerThread: 4, colsPerThread: 4 },
    { workgroupSize: [16, 16, 1], rowsPerThread: 1, colsPerThread: 4 },
    { workgroupSize: [32, 4, 1], rowsPerThread: 4, colsPerThread: 2 },
    { workgroupSize: [8, 4, 1], rowsPerThread: 4, colsPerThread: 8, kTile: 32 },
    { workgroupSize: [8, 2, 1], rowsPerThread: 8, colsPerThread: 4, kTile: 16 },
    { workgroupSize: [16, 2, 1], rowsPerThread: 8, colsPerThread: 4, kTile: 32 },
    { workgroupSize: [8, 4, 1], rowsPerThread: 4, colsPerThread: 8, kTile: 16 },
    { workgroupSize: [4, 4, 1], rowsPerThread: 4, colsPerThread: 16, kTile: 32 },
    { workgroupSize: [8, 2, 1], rowsPerThread: 8, colsPerThread: 8, kTile: 32 },
    { workgroupSize: [4, 4, 1], rowsPerThread: 4, colsPerThread: 8, kTile: 32 },
    { stage: false }, // GEMM_UNSTAGED_DEFAULTS: [4, 1, 1], 16×8
    { stage: false, rowsPerThread: 16, colsPerThread: 16 },
    { stage: false, rowsPerThread: 8, colsPerThread: 16 },
  ];
  for (const t of tiles) {
    const first = { ms: 0 };
    const ms = await time(() => gemm(device, { a, M, w }, t), 4, first);
    console.error(
      `gemm ${bits}b M=${M} ${K}x${N} ${JSON.stringify(t)}: ${ms.toFixed(2)} ms (first call ${first.ms.toFixed(0)} ms)`,
    );
  }
}
device.destroy();
