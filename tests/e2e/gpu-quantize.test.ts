/**
 * Load-time quantization on the GPU in Chromium (WebGPU on SwiftShader), through the built extension: a quantized
 * load reports which quantizer it used and the measured rates behind the choice (measured once per adapter: a later
 * load in a fresh worker reports the same figures, read from the settings store); `workgroupSize` makes the load
 * quantize with webq's kernels at that workgroup, runs, gives the same outputs as the measured choice and says so;
 * an impossible workgroup is a DataError. Firefox ESR (lavapipe) too: its workers have WebGPU, and the kernels
 * compile under its WGSL compiler (naga). Needs `npm run build` (dist/chrome and dist/firefox) first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import {
  launchChromium,
  launchFirefox,
  openWithConsent,
  openWithConsentFirefox,
  type ChromiumWithExtension,
} from '../../tools/browsers';
import { BLANK_PAGE, startServer, type TestServer } from '../../tools/server';
import { mlpModel } from '../support/onnx-models';

let chromium: ChromiumWithExtension;
let server: TestServer;
let page: Page;

beforeAll(async () => {
  const mlp = mlpModel();
  server = await startServer({
    '/page.html': BLANK_PAGE(),
    '/models/mlp.onnx': mlp,
    '/models/mlp_copy.onnx': mlp,
    '/models/mlp_wg.onnx': mlp,
  });
  chromium = await launchChromium();
  page = await openWithConsent(chromium.context, `${server.origin}/page.html`);
});

afterAll(async () => {
  await chromium?.close();
  await server?.close();
});

const url = (path: string) => `${server.origin}${path}`;
const input = () => Array.from({ length: 256 }, (_, i) => Math.sin(i * 0.37));

/** run() of the MLP with these options: its output and the report's fallbacks, or the error as "Name: message". */
async function runMlp(
  path: string,
  options: Record<string, unknown>,
): Promise<{ y?: number[]; fallbacks?: string[]; error?: string }> {
  return page.evaluate(
    async ({ u, options, x }) => {
      const webq = (window as any).webq;
      try {
        const r = await webq.run(u, { x: { type: 'float32', data: new Float32Array(x), dims: [1, 256] } }, options);
        return {
          y: Array.from(r.output.y.data as Float32Array),
          fallbacks: r.performanceMetrics.fallbacks as string[],
        };
      } catch (e) {
        return { error: `${(e as Error).name}: ${(e as Error).message}` };
      }
    },
    { u: url(path), options, x: input() },
  );
}

const MEASURED =
  /^quantizer: (GPU kernels \(measured ([\d.]+)× the CPU quantizer's rate on this adapter: ([\d.]+) vs ([\d.]+) Mparam\/s, 4-bit symmetric, 768×768\)|CPU \(the GPU kernels measured ([\d.]+)× its rate here: ([\d.]+) vs ([\d.]+) Mparam\/s, 4-bit symmetric, 768×768\))$/;

describe('GPU quantization at load time (Chromium, SwiftShader)', () => {
  let measured: { note: string; y: number[] };

  it('a quantized load says which quantizer it used, with the measured rates', async () => {
    const r = await runMlp('/models/mlp.onnx', { bits: 4, backend: 'wasm' });
    expect(r.error).toBeUndefined();
    const note = r.fallbacks!.find((f) => f.startsWith('quantizer: GPU kernels (') || f.startsWith('quantizer: CPU ('));
    expect(note, JSON.stringify(r.fallbacks)).toMatch(MEASURED);
    const m = MEASURED.exec(note!)!;
    const [ratio, gpu, cpu] = (m[2] ? m.slice(2, 5) : m.slice(5, 8)).map(Number) as [number, number, number];
    expect(gpu).toBeGreaterThan(0);
    expect(cpu).toBeGreaterThan(0);
    expect(ratio).toBeCloseTo(gpu / cpu, 0);
    expect(note!.startsWith('quantizer: GPU')).toBe(gpu > cpu);
    if (gpu > cpu)
      expect(r.fallbacks).toContainEqual(
        expect.stringMatching(/^quantizer: 2 of 2 weights \([\d.]+ M parameters\) quantized on the GPU in \d+ ms$/),
      );
    // The worker had WebGPU of its own: nothing was moved to the host's thread.
    expect(r.fallbacks!.join(' ')).not.toMatch(
      /preparation: on the engine host's thread|not available in the preparation worker/,
    );
    console.log(`[chrome] ${note}`);
    measured = { note: note!, y: r.y! };
  });

  it('the choice is measured once per adapter: a later load (a fresh worker) reports the same figures', async () => {
    const r = await runMlp('/models/mlp_copy.onnx', { bits: 4, backend: 'wasm' });
    expect(r.fallbacks).toContain(measured.note);
    expect(r.y).toEqual(measured.y);
  });

  it('workgroupSize [64, 1, 1]: quantizes with the kernels at that workgroup, runs, and says so', async () => {
    const r = await runMlp('/models/mlp_wg.onnx', { bits: 4, backend: 'wasm', workgroupSize: [64, 1, 1] });
    expect(r.error).toBeUndefined();
    expect(r.fallbacks).toContain(
      'quantizer: GPU kernels with workgroupSize [64, 1, 1] (the workgroupSize option; not measured against the CPU quantizer)',
    );
    expect(r.fallbacks).toContainEqual(
      expect.stringMatching(/^quantizer: 2 of 2 weights \([\d.]+ M parameters\) quantized on the GPU in \d+ ms$/),
    );
    // Same definition as the TypeScript quantizer: the same outputs whichever quantizer the measured load used
    // (codes may differ only at float ties; there are none in these weights).
    expect(r.y).toEqual(measured.y);
    // Another workgroup shape is another load of webq's kernels (not the model already in memory), same result.
    const other = await runMlp('/models/mlp_wg.onnx', { bits: 4, backend: 'wasm', workgroupSize: [8, 4, 2] });
    expect(other.fallbacks).toContain(
      'quantizer: GPU kernels with workgroupSize [8, 4, 2] (the workgroupSize option; not measured against the CPU quantizer)',
    );
    expect(other.y).toEqual(measured.y);
  });

  it('an impossible workgroupSize is a DataError naming workgroupSize', async () => {
    const caps = await page.evaluate(() => (window as any).webq.capabilities());
    const maxZ = caps.webgpu.limits.maxComputeWorkgroupSizeZ as number;
    const beyondDevice = await runMlp('/models/mlp_wg.onnx', {
      bits: 4,
      backend: 'wasm',
      workgroupSize: [1, 1, maxZ * 2],
    });
    expect(beyondDevice.error).toMatch(
      /^DataError: option workgroupSize: quantize workgroupSize \[1, 1, \d+\] exceeds the device limits/,
    );
    const beyondOption = await runMlp('/models/mlp_wg.onnx', { bits: 4, backend: 'wasm', workgroupSize: [2048, 1, 1] });
    expect(beyondOption.error).toMatch(/^DataError: option workgroupSize/);
    const unquantized = await runMlp('/models/mlp_wg.onnx', { backend: 'wasm', workgroupSize: [64, 1, 1] });
    expect(unquantized.error).toMatch(/^DataError: option workgroupSize applies when weights are quantized/);
    // The engine serves the next request.
    expect((await runMlp('/models/mlp.onnx', { bits: 4, backend: 'wasm' })).y).toEqual(measured.y);
  });
});

describe('GPU quantization at load time (Firefox ESR, lavapipe)', () => {
  it('the preparation worker has WebGPU: a measured choice, and workgroupSize runs the kernels with the same outputs', async () => {
    const firefox = await launchFirefox();
    try {
      const ff = await openWithConsentFirefox(firefox.browser, url('/page.html'));
      const r = await ff.evaluate(
        async ({ base, x }) => {
          const webq = (window as any).webq;
          const run = async (path: string, options: Record<string, unknown>) => {
            const res = await webq.run(
              base + path,
              { x: { type: 'float32', data: new Float32Array(x), dims: [1, 256] } },
              options,
            );
            return {
              y: Array.from(res.output.y.data as Float32Array),
              fallbacks: res.performanceMetrics.fallbacks as string[],
            };
          };
          return {
            measured: await run('/models/mlp.onnx', { bits: 4, backend: 'wasm' }),
            forced: await run('/models/mlp_wg.onnx', { bits: 4, backend: 'wasm', workgroupSize: [64, 1, 1] }),
          };
        },
        { base: server.origin, x: input() },
      );
      const note = r.measured.fallbacks.find((f) => MEASURED.test(f));
      expect(note, JSON.stringify(r.measured.fallbacks)).toBeDefined();
      console.log(`[firefox] ${note}`);
      expect(r.forced.fallbacks).toContain(
        'quantizer: GPU kernels with workgroupSize [64, 1, 1] (the workgroupSize option; not measured against the CPU quantizer)',
      );
      expect(r.forced.fallbacks).toContainEqual(
        expect.stringMatching(/^quantizer: 2 of 2 weights .* quantized on the GPU in \d+ ms$/),
      );
      expect([...r.measured.fallbacks, ...r.forced.fallbacks].join(' ')).not.toMatch(
        /preparation worker|engine host's thread/,
      );
      expect(r.forced.y).toEqual(r.measured.y);
    } finally {
      await firefox.close();
    }
  });
});
