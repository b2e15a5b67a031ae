/**
 * Issue 4's browser check: webq's GEMV and GEMM kernels and onnxruntime-web's MatMulNBits (WebGPU EP), on the same
 * GPUDevice in Chromium, fed the same packed weights (odd K and N, every bit width), agree. Runs the kernel
 * benchmark's page in its smoke mode (one sample per kernel: the agreement check, not a timing).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

it('webq GEMV/GEMM equal onnxruntime-web MatMulNBits on the same weights, 2/4/8 bits', async () => {
  const out = mkdtempSync(join(tmpdir(), 'webq-kernels-'));
  // The script exits non-zero itself when the two disagree beyond 1e-3·√K; the rows are checked tighter here.
  await promisify(execFile)(process.execPath, ['bench/kernels.mjs', '--smoke', '--out', out], { timeout: 180_000 });
  const rows = JSON.parse(readFileSync(join(out, 'kernels.json'), 'utf8')) as {
    kernel: string;
    bits: number;
    M: number;
    K: number;
    N: number;
    maxAbsDiff: number;
    adapter: string;
  }[];
  expect(rows.map((r) => `${r.kernel}/${r.bits}`).sort()).toEqual([
    'gemm/2',
    'gemm/4',
    'gemm/8',
    'gemv/2',
    'gemv/4',
    'gemv/8',
  ]);
  for (const r of rows) {
    expect(r.adapter).toMatch(/\S/);
    expect(r.maxAbsDiff, `${r.kernel} ${r.bits}-bit`).toBeLessThan(1e-4);
  }
});
