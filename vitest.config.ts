import { defineConfig } from 'vitest/config';

// Three kinds of tests (see docs/testing.md):
//  unit    — pure logic in Node (protocol validation, options, quantizer).
//  kernels — webq's WGSL kernels on Dawn (npm `webgpu`) with SwiftShader, in Node.
//  e2e     — the built extension in real Chromium and Firefox; needs `npm run build` first.
//  bench   — the benchmark harness's smoke run (`npm run test:bench`), outside `npm test` for CI's time.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['tests/unit/**/*.test.ts', 'extension/**/*.test.ts', 'kernels/**/*.test.ts'],
          exclude: ['kernels/**/*.gpu.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'kernels',
          include: ['tests/kernels/**/*.test.ts', 'kernels/**/*.gpu.test.ts'],
          environment: 'node',
          testTimeout: 120_000,
          fileParallelism: false,
          env: { VK_ICD_FILENAMES: '/usr/lib/chromium/vk_swiftshader_icd.json' },
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['tests/e2e/**/*.test.ts'],
          // The benchmark harness's smoke run (a minute or more of timed runs) is its own project, `npm run
          // test:bench`, so the test command stays inside CI's time.
          exclude: ['tests/e2e/bench-smoke.test.ts'],
          environment: 'node',
          testTimeout: 300_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'bench',
          include: ['tests/e2e/bench-smoke.test.ts'],
          environment: 'node',
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
