/**
 * WebNN for real: the engine host in a plain page (tests/harness) inside @sparticuz/chromium, whose WebNN backend
 * works (shared/TESTING.md). Real models and inputs (tools/fixtures.ts), compared with onnxruntime-node.
 * ORT's verbose session log tells where each node ran (docs/webnn.md has what was found).
 *
 * Run: npx vitest run --project e2e tests/e2e/webnn.test.ts   (rebuilds dist/harness first)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { ctcDecode, MODELS, ocrInput, referenceRun, referenceVad, speech16k } from '../../tools/fixtures';
import { mlpModel } from '../support/onnx-models';
import { cosine, maxAbsDiff as maxAbsDiffOf } from '../../extension/shared/compare';
import { DIST_HARNESS, harnessRoutes, launchSparticuz, nodePlacements, type Placement } from '../../tools/harness';
import { startServer, type TestServer } from '../../tools/server';

/** |webnn − onnxruntime-node| bounds (fp32 throughout; measured maxima are in docs/webnn.md). */
const VAD_TOLERANCE = 1e-4; // speech probability per frame
const OCR_TOLERANCE = 2e-3; // softmax probabilities [1, T, 6625]

interface PageTensor {
  type: string;
  dims: number[];
  data: (number | string)[];
}
interface PageRun {
  outputs: Record<string, PageTensor>;
  metrics: { backend: string; inferenceTimeMs: number; fallbacks: string[]; quantizationBits: number };
  times: number[];
}

let server: TestServer;
let browser: Browser;
let page: Page;
let logs: string[] = [];

beforeAll(async () => {
  // Always rebuilt (about a second): a stale dist/harness would test yesterday's engine.
  execFileSync('npx', ['vite', 'build', '--mode', 'harness', '--logLevel', 'warn'], { stdio: 'inherit' });
  if (!existsSync(join(DIST_HARNESS, 'index.html'))) throw new Error(`vite did not build ${DIST_HARNESS}`);
  server = await startServer({
    ...harnessRoutes(),
    '/models/silero_vad_v5.onnx': MODELS.sileroVad,
    '/models/ppocr_rec.onnx': MODELS.ppocrRec,
    '/models/mlp.onnx': mlpModel(),
  });
  // Throws with the reason when the binary cannot be unpacked or started: this test fails, it never skips.
  ({ browser } = await launchSparticuz());
  page = await browser.newPage();
  page.on('console', (m) => logs.push(m.text()));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  await page.goto(`${server.origin}/?log=verbose&trace=webnn`);
  await page.waitForFunction(() => 'webq' in window, undefined, { timeout: 30_000 });
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

/** Runs a model `repeat` times in the page; typed arrays are rebuilt there from plain arrays (BigInt as strings). */
function runInPage(
  model: string,
  feeds: Record<string, PageTensor>,
  options: Record<string, unknown>,
  repeat = 1,
): Promise<PageRun> {
  return page.evaluate(
    async ({ url, feeds, options, repeat }) => {
      const arrays: Record<string, (d: (number | string)[]) => ArrayBufferView> = {
        float32: (d) => new Float32Array(d as number[]),
        int64: (d) => new BigInt64Array(d.map((x) => BigInt(x))),
        int32: (d) => new Int32Array(d as number[]),
        uint8: (d) => new Uint8Array(d as number[]),
      };
      const input: Record<string, unknown> = {};
      for (const [name, t] of Object.entries(feeds))
        input[name] = { type: t.type, dims: t.dims, data: arrays[t.type]!(t.data) };
      const webq = (
        window as unknown as {
          webq: {
            run(
              m: string,
              i: unknown,
              o: unknown,
            ): Promise<{
              output: Record<string, { type: string; dims: number[]; data: ArrayLike<number | bigint> }>;
              performanceMetrics: PageRun['metrics'];
            }>;
          };
        }
      ).webq;
      const times: number[] = [];
      let last;
      for (let i = 0; i < repeat; i++) {
        last = await webq.run(url, input, options);
        times.push(last.performanceMetrics.inferenceTimeMs);
      }
      const outputs: Record<string, PageTensor> = {};
      for (const [name, t] of Object.entries(last!.output))
        outputs[name] = {
          type: t.type,
          dims: t.dims,
          data: Array.from(t.data, (x) => (typeof x === 'bigint' ? String(x) : x)),
        };
      const { backend, inferenceTimeMs, fallbacks, quantizationBits } = last!.performanceMetrics;
      return { outputs, metrics: { backend, inferenceTimeMs, fallbacks, quantizationBits }, times };
    },
    { url: `${server.origin}${model}`, feeds, options, repeat },
  );
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  return maxAbsDiffOf(a, b);
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const webnnTrace = () =>
  page.evaluate(() =>
    structuredClone(
      (
        window as unknown as {
          webqHarness: { webnn: { ops: Record<string, number>; builds: number; dispatches: number } };
        }
      ).webqHarness.webnn,
    ),
  );
const summary = (p: Record<string, Placement>) =>
  Object.fromEntries(Object.entries(p).map(([ep, { nodes, ops }]) => [ep, { nodes, ops }]));

describe('WebNN in @sparticuz/chromium (engine harness page)', () => {
  it('capabilities() reports WebNN available', async () => {
    const caps = await page.evaluate(() =>
      (
        window as unknown as {
          webq: {
            capabilities(): Promise<{
              browser: { name: string; version: string };
              webnn: { available: boolean; reason?: string };
            }>;
          };
        }
      ).webq.capabilities(),
    );
    expect(caps.webnn, JSON.stringify(caps.webnn)).toEqual({ available: true });
    expect(caps.browser.name).toBe('chrome');
  });

  it('Silero VAD v5 over real speech (state carried) matches onnxruntime-node', async () => {
    const audio = speech16k();
    const reference = await referenceVad(audio);
    logs = [];
    const run = await page.evaluate(
      async ({ url, samples }) => {
        const webq = (
          window as unknown as {
            webq: {
              run(
                m: string,
                i: unknown,
                o: unknown,
              ): Promise<{
                output: Record<string, { type: string; dims: number[]; data: Float32Array }>;
                performanceMetrics: { backend: string; inferenceTimeMs: number };
              }>;
            };
          }
        ).webq;
        const audio = new Float32Array(samples);
        const sr = { type: 'int64', dims: [], data: new BigInt64Array([16000n]) };
        let state: unknown = { type: 'float32', dims: [2, 1, 128], data: new Float32Array(256) };
        const probabilities: number[] = [];
        const times: number[] = [];
        const backends = new Set<string>();
        for (let i = 0; i + 512 <= audio.length; i += 512) {
          const r = await webq.run(
            url,
            { input: { type: 'float32', dims: [1, 512], data: audio.slice(i, i + 512) }, state, sr },
            { backend: 'webnn' },
          );
          probabilities.push(r.output.output!.data[0]!);
          state = r.output.stateN;
          times.push(r.performanceMetrics.inferenceTimeMs);
          backends.add(r.performanceMetrics.backend);
        }
        return { probabilities, times, backends: [...backends] };
      },
      { url: `${server.origin}/models/silero_vad_v5.onnx`, samples: Array.from(audio) },
    );

    expect(run.backends).toEqual(['webnn']);
    expect(run.probabilities.length).toBe(reference.length);
    const diff = maxAbsDiff(run.probabilities, reference);
    expect(diff).toBeLessThan(VAD_TOLERANCE);
    // The model hears the speech: silence (first 0.5 s) low, speech frames high.
    expect(Math.max(...run.probabilities.slice(0, 10))).toBeLessThan(0.5);
    expect(run.probabilities.filter((p) => p > 0.5).length).toBeGreaterThan(run.probabilities.length / 4);

    // Where ORT ran it. Silero's compute sits in nested If subgraphs with dynamic shapes: the WebNN EP gets only
    // control-flow glue; Conv and LSTM run on ORT's CPU EP (docs/webnn.md). If this changes, update the doc.
    const placements = nodePlacements(logs);
    const trace = await webnnTrace();
    console.log(
      'silero vad',
      JSON.stringify({
        frames: run.probabilities.length,
        maxAbsDiff: diff,
        medianFrameMs: median(run.times.slice(1)),
        placements: summary(placements),
        webnn: trace,
      }),
    );
    expect(placements.WebNNExecutionProvider?.nodes ?? 0, 'ORT put no node on WebNN').toBeGreaterThan(0);
    expect(trace.dispatches).toBeGreaterThan(0);
    expect(
      placements.CPUExecutionProvider?.ops.LSTM,
      'LSTM is expected on the CPU EP (see docs/webnn.md)',
    ).toBeGreaterThan(0);
  });

  const ocr = ocrInput('Hello World 2024');
  const ocrFeeds = { x: { type: 'float32', dims: [...ocr.dims], data: Array.from(ocr.data) } };
  let ocrReference: Float32Array;

  it('PP-OCRv4 rec reads "Hello World 2024" on WebNN and matches onnxruntime-node', async () => {
    const ref = await referenceRun(MODELS.ppocrRec, { x: { type: 'float32', data: ocr.data, dims: [...ocr.dims] } });
    const [refOut] = Object.values(ref);
    ocrReference = refOut!.data;
    expect(ctcDecode(refOut!.data, refOut!.dims)).toBe('Hello World 2024');

    logs = [];
    const before = await webnnTrace();
    const run = await runInPage('/models/ppocr_rec.onnx', ocrFeeds, { backend: 'webnn' });
    const [out] = Object.values(run.outputs);
    expect(run.metrics.backend).toBe('webnn');
    expect(out!.dims).toEqual(refOut!.dims);
    expect(ctcDecode(Float32Array.from(out!.data as number[]), out!.dims)).toBe('Hello World 2024');
    const diff = maxAbsDiff(out!.data as number[], refOut!.data);
    expect(diff).toBeLessThan(OCR_TOLERANCE);

    // ORT's placement: all compute in WebNN partitions; only opset-1 Slice nodes (WebNN EP needs Slice ≥ 10) on CPU.
    const placements = nodePlacements(logs);
    const after = await webnnTrace();
    console.log('ppocr rec', JSON.stringify({ maxAbsDiff: diff, placements: summary(placements), webnn: after }));
    const webnn = placements.WebNNExecutionProvider;
    expect(webnn, 'ORT put no node on WebNN').toBeDefined();
    expect(
      Object.keys(placements.CPUExecutionProvider?.ops ?? {}).filter((op) => op !== 'Slice'),
      'only Slice may fall back to CPU',
    ).toEqual([]);
    expect((after.ops.conv2d ?? 0) - (before.ops.conv2d ?? 0), 'every Conv built as a WebNN conv2d').toBe(38);
    expect(after.dispatches).toBeGreaterThan(before.dispatches);
  });

  it('PP-OCRv4 rec at 8 and 4 bits: its MatMuls quantized, its Conv weights as stored (noted once), the same text', async () => {
    // A DequantizeLinear before a Conv stalls Chromium's WebNN graph build (no session after 240 s; docs/webnn.md):
    // the engine keeps those weights as stored on WebNN, and the model must then build and read as fp32 does.
    for (const bits of [8, 4]) {
      const before = await webnnTrace();
      const run = await runInPage('/models/ppocr_rec.onnx', ocrFeeds, { backend: 'webnn', bits });
      const after = await webnnTrace();
      const [out] = Object.values(run.outputs);
      expect(run.metrics).toMatchObject({ backend: 'webnn', quantizationBits: bits });
      expect(ctcDecode(Float32Array.from(out!.data as number[]), out!.dims)).toBe('Hello World 2024');
      expect(run.metrics.fallbacks.filter((f) => f.includes('kept as stored'))).toEqual([
        expect.stringMatching(/^38 weights \(Conv\): kept as stored: on WebNN only MatMul\/Gemm weights are quantized/),
      ]);
      const built = (op: string) => (after.ops[op] ?? 0) - (before.ops[op] ?? 0);
      expect(built('conv2d'), 'every Conv built as a WebNN conv2d').toBe(38);
      // At 8 bits the MatMuls' weights are dequantized inside the WebNN graph (at 4, this build's WebNN EP leaves
      // the 4-bit MatMulNBits to onnxruntime's CPU EP: more partitions, no dequantizeLinear).
      if (bits === 8) expect(built('dequantizeLinear'), "the MatMuls' quantized weights").toBeGreaterThan(0);
      expect(after.dispatches).toBeGreaterThan(before.dispatches);
    }
  });

  it('Silero VAD v5 at 8 bits runs with its weights as stored (its LSTM weights failed the session as DequantizeLinear)', async () => {
    const frame = { type: 'float32', dims: [1, 512], data: Array.from(speech16k().slice(16000, 16512)) };
    const feeds = {
      input: frame,
      state: { type: 'float32', dims: [2, 1, 128], data: new Array<number>(256).fill(0) },
      sr: { type: 'int64', dims: [], data: ['16000'] },
    };
    const fp32 = await runInPage('/models/silero_vad_v5.onnx', feeds, { backend: 'webnn' });
    const run = await runInPage('/models/silero_vad_v5.onnx', feeds, { backend: 'webnn', bits: 8 });
    expect(run.metrics).toMatchObject({ backend: 'webnn', quantizationBits: 8 });
    expect(run.metrics.fallbacks.filter((f) => f.includes('kept as stored')).sort()).toEqual([
      expect.stringMatching(/^12 weights \(Conv\): kept as stored: on WebNN only MatMul\/Gemm/),
      expect.stringMatching(/^4 weights \(Slice\): kept as stored: on WebNN only MatMul\/Gemm/),
    ]);
    // Nothing was quantized, so the speech probability is fp32's.
    expect(run.outputs.output!.data).toEqual(fp32.outputs.output!.data);
  });

  // Quantized weights on WebNN, on a small MLP.
  const mlpInput = {
    x: { type: 'float32', dims: [1, 256], data: Array.from({ length: 256 }, (_, i) => Math.sin(i / 5)) },
  };

  it('8-bit weights run their MatMulNBits on WebNN and agree with fp32', async () => {
    const reference = Object.values(
      await referenceRun(mlpModel(), {
        x: { type: 'float32', data: Float32Array.from(mlpInput.x.data as number[]), dims: [1, 256] },
      }),
    )[0]!;
    logs = [];
    const run = await runInPage('/models/mlp.onnx', mlpInput, {
      backend: 'webnn',
      bits: 8,
      scheme: 'symmetric',
      groupSize: 32,
    });
    const y = run.outputs.y!.data as number[];
    expect(run.metrics).toMatchObject({ backend: 'webnn', quantizationBits: 8 });
    expect(cosine(y, reference.data)).toBeGreaterThan(0.999);
    const placements = nodePlacements(logs);
    console.log('mlp 8-bit', JSON.stringify({ cosine: cosine(y, reference.data), placements: summary(placements) }));
    // Placement, not hope: no quantized op may sit on ORT's CPU EP.
    expect(placements.WebNNExecutionProvider?.nodes ?? 0, 'ORT put no node on WebNN').toBeGreaterThan(0);
    expect(placements.CPUExecutionProvider?.ops.MatMulNBits ?? 0, 'MatMulNBits fell back to the CPU EP').toBe(0);
  });

  it('a bit width below what the WebNN context runs is raised to its minimum and reported', async () => {
    const run = await runInPage('/models/mlp.onnx', mlpInput, { backend: 'webnn', bits: 2 });
    const fallback = run.metrics.fallbacks.find((f) => f.startsWith('webnn: 2-bit unsupported'));
    expect(fallback, JSON.stringify(run.metrics.fallbacks)).toMatch(/^webnn: 2-bit unsupported, used (4|8)-bit$/);
    expect(run.metrics.quantizationBits).toBe(Number(fallback!.match(/used (\d)-bit/)![1]));
  });

  it('devicePreference cpu and gpu both run PP-OCRv4 rec on WebNN (wasm timed alongside)', async () => {
    // A fresh engine without ORT's verbose log, so the timings are not inflated by logging.
    await page.goto(`${server.origin}/`);
    await page.waitForFunction(() => 'webq' in window, undefined, { timeout: 30_000 });
    const timings: Record<string, { medianMs: number; maxAbsDiff: number }> = {};
    const outputs: Record<string, number[]> = {};
    for (const [label, options] of [
      ['webnn:cpu', { backend: 'webnn', devicePreference: 'cpu' }],
      ['webnn:gpu', { backend: 'webnn', devicePreference: 'gpu' }],
      ['wasm', { backend: 'wasm' }],
    ] as const) {
      const run = await runInPage('/models/ppocr_rec.onnx', ocrFeeds, options, 6);
      const [out] = Object.values(run.outputs);
      expect(run.metrics.backend).toBe(options.backend);
      expect(ctcDecode(Float32Array.from(out!.data as number[]), out!.dims)).toBe('Hello World 2024');
      outputs[label] = out!.data as number[];
      timings[label] = { medianMs: median(run.times.slice(1)), maxAbsDiff: maxAbsDiff(outputs[label]!, ocrReference) };
      expect(timings[label]!.maxAbsDiff).toBeLessThan(OCR_TOLERANCE);
    }
    const cpuVsGpu = maxAbsDiff(outputs['webnn:cpu']!, outputs['webnn:gpu']!);
    console.log(
      'ppocr rec (warm runs, median of 5)',
      JSON.stringify({ ...timings, webnnCpuVsGpuMaxAbsDiff: cpuVsGpu }),
    );
  });
});
