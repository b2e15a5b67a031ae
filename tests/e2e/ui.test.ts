/**
 * The extension's own pages in real browsers: the popup (device panel, a run of PP-OCRv4 rec with generated
 * inputs checked against onnxruntime-node, compare fp32 vs 8-bit, cancel during a slow download), the options
 * page (cache listing and deletion, settings that persist and that the engine honours, model host validation),
 * and the popup's task models by registry id from a local mirror of the model host (text → embeddings, a PNG file →
 * labels, compare fp32 vs 4-bit by cosine, a WAV file and the fake microphone → text), in Chromium; a smoke run of
 * both pages in Firefox. Screenshots go to test-output/ui/ for a person to look at.
 *
 * Needs `npx vite build --mode chrome` (and `--mode firefox`) first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';
import {
  clickPromptFirefox,
  findFirefoxPage,
  launchChromium,
  launchFirefox,
  openWithConsent,
  saveModelHost,
  userGesture,
  type ChromiumWithExtension,
} from '../../tools/browsers';
import { MODELS, referenceRun } from '../../tools/fixtures';
import { mirrorRepo } from '../../tools/hub-mirror';
import { BERT_EXAMPLES, bertHubFiles } from '../../tools/hub-models/bert';
import { vitHubFiles } from '../../tools/hub-models/vit';
import { WHISPER_TEXTS, whisperHubFiles, whisperTestAudio } from '../../tools/hub-models/whisper';
import { BLANK_PAGE, slowRoute, startServer, type TestServer } from '../../tools/server';
import { T5_EXAMPLES, t5HubFiles } from '../../tools/hub-models/t5';
import { CLIP_PROJECTION, clipHubFiles } from '../../tools/hub-models/clip';
import { WAV2VEC2_TEXTS, wav2vec2HubFiles, wav2vec2TestAudio } from '../../tools/hub-models/wav2vec2';
import { makeTensor } from '../../extension/ui/tensors';

const SHOTS = 'test-output/ui';
const SEED = 1234; // popup/popup.ts generates inputs from this seed; the reference below uses the same
const WIDTH = 80; // the free width of PP-OCR rec's input [N, 3, 48, W]

let server: TestServer;
let chromium: ChromiumWithExtension;
let popup: Page;
const model = () => `${server.origin}/models/ppocr_rec.onnx`;
const extensionUrl = (path: string) => `chrome-extension://${chromium.extensionId}/${path}`;

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  server = await startServer({
    '/page.html': BLANK_PAGE(),
    '/models/ppocr_rec.onnx': MODELS.ppocrRec,
    // ~2.3 MB at 64 KiB every 250 ms: about 9 s, long enough to cancel mid-download.
    '/models/slow.onnx': slowRoute(readFileSync(MODELS.sileroVad), 64 * 1024, 250),
  });
  // A fake microphone (a beeping source) that is allowed without a prompt, for the popup's recording path.
  chromium = await launchChromium({
    extraArgs: ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'],
  });
  popup = await chromium.context.newPage();
  await popup.setViewportSize({ width: 800, height: 600 });
  await popup.goto(extensionUrl('popup/popup.html'));
});

afterAll(async () => {
  await chromium?.close();
  await server?.close();
});

/** Waits for `selector` in the popup; fails at once, with the popup's message, if the work failed instead. */
async function appears(selector: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await popup.locator(selector).count()) return;
    if ((await popup.getAttribute('[data-webq=status]', 'data-kind')) === 'error')
      throw new Error(`popup: ${await popup.textContent('[data-webq=status]')}`);
    await popup.waitForTimeout(200);
  }
  throw new Error(
    `${selector} did not appear within ${timeoutMs} ms; status: ${await popup.textContent('[data-webq=status]')}`,
  );
}

/** Loads the PP-OCR model in the popup at `bits` on wasm, setting the free width. */
async function loadPpocr(bits: string): Promise<void> {
  await popup.fill('[data-webq=model-url]', model());
  await popup.selectOption('[data-webq=backend]', 'wasm');
  await popup.selectOption('[data-webq=bits]', bits);
  await popup.click('[data-webq=load]');
  await appears('[data-webq=model-summary]', 60_000);
  const x = popup.locator('fieldset[data-input="x"]');
  await x.locator('[data-dim="3"]').fill(String(WIDTH));
  await x.locator('[data-webq=fill]').selectOption('random');
}

describe('popup (Chromium)', () => {
  it('device panel shows the adapter, WebNN status, the profile, and limits on demand', async () => {
    const summary = popup.locator('[data-webq=device-summary]');
    await summary.waitFor({ timeout: 30_000 });
    const text = await summary.textContent();
    expect(text).toMatch(/Browser\s*chrome \d+/);
    expect(text).toMatch(/WebGPU adapter.*SwiftShader/i);
    expect(text).toMatch(/Emulated\s*yes/);
    expect(text).toMatch(/WebNN\s*unavailable — \S/);
    expect(text).toMatch(/Profile\s*chrome-webgpu\+emulated-gpu/);
    const limits = popup.locator('[data-webq=limits]');
    expect(await limits.locator('tr', { hasText: 'maxBufferSize' }).isVisible()).toBe(false); // collapsed
    await limits.locator('summary').click();
    expect(await limits.locator('tr', { hasText: 'maxBufferSize' }).isVisible()).toBe(true);
    await popup.screenshot({ path: `${SHOTS}/popup-device.png`, fullPage: true });
    await limits.locator('summary').click();
  });

  it('runs PP-OCRv4 rec at fp32 with generated inputs: outputs match onnxruntime-node, metrics shown', async () => {
    await loadPpocr('32');
    const info = await popup.locator('[data-webq=model-summary]').textContent();
    expect(info).toMatch(/Backend\s*wasm/);
    expect(info).toMatch(/x float32 \[p2o\.DynamicDimension\.0, 3, 48, p2o\.DynamicDimension\.1\]/);
    await popup.click('[data-webq=run]');
    await appears('[data-webq=metrics]', 60_000);
    const metrics = popup.locator('[data-webq=metrics]');
    expect(await metrics.locator('[data-metric=backend]').textContent()).toBe('wasm');
    expect(await metrics.locator('[data-metric=bits]').textContent()).toBe('fp32');
    expect(await metrics.locator('[data-metric=reduction]').textContent()).toBe('0.0%');
    expect(await metrics.locator('[data-metric=model-bytes]').textContent()).toMatch(
      /^10\.\d MiB of 10\.\d MiB at fp32$/,
    );
    expect(await metrics.locator('[data-metric=inference]').textContent()).toMatch(/^\d+(\.\d+)? (ms|s)$/);

    // The same seeded input in onnxruntime-node: the popup's summary must show the same numbers.
    const input = makeTensor('float32', [1, 3, 48, WIDTH], { kind: 'random', seed: SEED });
    const ref = (await referenceRun(MODELS.ppocrRec, { x: input as never }))['softmax_11.tmp_0']!;
    const row = popup.locator('[data-webq=outputs] tr[data-output="softmax_11.tmp_0"]');
    const cells = await row.locator('td').allTextContents();
    expect(cells[0]).toBe(`float32 [${ref.dims.join('×')}]`);
    const shownMax = Number(cells[2]);
    expect(Math.abs(shownMax - Math.max(...ref.data))).toBeLessThan(1e-3);
    const shownFirst = cells[4]!.split(', ').slice(0, 4).map(Number);
    shownFirst.forEach((v, i) => expect(Math.abs(v - ref.data[i]!)).toBeLessThan(1e-4 + 1e-3 * Math.abs(v)));
    await popup.screenshot({ path: `${SHOTS}/popup-run-fp32.png`, fullPage: true });
  });

  it('compares fp32 with 8-bit: smaller model, outputs agree closely but not bit for bit, chart drawn', async () => {
    await popup.selectOption('[data-webq=compare-a]', '32');
    await popup.selectOption('[data-webq=compare-b]', '8');
    await popup.click('[data-webq=compare-run]');
    await appears('[data-webq=agreement]', 60_000);
    const agreement = popup.locator('[data-webq=agreement]');
    const cosine = Number(
      await agreement.locator('tr[data-output="softmax_11.tmp_0"] [data-cos]').getAttribute('data-cos'),
    );
    expect(cosine).toBeGreaterThan(0.98);
    expect(cosine).toBeLessThan(1); // 8-bit weights do change the numbers: equal outputs would mean no quantization
    const size = await popup.locator('[data-webq=compare-table] tr[data-measure=size] td').allTextContents();
    expect(size[0]).toMatch(/^10\.\d MiB$/);
    expect(size[1]).toMatch(/^[2-4]\.\d+ MiB$/);
    const reduction = await popup.locator('[data-webq=compare-table] tr[data-measure=reduction] td').allTextContents();
    expect(Number(reduction[1]!.replace('%', ''))).toBeGreaterThan(60);
    const chart = popup.locator('[data-webq=compare-result] svg[role=img]');
    expect(await chart.locator('rect').count()).toBe(6); // 2 measures × 2 bars + 2 legend swatches
    expect(await chart.getAttribute('aria-label')).toMatch(
      /Inference: fp32 .*, 8-bit .*; Model bytes: fp32 10\.\d MiB, 8-bit/,
    );
    await popup.locator('[data-webq=compare-result]').scrollIntoViewIfNeeded();
    await popup.screenshot({ path: `${SHOTS}/popup-compare.png`, fullPage: true });
  });

  it('cancels a slow download: the load stops at once, nothing is loaded, the next load works', async () => {
    await popup.fill('[data-webq=model-url]', `${server.origin}/models/slow.onnx`);
    await popup.selectOption('[data-webq=bits]', '32');
    expect(await popup.isDisabled('[data-webq=run]')).toBe(true); // a new URL forgets the loaded model…
    expect(await popup.locator('[data-webq=metrics], [data-webq=agreement]').count()).toBe(0); // …and its results
    await popup.click('[data-webq=load]');
    await expect
      .poll(() => popup.textContent('[data-webq=status]'), { timeout: 20_000 })
      .toMatch(/Downloading: [\d.]+ KiB of 2\.\d+ MiB/);
    expect(await popup.isVisible('[data-webq=progress]')).toBe(true);
    await popup.screenshot({ path: `${SHOTS}/popup-progress.png` });
    const started = Date.now();
    await popup.click('[data-webq=cancel]');
    await expect.poll(() => popup.textContent('[data-webq=status]'), { timeout: 5_000 }).toBe('Loading: cancelled.');
    expect(Date.now() - started).toBeLessThan(3_000); // long before the ~9 s download would end
    expect(await popup.isVisible('[data-webq=progress]')).toBe(false);
    expect(await popup.isDisabled('[data-webq=cancel]')).toBe(true);
    expect(await popup.locator('[data-webq=model-summary]').count()).toBe(0);
    await loadPpocr('32'); // the popup and the engine still serve
  });
});

describe('options page (Chromium)', () => {
  let options: Page;
  beforeAll(async () => {
    options = await chromium.context.newPage();
    await options.setViewportSize({ width: 1000, height: 800 });
    await options.goto(extensionUrl('options/options.html'));
  });

  it('lists the cached model and its 8-bit variant, deletes one, then all', async () => {
    const rows = options.locator(`[data-webq=cache] tr[data-source="${model()}"]`);
    await expect.poll(() => rows.count()).toBe(2);
    const variants = (await rows.evaluateAll((trs) => trs.map((tr) => (tr as HTMLElement).dataset.variant))).sort();
    expect(variants).toEqual(['q8s128ei', 'src']); // e: embedding tables as stored, i: int8 MatMuls, for wasm
    const src = options.locator(`[data-webq=cache] tr[data-source="${model()}"][data-variant=src]`);
    expect(await src.textContent()).toMatch(/as downloaded\s*10\.\d MiB/);
    expect(await options.textContent(`[data-webq=cache] tr[data-variant=q8s128ei]`)).toMatch(
      /8-bit, symmetric, group 128, embedding tables as stored \(for wasm\/WebNN\), int8 MatMuls \(for wasm\)/,
    );
    expect(await options.textContent('[data-webq=cache-total]')).toMatch(
      /2 entries, 1[34]\.\d MiB of the 4\.00 GiB budget\. The browser counts .* used by webq/,
    );
    await options.screenshot({ path: `${SHOTS}/options-cache.png`, fullPage: true });

    await src.locator('[data-webq=cache-delete]').click();
    await expect.poll(() => rows.count()).toBe(1);
    expect(await options.textContent('[data-webq=cache-status]')).toMatch(/^Deleted .*as downloaded/);
    await options.reload(); // really gone from IndexedDB, not just from the table
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.getAttribute('data-variant')).toBe('q8s128ei');

    options.once('dialog', (d) => void d.accept());
    await options.click('[data-webq=cache-clear]');
    await expect.poll(() => options.isVisible('[data-webq=cache-empty]')).toBe(true);
    expect(await options.locator('[data-webq=cache] tbody tr').count()).toBe(0);
    expect(await options.isDisabled('[data-webq=cache-clear]')).toBe(true);
  });

  it('rejects a bad model host, saves nothing, and says why', async () => {
    for (const bad of ['http://example.com/models', 'ftp://127.0.0.1/x', 'not a url', 'https://u:p@example.com']) {
      await options.fill('[data-webq=model-host]', bad);
      await options.fill('[data-webq=cache-budget]', '1024');
      await options.click('[data-webq=settings-save]');
      await expect
        .poll(() => options.textContent('[data-webq=settings-status]'))
        .toBe('Not saved: fix the model host.');
      expect(await options.getAttribute('[data-webq=model-host]', 'aria-invalid')).toBe('true');
      expect(await options.isVisible('[data-webq=model-host-error]')).toBe(true);
      expect(await options.evaluate(() => document.activeElement?.getAttribute('data-webq'))).toBe('model-host');
    }
    await options.screenshot({ path: `${SHOTS}/options-bad-host.png`, fullPage: true });
    await options.reload();
    await expect.poll(() => options.inputValue('[data-webq=model-host]')).toBe('https://huggingface.co');
    expect(await options.inputValue('[data-webq=cache-budget]')).toBe('4096'); // the budget was not saved either
  });

  it('saves settings that persist across reload; the engine uses the profile override', async () => {
    await options.fill('[data-webq=model-host]', 'http://localhost:8080/models/');
    await options.fill('[data-webq=cache-budget]', '2048');
    await options.selectOption('[data-webq=profile]', 'edge');
    await options.click('[data-webq=settings-save]');
    await expect.poll(() => options.textContent('[data-webq=settings-status]')).toBe('Saved.');
    expect(await options.getAttribute('[data-webq=model-host]', 'aria-invalid')).toBeNull();
    await options.reload();
    await expect.poll(() => options.inputValue('[data-webq=model-host]')).toBe('http://localhost:8080/models');
    expect(await options.inputValue('[data-webq=cache-budget]')).toBe('2048');
    expect(await options.inputValue('[data-webq=profile]')).toBe('edge');
    expect(await options.textContent('[data-webq=cache-total]')).toMatch(/of the 2\.00 GiB budget/);
    await options.screenshot({ path: `${SHOTS}/options-settings.png`, fullPage: true });

    // Not accepted and ignored: the engine now reports (and would use) the Edge profile.
    await popup.reload();
    await expect
      .poll(() => popup.textContent('[data-webq=device-summary]'), { timeout: 30_000 })
      .toMatch(/Profile\s*edge-webnn\+emulated-gpu: auto tries webnn → wasm → webgpu; quantizes to 8-bit/);
    await options.selectOption('[data-webq=profile]', '');
    await options.click('[data-webq=settings-save]');
    await expect.poll(() => options.textContent('[data-webq=settings-status]')).toBe('Saved.');
    await popup.reload();
    await expect
      .poll(() => popup.textContent('[data-webq=device-summary]'), { timeout: 30_000 })
      .toMatch(/Profile\s*chrome-webgpu\+emulated-gpu/);
  });

  it('calibrates this GPU: every candidate timed, the fastest marked; the profile is unchanged by it', async () => {
    await options.click('[data-webq=calibrate]');
    await expect
      .poll(() => options.textContent('[data-webq=calibrate-status]'), { timeout: 120_000 })
      .toMatch(/^Calibrated: GEMV workgroup \d+×\d+×1/);
    const rows = await options.$$eval('[data-webq=calibration] tbody tr', (trs) =>
      trs.map((tr) => ({ chosen: tr.getAttribute('data-chosen'), ms: Number(tr.children[2]!.textContent) })),
    );
    expect(rows.length).toBeGreaterThanOrEqual(7); // the emulated adapter's short list: 4 GEMV + 3 GEMM
    expect(rows.filter((r) => r.chosen === 'true')).toHaveLength(2); // one GEMV, one GEMM
    expect(rows.every((r) => r.ms > 0)).toBe(true);
    await options.screenshot({ path: `${SHOTS}/options-calibrate.png`, fullPage: true });
    // Nothing uses the result yet, so no profile carries it: not the popup's, not a page's (for a page it would be
    // a global, timed value, a cross-site identifier: SPEC §3).
    await popup.reload();
    await expect
      .poll(() => popup.textContent('[data-webq=device-summary]'), { timeout: 30_000 })
      .toMatch(/Profile\s*chrome-webgpu\+emulated-gpu:/);
    const page = await openWithConsent(chromium.context, `${server.origin}/page.html`);
    const caps = await page.evaluate(() => (window as any).webq.capabilities());
    expect(caps.profile).not.toHaveProperty('calibration');
    expect(caps.profile.name).toBe('chrome-webgpu+emulated-gpu');
    await page.close();
  });

  it('keeps the consent table the existing test drives', async () => {
    expect(await options.locator('[data-webq=origins]').count()).toBe(1);
    expect(await options.isVisible('[data-webq=origins-empty]')).toBe(true);
  });
});

/** A 16-bit PCM WAV file of one channel. */
function wav(samples: Float32Array, sampleRate: number): Buffer {
  const out = Buffer.alloc(44 + samples.length * 2);
  out.write('RIFF', 0, 'ascii');
  out.writeUInt32LE(36 + samples.length * 2, 4);
  out.write('WAVEfmt ', 8, 'ascii');
  out.writeUInt32LE(16, 16); // fmt chunk size
  out.writeUInt16LE(1, 20); // PCM
  out.writeUInt16LE(1, 22); // channels
  out.writeUInt32LE(sampleRate, 24);
  out.writeUInt32LE(sampleRate * 2, 28);
  out.writeUInt16LE(2, 32); // block align
  out.writeUInt16LE(16, 34); // bits per sample
  out.write('data', 36, 'ascii');
  out.writeUInt32LE(samples.length * 2, 40);
  samples.forEach((x, i) => out.writeInt16LE(Math.round(Math.max(-1, Math.min(1, x)) * 32767), 44 + 2 * i));
  return out;
}

describe('popup: task models by registry id (Chromium)', () => {
  const PREFIX = '/hub';

  beforeAll(async () => {
    mirrorRepo(server, PREFIX, 'Xenova/bert-base-uncased', bertHubFiles());
    mirrorRepo(server, PREFIX, 'Xenova/vit-base-patch16-224', vitHubFiles());
    mirrorRepo(server, PREFIX, 'Xenova/whisper-tiny', whisperHubFiles());
    mirrorRepo(server, PREFIX, 'Xenova/t5-small', t5HubFiles());
    mirrorRepo(server, PREFIX, 'Xenova/clip-vit-base-patch32', clipHubFiles());
    mirrorRepo(server, PREFIX, 'Xenova/wav2vec2-base-960h', wav2vec2HubFiles());
    const options = await chromium.context.newPage();
    await options.goto(extensionUrl('options/options.html'));
    await saveModelHost(options, `${server.origin}${PREFIX}`);
    await options.close();
    await popup.reload();
    await popup.bringToFront(); // the options page opened after it: a tab in the background draws no frames to capture
  });

  /** Picks a registry id from the list, loads it at the form's settings, and waits for its report. */
  async function loadId(id: string): Promise<void> {
    await popup.selectOption('[data-webq=registry-model]', id);
    expect(await popup.inputValue('[data-webq=model-url]')).toBe(id);
    await popup.click('[data-webq=load]');
    await appears('[data-webq=model-summary]', 60_000);
  }

  it("bert-base-uncased on two lines of text: a 2×64 embedding summary, at the profile's default precision", async () => {
    await popup.selectOption('[data-webq=registry-model]', 'bert-base-uncased');
    expect(await popup.inputValue('[data-webq=bits]')).toBe(''); // profile default for a registry id…
    expect(await popup.isDisabled('[data-webq=task]')).toBe(true); // …whose task is the registry's
    expect(await popup.inputValue('[data-webq=task]')).toBe('feature-extraction');
    expect(await popup.textContent('[data-webq=registry-description]')).toMatch(/BERT base/);
    await loadId('bert-base-uncased');
    expect(await popup.textContent('[data-webq=model-summary]')).toMatch(/Task\s*feature-extraction/);
    await popup.fill('[data-webq=task-text]', `${BERT_EXAMPLES.example.text}\n${BERT_EXAMPLES.fox.text}\n`);
    await popup.click('[data-webq=run]');
    await appears('[data-webq=embedding-summary]', 60_000);
    const summary = popup.locator('[data-webq=embedding-summary]');
    expect(await summary.getAttribute('data-dims')).toBe('2x64');
    expect(await summary.textContent()).toMatch(/Embeddings\s*2 × 64/);
    const tokens = await summary
      .locator('[data-tokens]')
      .evaluateAll((tds) => tds.map((td) => Number((td as HTMLElement).dataset.tokens)));
    expect(tokens).toEqual([BERT_EXAMPLES.example.ids.length, BERT_EXAMPLES.fox.ids.length]);
    const norms = await summary
      .locator('[data-norm]')
      .evaluateAll((tds) => tds.map((td) => Number((td as HTMLElement).dataset.norm)));
    norms.forEach((n) => expect(n).toBeGreaterThan(0));
    expect(await popup.textContent('[data-webq=metrics] [data-metric=bits]')).toBe('4-bit symmetric, mixed precision');
    await popup.locator('[data-webq=result]').scrollIntoViewIfNeeded();
    await popup.screenshot({ path: `${SHOTS}/popup-bert.png`, fullPage: true });

    // normalize: each embedding has unit length.
    await popup.check('[data-webq=task-normalize]');
    await popup.click('[data-webq=run]');
    await expect
      .poll(
        () =>
          summary
            .locator('[data-norm]')
            .evaluateAll((tds) => tds.map((td) => Number((td as HTMLElement).dataset.norm))),
        { timeout: 30_000 },
      )
      .toEqual([expect.closeTo(1, 5), expect.closeTo(1, 5)]);
    await popup.uncheck('[data-webq=task-normalize]');
  });

  it('a registry id at fp32 can be chosen; compare fp32 with 4-bit shows a cosine per input and the chart', async () => {
    await popup.selectOption('[data-webq=bits]', '32');
    await popup.click('[data-webq=load]'); // loading the same id again keeps the text typed
    await expect
      .poll(() => popup.textContent('[data-webq=model-summary]'), { timeout: 60_000 })
      .toMatch(/Weights\s*fp32/);
    expect(await popup.inputValue('[data-webq=task-text]')).toContain(BERT_EXAMPLES.fox.text);
    await popup.click('[data-webq=run]');
    await expect
      .poll(() => popup.textContent('[data-webq=metrics] [data-metric=bits]'), { timeout: 60_000 })
      .toBe('fp32');
    expect(await popup.textContent('[data-webq=metrics] [data-metric=reduction]')).toBe('0.0%');

    await popup.selectOption('[data-webq=compare-a]', '32');
    await popup.selectOption('[data-webq=compare-b]', '4');
    await popup.click('[data-webq=compare-run]');
    await appears('[data-webq=agreement]', 120_000);
    const cosines = await popup
      .locator('[data-webq=agreement] [data-cos]')
      .evaluateAll((tds) => tds.map((td) => Number((td as HTMLElement).dataset.cos)));
    expect(cosines).toHaveLength(2);
    for (const c of cosines) {
      expect(c).toBeGreaterThan(0.9);
      expect(c).toBeLessThanOrEqual(1 + 1e-6);
    }
    expect(await popup.locator('[data-webq=agreement] tbody th').first().textContent()).toBe(
      BERT_EXAMPLES.example.text,
    );
    const size = await popup.locator('[data-webq=compare-table] tr[data-measure=size] td').allTextContents();
    expect(size[0]).not.toBe(size[1]);
    const chart = popup.locator('[data-webq=compare-result] svg[role=img]');
    expect(await chart.getAttribute('aria-label')).toMatch(/Inference: fp32 .*, 4-bit .*; Model bytes: fp32 .*, 4-bit/);
    await popup.locator('[data-webq=compare-result]').scrollIntoViewIfNeeded();
    await popup.screenshot({ path: `${SHOTS}/popup-compare-bert.png`, fullPage: true });
  });

  it('a custom URL with a task sends { url, task }: the feature-extraction pipeline on the graph, weights as stored', async () => {
    const url = `${server.origin}${PREFIX}/Xenova/bert-base-uncased/resolve/main/onnx/model.onnx`;
    await popup.fill('[data-webq=model-url]', url);
    expect(await popup.inputValue('[data-webq=registry-model]')).toBe('');
    expect(await popup.isDisabled('[data-webq=task]')).toBe(false);
    await popup.selectOption('[data-webq=task]', 'feature-extraction');
    expect(await popup.textContent('[data-webq=model-kind]')).toMatch(/URL with task feature-extraction/);
    await popup.selectOption('[data-webq=bits]', '');
    await popup.click('[data-webq=load]');
    await appears('[data-webq=task-text]', 60_000);
    expect(await popup.textContent('[data-webq=model-summary]')).toMatch(/Task\s*feature-extraction/);
    await popup.fill('[data-webq=task-text]', BERT_EXAMPLES.unknown.text);
    await popup.click('[data-webq=run]');
    await appears('[data-webq=embedding-summary]', 60_000);
    expect(await popup.getAttribute('[data-webq=embedding-summary]', 'data-dims')).toBe('1x64');
    expect(await popup.getAttribute('[data-webq=embedding-summary] [data-tokens]', 'data-tokens')).toBe(
      String(BERT_EXAMPLES.unknown.ids.length),
    );
    expect(await popup.textContent('[data-webq=metrics] [data-metric=bits]')).toBe('fp32'); // a URL runs as stored
    // Back to a raw model: no task, so the popup offers tensor editors again.
    await popup.selectOption('[data-webq=task]', '');
    await popup.click('[data-webq=load]');
    await appears('fieldset[data-input="input_ids"]', 60_000);
  });

  it('vit-base-patch16-224, typed as an id, on a red PNG file: the top label is red', async () => {
    // The PNG is drawn in a page canvas and taken as bytes.
    const png = Buffer.from(
      await popup.evaluate(() => {
        const c = document.createElement('canvas');
        c.width = 40;
        c.height = 30;
        const g = c.getContext('2d')!;
        g.fillStyle = '#ff0000';
        g.fillRect(0, 0, 40, 30);
        return c.toDataURL('image/png').split(',')[1]!;
      }),
      'base64',
    );
    expect(png.subarray(1, 4).toString('ascii')).toBe('PNG');
    await popup.fill('[data-webq=model-url]', 'vit-base-patch16-224');
    expect(await popup.inputValue('[data-webq=registry-model]')).toBe('vit-base-patch16-224');
    expect(await popup.inputValue('[data-webq=task]')).toBe('image-classification');
    expect(await popup.locator('[data-webq=embedding-summary], [data-webq=agreement]').count()).toBe(0); // bert's results are gone
    await popup.selectOption('[data-webq=bits]', '');
    await popup.click('[data-webq=load]');
    await appears('[data-webq=task-image]', 60_000);
    await popup.setInputFiles('[data-webq=task-image]', { name: 'red.png', mimeType: 'image/png', buffer: png });
    await appears('[data-webq=task-image-preview] img[alt="Preview of red.png"]', 5_000);
    await popup.fill('[data-webq=task-topk]', '3');
    await popup.click('[data-webq=run]');
    await appears('[data-webq=labels]', 60_000);
    const rows = popup.locator('[data-webq=labels] tbody tr');
    expect(await rows.count()).toBe(3);
    expect(await rows.first().getAttribute('data-label')).toBe('red');
    expect(await popup.textContent('[data-webq=labels] caption')).toBe('Labels for red.png');
    const first = await rows.first().locator('td').allTextContents();
    expect(first[1]).toMatch(/^\d+\.\d%$/);
    expect(await popup.textContent('[data-webq=metrics] [data-metric=bits]')).toBe('8-bit symmetric, mixed precision'); // the vision default
    await popup.locator('[data-webq=result]').scrollIntoViewIfNeeded();
    await popup.screenshot({ path: `${SHOTS}/popup-vit.png`, fullPage: true });

    // Compare the profile's default with fp32: the same top label, and by how much its score moved.
    await popup.selectOption('[data-webq=compare-a]', '');
    await popup.selectOption('[data-webq=compare-b]', '32');
    await popup.click('[data-webq=compare-run]');
    await appears('[data-webq=agreement][data-kind=labels]', 120_000);
    expect(await popup.getAttribute('[data-webq=agreement] [data-same]', 'data-same')).toBe('true');
    expect(Number(await popup.getAttribute('[data-webq=agreement] [data-delta]', 'data-delta'))).toBeLessThan(0.05);
    expect(await popup.locator('[data-webq=compare-table] thead th').allTextContents()).toEqual([
      'Measure',
      'profile default (8-bit)',
      'fp32',
    ]);
  });

  it('whisper-tiny on a WAV file (decoded by the browser): the transcript, in the language asked for', async () => {
    await loadId('whisper-tiny');
    await popup.setInputFiles('[data-webq=task-audio]', {
      name: 'high.wav',
      mimeType: 'audio/wav',
      buffer: wav(whisperTestAudio('high', 22050), 22050),
    });
    await expect
      .poll(() => popup.textContent('[data-webq=task-audio-status]'), { timeout: 10_000 })
      .toMatch(/^high\.wav: 1\.00 s at \d+ Hz, mono\.$/);
    expect(await popup.isVisible('[data-webq=task-audio-preview]')).toBe(true);
    await popup.click('[data-webq=run]');
    await appears('[data-webq=transcript]', 120_000);
    expect(await popup.textContent('[data-webq=transcript]')).toBe(WHISPER_TEXTS.en.high);
    await popup.fill('[data-webq=task-language]', 'de');
    await popup.click('[data-webq=run]');
    await expect
      .poll(() => popup.textContent('[data-webq=transcript]'), { timeout: 60_000 })
      .toBe(WHISPER_TEXTS.de.high);
    // timestamps: the segment with its time (the 1 s whistle ends with the audio).
    await popup.check('[data-webq=task-timestamps]');
    await popup.click('[data-webq=run]');
    await appears('[data-webq=transcript-chunks]', 60_000);
    expect(await popup.textContent('[data-webq=transcript-chunks]')).toMatch(
      new RegExp(`^0\\.00 s – (0\\.9[6-9]|1\\.00) s ${WHISPER_TEXTS.de.high.replace('.', '\\.')}$`),
    );
    // translate: German asked for, Whisper says the English text.
    await popup.uncheck('[data-webq=task-timestamps]');
    await popup.check('[data-webq=task-translate]');
    await popup.click('[data-webq=run]');
    await expect
      .poll(() => popup.textContent('[data-webq=transcript]'), { timeout: 60_000 })
      .toBe(WHISPER_TEXTS.en.high);
    await popup.locator('[data-webq=result]').scrollIntoViewIfNeeded();
    await popup.screenshot({ path: `${SHOTS}/popup-whisper.png`, fullPage: true });
    await popup.uncheck('[data-webq=task-translate]');
  });

  it("the microphone (Chromium's fake device): records, stops on request, decodes, and transcribes", async () => {
    await popup.fill('[data-webq=task-language]', ''); // back to the model's default
    const mic = popup.locator('[data-webq=task-mic]');
    await mic.click();
    await expect.poll(() => mic.getAttribute('aria-pressed'), { timeout: 10_000 }).toBe('true');
    expect(await mic.textContent()).toBe('Stop recording');
    await expect
      .poll(() => popup.textContent('[data-webq=task-audio-status]'), { timeout: 10_000 })
      .toMatch(/^Recording: [1-4]\.\d s of 5 s/);
    await popup.screenshot({ path: `${SHOTS}/popup-mic-recording.png` });
    await mic.click(); // stop early
    await expect
      .poll(() => popup.textContent('[data-webq=task-audio-status]'), { timeout: 10_000 })
      .toMatch(/^Microphone recording: \d\.\d\d s at \d+ Hz/);
    expect(await mic.getAttribute('aria-pressed')).toBe('false');
    const seconds = Number(await popup.getAttribute('[data-webq=task-audio-status]', 'data-seconds'));
    expect(seconds).toBeGreaterThan(0.5);
    expect(seconds).toBeLessThan(5);
    const before = await popup.$('[data-webq=transcript]'); // the WAV's transcript, until this run replaces it
    await popup.click('[data-webq=run]');
    await popup.waitForFunction((e) => !e?.isConnected, before, { timeout: 60_000 });
    await appears('[data-webq=transcript]', 60_000);
    expect(Object.values(WHISPER_TEXTS.en)).toContain(await popup.textContent('[data-webq=transcript]'));
    await popup.locator('[data-webq=result]').scrollIntoViewIfNeeded();
    await popup.screenshot({ path: `${SHOTS}/popup-mic.png`, fullPage: true });
  });

  it('t5-small on a typed prompt: its text, and maxNewTokens honoured', async () => {
    const { input, text } = T5_EXAMPLES.colours;
    await loadId('t5-small');
    expect(await popup.inputValue('[data-webq=task]')).toBe('text2text-generation');
    await popup.fill('[data-webq=task-prompt]', input);
    await popup.click('[data-webq=run]');
    await appears('[data-webq=transcript]', 60_000);
    expect(await popup.textContent('[data-webq=transcript]')).toBe(text);
    await popup.fill('[data-webq=task-max-new-tokens]', '1');
    await popup.click('[data-webq=run]');
    await expect.poll(() => popup.textContent('[data-webq=transcript]'), { timeout: 60_000 }).toBe(text.split(' ')[0]);
  });

  it('clip-vit-base-patch32: zero-shot labels from typed candidates on a PNG, then its second task, an embedding', async () => {
    const png = Buffer.from(
      await popup.evaluate(() => {
        const c = document.createElement('canvas');
        c.width = c.height = 32;
        const g = c.getContext('2d')!;
        g.fillStyle = '#800080'; // purple: magenta, then blue, for the generated CLIP (registry-suite.ts)
        g.fillRect(0, 0, 32, 32);
        return c.toDataURL('image/png').split(',')[1]!;
      }),
      'base64',
    );
    await loadId('clip-vit-base-patch32');
    expect(await popup.inputValue('[data-webq=task]')).toBe('zero-shot-image-classification');
    expect(await popup.isDisabled('[data-webq=task]')).toBe(false); // the entry serves two tasks
    await popup.setInputFiles('[data-webq=task-image]', { name: 'purple.png', mimeType: 'image/png', buffer: png });
    await popup.fill('[data-webq=task-labels]', 'red, blue, magenta, cat');
    await popup.click('[data-webq=run]');
    await appears('[data-webq=labels]', 60_000);
    const rows = popup.locator('[data-webq=labels] tbody tr');
    expect(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-label')))).toEqual([
      'magenta',
      'blue',
      expect.any(String),
      expect.any(String),
    ]);
    await popup.selectOption('[data-webq=task]', 'image-feature-extraction');
    await popup.click('[data-webq=load]');
    await expect
      .poll(() => popup.textContent('[data-webq=model-summary]'), { timeout: 60_000 })
      .toMatch(/Task\s*image-feature-extraction/);
    await popup.setInputFiles('[data-webq=task-image]', { name: 'purple.png', mimeType: 'image/png', buffer: png });
    await popup.click('[data-webq=run]');
    await appears('[data-webq=embedding-summary]', 60_000);
    expect(await popup.getAttribute('[data-webq=embedding-summary]', 'data-dims')).toBe(`1x${CLIP_PROJECTION}`);
  });

  it("wav2vec2-base-960h on a WAV file: the CTC transcript, without Whisper's options", async () => {
    await loadId('wav2vec2-base-960h');
    expect(await popup.inputValue('[data-webq=task]')).toBe('automatic-speech-recognition');
    expect(await popup.isVisible('[data-webq=task-language]')).toBe(false); // CTC takes no language
    await popup.setInputFiles('[data-webq=task-audio]', {
      name: 'hello.wav',
      mimeType: 'audio/wav',
      buffer: wav(wav2vec2TestAudio(WAV2VEC2_TEXTS.hello, 22050), 22050),
    });
    await popup.click('[data-webq=run]');
    await expect
      .poll(() => popup.textContent('[data-webq=transcript]'), { timeout: 60_000 })
      .toBe(WAV2VEC2_TEXTS.hello);
  });
});

describe('Firefox smoke', () => {
  it('popup shows the device and runs PP-OCR rec; options lists the cached model', async () => {
    const firefox = await launchFirefox();
    try {
      // The moz-extension origin is random per profile: learn it from the permission prompt the extension opens.
      const page = await firefox.browser.newPage();
      await page.goto(`${server.origin}/page.html`);
      await page.waitForFunction(() => 'webq' in window, { timeout: 30_000 });
      await userGesture(page); // a prompt opens only for a call made with user activation
      const asked = page
        .evaluate(() =>
          (window as any).webq.capabilities().then(
            () => 'ok',
            (e: Error) => e.name,
          ),
        )
        .catch(() => 'closed');
      const prompt = await findFirefoxPage(firefox.browser, '/prompt.html');
      expect(await prompt.evaluate(() => location.origin)).toMatch(/^moz-extension:\/\//);
      // WebDriver BiDi may not navigate to moz-extension URLs, but the extension's own page may open its pages.
      await prompt.evaluate(async () => {
        const api = (globalThis as any).browser;
        await api.tabs.create({ url: '/popup/popup.html' });
        await api.tabs.create({ url: '/options/options.html' });
      });
      await clickPromptFirefox(prompt, 'allow');
      expect(await asked).toBe('ok');

      const p = await findFirefoxPage(firefox.browser, '/popup/popup.html');
      await p.setViewport({ width: 800, height: 600 });
      await p.waitForSelector('[data-webq=device-summary]', { timeout: 30_000 });
      const device = await p.$eval('[data-webq=device-summary]', (e) => e.textContent ?? '');
      expect(device).toMatch(/Browser\s*firefox \d+/);
      expect(device).toMatch(/Profile\s*firefox-webgpu/);
      await p.type('[data-webq=model-url]', model());
      await p.select('[data-webq=backend]', 'wasm');
      await p.click('[data-webq=load]');
      await p.waitForSelector('[data-webq=model-summary]', { timeout: 60_000 });
      await p.click('[data-webq=run]');
      await p.waitForSelector('[data-webq=metrics]', { timeout: 60_000 });
      expect(await p.$eval('[data-metric=backend]', (e) => e.textContent)).toBe('wasm');
      expect(await p.$eval('[data-webq=outputs] tr[data-output="softmax_11.tmp_0"] td', (e) => e.textContent)).toBe(
        'float32 [1×1×6625]',
      );
      await p.screenshot({ path: `${SHOTS}/firefox-popup-run.png`, fullPage: true });

      const o = await findFirefoxPage(firefox.browser, '/options/options.html');
      await o.setViewport({ width: 1000, height: 800 });
      await o.click('[data-webq=cache-refresh]'); // it opened before the model was cached
      await o.waitForSelector(`[data-webq=cache] tr[data-source="${model()}"][data-variant=src]`, { timeout: 10_000 });
      await o.screenshot({ path: `${SHOTS}/firefox-options.png`, fullPage: true });
    } finally {
      await firefox.close();
    }
  });
});
