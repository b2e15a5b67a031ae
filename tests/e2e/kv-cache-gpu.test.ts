/**
 * The KV cache on the GPU, for real: the engine host in a plain page (tests/harness) in Debian's Chromium with
 * WebGPU on SwiftShader, running the generated Llama and Qwen2 from their URLs with onnxruntime-web's WebGPU EP.
 * The harness counts the GPU tensors ORT handed the engine and the engine has not disposed
 * (`webqHarness.liveDeviceTensors()`), so these tests see what GPU memory the decode loop holds: one cache per live
 * cache, not one per step. Greedy tokens on WebGPU are checked against wasm and onnxruntime-node, and the bytes of
 * GPU outputs read back (`webqHarness.gpuOutputBytesRead()`) show that a greedy step reads no logits, and that a
 * Whisper or T5 decoder step reads back none of its cache (Whisper's two decoders and its merged decoder, T5's two).
 *
 * Run: npx vitest run --project e2e tests/e2e/kv-cache-gpu.test.ts   (rebuilds dist/harness first)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chromium, type Browser, type Page } from 'playwright-core';
import { textGeneration } from '../../extension/tasks/generation';
import type { TaskPipeline } from '../../extension/tasks/types';
import { CHROMIUM_GPU_ARGS, CHROMIUM_PATH } from '../../tools/browsers';
import { harnessRoutes } from '../../tools/harness';
import { mirrorRepo } from '../../tools/hub-mirror';
import { llamaHubFiles } from '../../tools/hub-models/llama';
import { qwen2HubFiles } from '../../tools/hub-models/qwen2';
import { T5_EXAMPLES, t5HubFiles } from '../../tools/hub-models/t5';
import {
  WHISPER_TEXTS,
  whisperHubFiles,
  whisperMergedHubFiles,
  whisperTestAudio,
} from '../../tools/hub-models/whisper';
import { runPipeline, type HubFiles } from '../support/node-pipeline';
import { startServer, type TestServer } from '../../tools/server';

type Json = any; // what page.evaluate hands back

const MESSAGES = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Name a colour.' },
];
const MODELS: Record<string, { repo: string; files: HubFiles }> = {
  llama: { repo: 'onnx-community/Llama-3.2-1B-Instruct', files: llamaHubFiles() },
  qwen2: { repo: 'onnx-community/Qwen2.5-0.5B-Instruct', files: qwen2HubFiles() },
};

let server: TestServer;
let browser: Browser;
let page: Page;

const modelUrl = (name: string) => `${server.origin}/hub/${MODELS[name]!.repo}/resolve/main/onnx/model.onnx` as const;
/** present.* outputs of one step: two per layer. */
const cacheSet = (name: string) =>
  2 * Number(JSON.parse(MODELS[name]!.files['config.json'] as string).num_hidden_layers);
const live = () => page.evaluate(() => (window as any).webqHarness.liveDeviceTensors() as number);
/** Bytes of GPU-resident outputs ORT read back for the engine (logits where the loop did not keep them). */
const bytesRead = () => page.evaluate(() => (window as any).webqHarness.gpuOutputBytesRead() as number);

beforeAll(async () => {
  execFileSync('npx', ['vite', 'build', '--mode', 'harness', '--logLevel', 'warn'], { stdio: 'inherit' });
  server = await startServer(harnessRoutes());
  for (const { repo, files } of Object.values(MODELS)) mirrorRepo(server, '/hub', repo, files);
  browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: ['--no-sandbox', ...CHROMIUM_GPU_ARGS] });
  page = await browser.newPage();
  await page.goto(`${server.origin}/`);
  await page.waitForFunction(() => 'webq' in window, undefined, { timeout: 30_000 });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

/** A stream read in the page, with the live GPU tensor count after each chunk; `cancelAfter` chunks, then cancel. */
function streamInPage(url: string, options: Record<string, unknown>, cancelAfter = 1e9) {
  return page.evaluate(
    async ({ url, options, cancelAfter }) => {
      const w = window as any;
      const s = w.webq.stream({ url, task: 'text-generation' }, 'Once upon a time', options);
      const reader = s.getReader();
      const chunks: string[] = [];
      const counts: number[] = [];
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        counts.push(w.webqHarness.liveDeviceTensors());
        if (chunks.length >= cancelAfter) {
          await reader.cancel();
          break;
        }
      }
      const result = await s.result.then(
        (r: any) => ({ ok: true, output: r.output, backend: r.performanceMetrics.backend }),
        (e: Error) => ({ ok: false, name: e.name, message: e.message }),
      );
      return { chunks, counts, result };
    },
    { url, options, cancelAfter },
  ) as Promise<Json>;
}

const run = (url: string, input: unknown, options: Record<string, unknown>) =>
  page.evaluate(
    ({ url, input, options }) =>
      (window as any).webq.run({ url, task: 'text-generation' }, input, options).then(
        (r: any) => ({ ok: true, output: r.output, backend: r.performanceMetrics.backend }),
        (e: Error) => ({ ok: false, name: e.name, message: e.message }),
      ),
    { url, input, options },
  ) as Promise<Json>;

describe('KV cache on the GPU (onnxruntime-web WebGPU EP, SwiftShader)', () => {
  for (const name of Object.keys(MODELS)) {
    it(`${name}: greedy tokens with the cache on the GPU equal wasm's and onnxruntime-node's; nothing is left held`, async () => {
      const url = modelUrl(name);
      const before = await bytesRead();
      const gpu = await run(url, { messages: MESSAGES }, { backend: 'webgpu', maxNewTokens: 12 });
      expect(gpu.ok, gpu.message).toBe(true);
      expect(gpu.backend).toBe('webgpu');
      expect(await live()).toBe(0);
      // Greedy: the graph's next-token head gives the token; no logits row came back (ArgMax ran in the graph).
      expect(await bytesRead()).toBe(before);
      // Sampling reads the logits: one row per step comes back (the prompt's logits at the prefill).
      const sampled = await run(
        url,
        { messages: MESSAGES },
        { backend: 'webgpu', maxNewTokens: 3, temperature: 0.7, seed: 1 },
      );
      expect(sampled.ok, sampled.message).toBe(true);
      const vocab = Number(JSON.parse(MODELS[name]!.files['config.json'] as string).vocab_size);
      expect(await bytesRead()).toBeGreaterThanOrEqual(before + 3 * 4 * vocab);
      expect(await live()).toBe(0);
      const wasm = await run(url, { messages: MESSAGES }, { backend: 'wasm', maxNewTokens: 12 });
      expect(wasm.ok, wasm.message).toBe(true);
      const reference = await runPipeline(
        textGeneration as unknown as TaskPipeline,
        MODELS[name]!.files,
        { kind: 'messages', messages: MESSAGES as never },
        { maxNewTokens: 12 },
      );
      expect(gpu.output.tokens).toHaveLength(12);
      expect(gpu.output.tokens).toEqual((reference.output as Json).tokens);
      expect(wasm.output.tokens).toEqual(gpu.output.tokens);
      expect(gpu.output.text).toBe(wasm.output.text);
    }, 180_000);
  }

  it('GPU tensors held do not grow with the steps: one cache set between tokens, freed at the end', async () => {
    const { chunks, counts, result } = await streamInPage(modelUrl('llama'), { backend: 'webgpu', maxNewTokens: 16 });
    expect(result.ok, result.message).toBe(true);
    expect(result.backend).toBe('webgpu');
    expect(chunks.length).toBeGreaterThan(4);
    // Between steps the loop holds exactly the last presents; without dispose() the count grows by a set per token.
    const set = cacheSet('llama');
    expect(Math.max(...counts)).toBeLessThanOrEqual(2 * set);
    expect(counts.at(-1)).toBe(counts[1]);
    expect(await live()).toBe(0);
  }, 180_000);

  it('cancelling a stream mid-generation frees its GPU cache, and the engine serves the next run', async () => {
    const { chunks, result } = await streamInPage(modelUrl('llama'), { backend: 'webgpu', maxNewTokens: 200 }, 2);
    expect(chunks).toHaveLength(2);
    expect(result).toMatchObject({ ok: false, name: 'AbortError' });
    await expect.poll(live, { timeout: 20_000 }).toBe(0);
    const next = await run(modelUrl('llama'), 'Hello', { backend: 'webgpu', maxNewTokens: 2 });
    expect(next.ok, next.message).toBe(true);
    expect(await live()).toBe(0);
  }, 180_000);

  it('LanguageModel on WebGPU: interleaved sessions keep their own caches; clone copies; destroy frees', async () => {
    const url = modelUrl('qwen2');
    const r: Json = await page.evaluate(
      async ({ url }) => {
        const w = window as any;
        const LM = w.webq.LanguageModel;
        const create = (backend: string) =>
          LM.create({
            model: { url, task: 'text-generation' },
            backend,
            maxNewTokens: 5,
            initialPrompts: [{ role: 'system', content: 'You are terse.' }],
          });
        const counts: Record<string, number> = {};
        const a = await create('webgpu');
        const b = await create('webgpu');
        const a1 = await a.prompt('Name a colour.');
        counts.afterA1 = w.webqHarness.liveDeviceTensors();
        const b1 = await b.prompt('Name an animal.');
        const a2 = await a.prompt('And another?');
        const b2 = await b.prompt('And another?');
        counts.twoSessions = w.webqHarness.liveDeviceTensors();
        const c = await a.clone();
        counts.withClone = w.webqHarness.liveDeviceTensors();
        a.destroy();
        b.destroy();
        await new Promise((resolve) => setTimeout(resolve, 100)); // destroy is a message to the engine
        counts.cloneOnly = w.webqHarness.liveDeviceTensors();
        const c3 = await c.prompt('One more?');
        c.destroy();
        await new Promise((resolve) => setTimeout(resolve, 100));
        counts.none = w.webqHarness.liveDeviceTensors();
        // The same conversations on wasm (CPU cache), one after the other.
        const wa = await create('wasm');
        const wb = await create('wasm');
        const wasm = {
          a1: await wa.prompt('Name a colour.'),
          a2: await wa.prompt('And another?'),
          b1: await wb.prompt('Name an animal.'),
          b2: await wb.prompt('And another?'),
          c3: await wa.prompt('One more?'),
        };
        wa.destroy();
        wb.destroy();
        return { gpu: { a1, a2, b1, b2, c3 }, wasm, counts };
      },
      { url },
    );
    expect(r.gpu).toEqual(r.wasm);
    expect(r.gpu.a1).not.toBe(r.gpu.b1); // different conversations, so a mixed cache would show
    const set = cacheSet('qwen2');
    expect(r.counts).toEqual({ afterA1: set, twoSessions: 2 * set, withClone: 3 * set, cloneOnly: set, none: 0 });
  }, 240_000);
});

describe("encoder-decoder caches on the GPU (Whisper's two and merged decoders, T5)", () => {
  type Case = { repo: string; graph: string; files: () => HubFiles; task: string; input: unknown; text: string };
  const speech = { $audio: Array.from(whisperTestAudio('low', 16000)), sampleRate: 16000 };
  const CASES: Record<string, Case> = {
    'Whisper, two decoders': {
      repo: 'Xenova/whisper-tiny',
      graph: 'encoder_model.onnx',
      files: () => whisperHubFiles(),
      task: 'automatic-speech-recognition',
      input: speech,
      text: WHISPER_TEXTS.de.low,
    },
    'Whisper, the merged decoder (Optimum placeholders in its with-past branch)': {
      repo: 'webq-test/whisper-merged',
      graph: 'decoder_model_merged.onnx',
      files: () => whisperMergedHubFiles(),
      task: 'automatic-speech-recognition',
      input: speech,
      text: WHISPER_TEXTS.de.low,
    },
    'T5 (text2text-generation)': {
      repo: 'Xenova/t5-small',
      graph: 'encoder_model.onnx',
      files: () => t5HubFiles(),
      task: 'text2text-generation',
      input: T5_EXAMPLES.animals.input,
      text: T5_EXAMPLES.animals.text,
    },
  };
  beforeAll(() => {
    for (const c of Object.values(CASES)) mirrorRepo(server, '/hub', c.repo, c.files());
  });

  const runModel = (c: Case, backend: string) =>
    page.evaluate(
      ({ url, task, input, backend }) => {
        const x = input as any;
        const decoded = x?.$audio ? { audio: Float32Array.from(x.$audio), sampleRate: x.sampleRate } : x;
        const language = task === 'automatic-speech-recognition' ? { language: 'de' } : {};
        return (window as any).webq.run({ url, task }, decoded, { backend, ...language }).then(
          (r: any) => ({ ok: true, text: r.output.text, backend: r.performanceMetrics.backend }),
          (e: Error) => ({ ok: false, name: e.name, message: e.message }),
        );
      },
      { url: `${server.origin}/hub/${c.repo}/resolve/main/onnx/${c.graph}`, task: c.task, input: c.input, backend },
    ) as Promise<Json>;

  for (const [name, c] of Object.entries(CASES)) {
    it(`${name}: wasm's text; a step reads back no cache (it stays on the GPU), and nothing is left held`, async () => {
      const before = await bytesRead();
      const gpu = await runModel(c, 'webgpu');
      expect(gpu.ok, gpu.message).toBe(true);
      expect(gpu.backend).toBe('webgpu');
      // Each step's presents stay on the GPU and go back in as the next past: none is downloaded.
      expect(await bytesRead()).toBe(before);
      expect(await live()).toBe(0);
      const wasm = await runModel(c, 'wasm');
      expect(wasm.ok, wasm.message).toBe(true);
      expect(gpu.text).toBe(c.text);
      expect(wasm.text).toBe(gpu.text);
    }, 180_000);
  }
});
