/**
 * Quick tuning of kernel tile shapes on Node's Dawn (SwiftShader unless VK_ICD_FILENAMES says otherwise):
 *   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json npx tsx bench/kernels-tune.ts
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

async function time(fn: () => void, reps = 10): Promise<number> {
  fn();
  await drain();
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
  for (const wg of [
    [64, 4, 1],
    [32, 8, 1],
    [16, 16, 1],
    [8, 32, 1],
    [4, 64, 1],
    [8, 8, 1],
    [4, 16, 1],
  ] as const) {
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
  ];
  for (const t of tiles)
    console.error(
      `gemm ${bits}b M=${M} ${K}x${N} ${JSON.stringify(t)}: ${(await time(() => gemm(device, { a, M, w }, t), 4)).toFixed(2)} ms`,
    );
}
device.destroy();
