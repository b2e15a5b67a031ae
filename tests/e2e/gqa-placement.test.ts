/**
 * Where onnxruntime-web puts a GroupQueryAttention graph's nodes: the engine harness (tests/harness, the engine in
 * a plain page) in Debian's Chromium with WebGPU on SwiftShader, ORT's verbose session log on, the generated GQA
 * Llama (tests/support/hub-models/llama-gqa.ts) generating on the WebGPU and wasm backends, as stored and at
 * 4 bits. The page-API suite (generation-suite.ts) checks the tokens; this one checks that the WebGPU backend ran
 * the attention itself on the GPU rather than ORT quietly handing it to its CPU EP (docs/generation.md).
 *
 * Run: npx vitest run --project e2e tests/e2e/gqa-placement.test.ts   (after `npm run build`, for dist/harness)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CHROMIUM_GPU_ARGS, CHROMIUM_PATH } from '../../tools/browsers';
import { harnessRoutes, nodePlacements } from '../../tools/harness';
import { mirrorRepo } from '../../tools/hub-mirror';
import { llamaGqaHubFiles } from '../../tools/hub-models/llama-gqa';
import { startServer, type TestServer } from '../../tools/server';

const REPO = 'webq-tests/Llama-GQA-tiny';

let server: TestServer;
let browser: Browser;
let page: Page;
let logs: string[] = [];

beforeAll(async () => {
  server = await startServer(harnessRoutes());
  mirrorRepo(server, '/hub', REPO, llamaGqaHubFiles());
  browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--no-sandbox', ...CHROMIUM_GPU_ARGS],
  });
  page = await browser.newPage();
  page.on('console', (m) => logs.push(m.text()));
  await page.goto(`${server.origin}/?log=verbose`);
  await page.waitForFunction(() => 'webq' in window, undefined, { timeout: 30_000 });
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

async function generate(options: Record<string, unknown>) {
  logs = [];
  const model = { url: `${server.origin}/hub/${REPO}/resolve/main/onnx/model.onnx`, task: 'text-generation' };
  const r = await page.evaluate(
    ({ model, options }) =>
      (window as any).webq.run(model, 'Once upon a time', { maxNewTokens: 4, ...options }).then(
        (r: any) => ({ ok: true, tokens: r.output.tokens, backend: r.performanceMetrics.backend }),
        (e: Error) => ({ ok: false, message: `${e.name}: ${e.message}` }),
      ),
    { model, options },
  );
  return { ...r, placements: nodePlacements(logs) };
}

describe('GroupQueryAttention on onnxruntime-web', () => {
  for (const bits of [32, 4]) {
    it(`webgpu at ${bits} bits: every GroupQueryAttention node on the WebGPU EP`, async () => {
      const r = await generate({ backend: 'webgpu', ...(bits === 4 ? { useQuantization: true } : {}) });
      console.log(`gqa webgpu ${bits}-bit placements`, JSON.stringify(r.placements));
      expect(r.ok, r.message).toBe(true);
      expect(r.backend).toBe('webgpu');
      expect(r.placements.WebGpuExecutionProvider?.ops.GroupQueryAttention).toBe(2);
      expect(r.placements.CPUExecutionProvider?.ops.GroupQueryAttention ?? 0).toBe(0);
      if (bits === 4) expect(r.placements.CPUExecutionProvider?.ops.MatMulNBits ?? 0).toBe(0);
    });
  }

  it('wasm: the CPU EP runs it', async () => {
    const r = await generate({ backend: 'wasm' });
    expect(r.ok, r.message).toBe(true);
    console.log('gqa wasm placements', JSON.stringify(r.placements));
    expect(r.placements.CPUExecutionProvider?.nodes ?? 0).toBeGreaterThan(0);
    expect(r.placements.WebGpuExecutionProvider).toBeUndefined();
  });
});
