import { defineConfig } from 'vitest/config';

// Three kinds of tests (see docs/testing.md):
//  unit    — pure logic in Node (protocol validation, options, quantizer).
//  kernels — webq's WGSL kernels on Dawn (npm `webgpu`) with SwiftShader, in Node.
//  e2e     — the built extension in real Chromium and Firefox; needs `npm run build` first.
//  slow    — e2e files run by `npm run test:slow`, outside `npm test` to keep it inside CI's
//            20 minutes (docs/testing.md).
const SLOW_E2E = [
  'tests/e2e/bench-smoke.test.ts',
  'tests/e2e/kv-cache-gpu.test.ts',
  'tests/e2e/gqa-placement.test.ts',
  'tests/e2e/kernels-browser.test.ts',
  'tests/e2e/cli.test.ts',
  'tests/e2e/webnn.test.ts',
  'tests/e2e/gpu-quantize.test.ts',
  'tests/e2e/reliability-firefox.test.ts',
  'tests/e2e/reliability.test.ts',
  'tests/e2e/page-host-suites.test.ts',
];

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
          // The slowest checks that go deeper than the suites (see `slow`) are their own project, so the test
          // command stays inside CI's time.
          exclude: SLOW_E2E,
          environment: 'node',
          testTimeout: 300_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'slow',
          include: SLOW_E2E,
          environment: 'node',
          testTimeout: 300_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
