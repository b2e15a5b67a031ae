/**
 * A smoke run of the benchmark harness (bench/run.ts): the tiny matrix (PP-OCRv4 rec, a 2-layer encoder with
 * BERT-base widths, and the three registry ids by name — their e2e test builds, from the bench's mirror of the model
 * host, set on the options page — fp32 and 4-bit on wasm; webq vs the plain onnxruntime-web page; text generation with
 * the e2e tests' tiny Llama, webq vs transformers.js in the page; cold/warm/in-memory loads), 2 runs each, in Chromium
 * with the built extension. It checks that the harness works and its JSON is well formed, every figure finite and
 * positive, and that webq and transformers.js generated the same greedy tokens; it never asserts a speed (benchmarks
 * are tools, CI runs no benchmark).
 * Results go to a temporary folder: the committed bench/results and docs/benchmarks.md are left alone.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireBuild, DIST_CHROME } from '../../tools/browsers';
import { runBench } from '../../bench/run';
import { checkResults, type BenchResults } from '../../bench/lib/schema';

const out = mkdtempSync(join(tmpdir(), 'webq-bench-smoke-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('benchmark harness (smoke)', () => {
  it('runs the tiny matrix in Chromium and writes well-formed results', async () => {
    requireBuild(DIST_CHROME);
    const lines: string[] = [];
    const returned = await runBench({
      matrix: 'smoke',
      runs: 2,
      browsers: ['chromium'],
      docs: false,
      outDir: out,
      log: (l) => lines.push(l),
    });
    const r = JSON.parse(readFileSync(join(out, 'bench-smoke.json'), 'utf8')) as BenchResults;
    expect(r).toEqual(JSON.parse(JSON.stringify(returned)));
    expect(r.skipped, lines.join('\n')).toEqual([]);
    expect(checkResults(r)).toEqual([]);

    expect(r.browsers).toHaveLength(1);
    // The engine host is cross-origin isolated: wasm on every core (2 here), at most 16.
    const threads = Math.min(availableParallelism(), 16);
    // The page's baselines run the engine's thread count, never the page's own.
    expect(r.browsers[0]).toMatchObject({ name: 'chromium', wasmThreads: threads, baselineThreads: threads });
    expect(r.browsers[0]!.adapter).toMatch(/\S/); // the device is named
    // The matrix as asked: 5 models × {fp32, 4-bit} on wasm, each a median over 2 runs.
    const models = ['bert-id-test', 'bert-mini', 'ppocr', 'vit-id-test', 'whisper-id-test'];
    expect(r.endToEnd.map((e) => `${e.model}/${e.backend}/${e.bits}`).sort()).toEqual(
      models.flatMap((m) => [`${m}/wasm/32`, `${m}/wasm/4`]),
    );
    for (const e of r.endToEnd) {
      expect(e.runs).toBe(2);
      expect(e.device).toMatch(/\S/);
      if (e.bits !== 32) expect(e.modelBytes).toBeLessThan(e.originalBytes);
      // the reference compared with itself (speech: its text)
      else if (e.cosine !== null) expect(e.cosine).toBeCloseTo(1, 12);
    }
    expect(r.endToEnd.filter((e) => e.model === 'ppocr').every((e) => e.text !== undefined)).toBe(true);
    // The registry ids ran by id, and each kind of output was compared with fp32 its own way.
    const byId = (m: string) => r.endToEnd.filter((e) => e.model === m);
    expect(byId('bert-id-test').map((e) => e.registryId)).toEqual(['bert-base-uncased', 'bert-base-uncased']);
    expect(
      byId('vit-id-test').every(
        (e) =>
          e.registryId === 'vit-base-patch16-224' && typeof e.label === 'string' && typeof e.labelMatches === 'boolean',
      ),
    ).toBe(true);
    expect(
      byId('whisper-id-test').every(
        (e) => e.registryId === 'whisper-tiny' && e.textReference === 'fp32' && e.cosine === null,
      ),
    ).toBe(true);
    expect(byId('whisper-id-test').find((e) => e.bits === 32)).toMatchObject({ textMatches: true });
    expect(r.hops).toHaveLength(1);
    // Text generation: webq and transformers.js on the same files, both greedy, both timed, the same tokens.
    expect(r.generation).toHaveLength(1);
    const g = r.generation![0]!;
    expect(g).toMatchObject({
      browser: 'chromium',
      model: 'llama-gen-test',
      registryId: 'llama-3.2-1b-instruct',
      backend: 'wasm',
      rounds: 2,
      maxNewTokens: 4,
      newTokens: 4,
      sameTokens: true,
    });
    expect(g.tokens.transformers).toEqual(g.tokens.webq);
    expect(g.promptTokens).toBeGreaterThan(20);
    expect(g.transformersVersion).toMatch(/^\d+\.\d+/);
    expect(r.loads.map((l) => l.kind).sort()).toEqual(['cold', 'memory', 'warm']);
    expect(r.quantization.map((q) => q.model).sort()).toEqual([
      'bert-id-test',
      'bert-mini',
      'ppocr',
      'vit-id-test',
      'whisper-id-test',
    ]);
  });
});
