/**
 * A smoke run of the benchmark harness (bench/run.ts): the tiny matrix (PP-OCRv4 rec and a 2-layer encoder with
 * BERT-base widths, fp32 and 4-bit on wasm, webq vs the plain onnxruntime-web page, cold/warm/in-memory loads),
 * 2 runs each, in Chromium with the built extension. It checks that the harness works and its JSON is well formed,
 * every figure finite and positive; it never asserts a speed (benchmarks are tools, CI runs no benchmark).
 * Results go to a temporary folder: the committed bench/results and docs/benchmarks.md are left alone.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireBuild, DIST_CHROME } from '../support/browsers';
import { runBench } from '../../bench/run';
import { checkResults, type BenchResults } from '../../bench/lib/schema';

const out = mkdtempSync(join(tmpdir(), 'webq-bench-smoke-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('benchmark harness (smoke)', () => {
  it('runs the tiny matrix in Chromium and writes well-formed results', async () => {
    requireBuild(DIST_CHROME);
    const lines: string[] = [];
    const returned = await runBench({ matrix: 'smoke', runs: 2, browsers: ['chromium'], docs: false, outDir: out, log: (l) => lines.push(l) });
    const r = JSON.parse(readFileSync(join(out, 'bench-smoke.json'), 'utf8')) as BenchResults;
    expect(r).toEqual(JSON.parse(JSON.stringify(returned)));
    expect(r.skipped, lines.join('\n')).toEqual([]);
    expect(checkResults(r)).toEqual([]);

    expect(r.browsers).toHaveLength(1);
    expect(r.browsers[0]).toMatchObject({ name: 'chromium', wasmThreads: 1 });
    expect(r.browsers[0]!.adapter).toMatch(/\S/); // the device is named
    // The matrix as asked: 2 models × {fp32, 4-bit} on wasm, each a median over 2 runs.
    expect(r.endToEnd.map((e) => `${e.model}/${e.backend}/${e.bits}`).sort()).toEqual(['bert-mini/wasm/32', 'bert-mini/wasm/4', 'ppocr/wasm/32', 'ppocr/wasm/4']);
    for (const e of r.endToEnd) {
      expect(e.runs).toBe(2);
      expect(e.device).toMatch(/\S/);
      if (e.bits === 32) expect(e.cosine).toBeCloseTo(1, 12); // the reference compared with itself
      else expect(e.modelBytes).toBeLessThan(e.originalBytes);
    }
    expect(r.endToEnd.filter((e) => e.model === 'ppocr').every((e) => e.text !== undefined)).toBe(true);
    expect(r.hops).toHaveLength(1);
    expect(r.loads.map((l) => l.kind).sort()).toEqual(['cold', 'memory', 'warm']);
    expect(r.quantization.map((q) => q.model).sort()).toEqual(['bert-mini', 'ppocr']);
  });
});
