/**
 * Text generation through the page API (SPEC §8), in every browser: the two registry LLM ids from a mirror of the
 * model host (generated Llama- and Qwen2-shaped models with the real tokenizers and chat templates, GQA, a KV cache),
 * `run` with chat messages and with a string, `stream` (deltas, its result, cancel), sampling options, and a custom
 * `{ url, task: 'text-generation' }` model. Greedy tokens are checked against the same pipeline in Node on
 * onnxruntime-node with the same quantized bytes.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { prepareModel } from '../../extension/host/prepare';
import type { PrecisionPolicy } from '../../extension/onnx';
import { textGeneration } from '../../extension/tasks/generation';
import type { TaskPipeline } from '../../extension/tasks/types';
import { llamaHubFiles } from '../../tools/hub-models/llama';
import { llamaGqaHubFiles } from '../../tools/hub-models/llama-gqa';
import { qwen2HubFiles } from '../../tools/hub-models/qwen2';
import { mirrorRepo } from '../../tools/hub-mirror';
import { runPipeline } from '../support/node-pipeline';
import type { RegistryContext } from './registry-suite';

const PREFIX = '/hub';
const QWEN_REPO = 'onnx-community/Qwen2.5-0.5B-Instruct';
const LLAMA_REPO = 'onnx-community/Llama-3.2-1B-Instruct';
const Q4_REPO = 'test/Qwen2-q4';
/** A GroupQueryAttention Llama with a 96-token context window (so overflowing it is cheap). */
const GQA_REPO = 'webq-tests/Llama-GQA-tiny';
const GQA_WINDOW = 96;
/** The text profile's default for built-in models (extension/host/profile.ts): 4-bit, mixed precision. */
const TEXT_POLICY: PrecisionPolicy = {
  bits: 4,
  scheme: 'symmetric',
  groupSize: 128,
  mixedPrecision: true,
  attentionPrecision: 8,
  embeddingPrecision: 8,
  skipLayerNorm: true,
};
const MESSAGES = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Name a colour.' },
];

type Json = any; // what page.evaluate hands back

export function generationSuite(ctx: () => RegistryContext): void {
  // The mirror serves the real repos' layout (the graph with its weights in onnx/model.onnx_data); onnxruntime-node
  // runs the same graph from the single-file form of the same model (tests/unit/onnx/external-data.test.ts shows the
  // two compute the same).
  const qwen = qwen2HubFiles();
  const llama = llamaHubFiles();
  const qwenHub = qwen2HubFiles({ layout: 'external-data' });
  const llamaHub = llamaHubFiles({ layout: 'external-data' });
  /** A repo with a prequantized `onnx/model_q4.onnx` (MatMulNBits), as the hub's q4 exports. */
  const qwenQ4 = qwen2HubFiles({ layout: 'q4' });
  const gqa = llamaGqaHubFiles({ maxPositions: GQA_WINDOW });
  const gqaModel = () => ({
    url: `${ctx().server.origin}${PREFIX}/${GQA_REPO}/resolve/main/onnx/model.onnx`,
    task: 'text-generation',
  });
  /** Greedy output of the webq pipeline in Node on onnxruntime-node's CPU EP, on `graph` (the stored one if absent). */
  const nodeReference = async (input: unknown, options: Record<string, unknown>, graph?: Uint8Array) =>
    (
      await runPipeline(
        textGeneration as unknown as TaskPipeline,
        gqa,
        typeof input === 'string'
          ? { kind: 'text', text: [input], batched: false }
          : { kind: 'messages', messages: (input as { messages: never }).messages },
        options,
        graph ? { model: graph } : {},
      )
    ).output as Json;

  const run = (model: unknown, input: unknown, options: Record<string, unknown> = {}) =>
    ctx().page.evaluate(
      ({ model, input, options }) =>
        (window as any).webq.run(model, input, options).then(
          (r: any) => ({ ok: true, output: r.output, metrics: r.performanceMetrics }),
          (e: Error) => ({ ok: false, name: e.name, message: e.message }),
        ),
      { model, input, options },
    ) as Promise<Json>;

  /** Reads a stream in the page; `cancelAfter` chunks, then cancels it. */
  const stream = (model: unknown, input: unknown, options: Record<string, unknown>, cancelAfter = Infinity) =>
    ctx().page.evaluate(
      async ({ model, input, options, cancelAfter }) => {
        const s = (window as any).webq.stream(model, input, options);
        const reader = s.getReader();
        const chunks: string[] = [];
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          chunks.push(value);
          if (chunks.length >= cancelAfter) {
            await reader.cancel();
            break;
          }
        }
        const result = await s.result.then(
          (r: any) => ({ ok: true, output: r.output, metrics: r.performanceMetrics }),
          (e: Error) => ({ ok: false, name: e.name }),
        );
        return { chunks, result };
      },
      { model, input, options, cancelAfter: Number.isFinite(cancelAfter) ? cancelAfter : 1e9 },
    ) as Promise<Json>;

  beforeAll(async () => {
    mirrorRepo(ctx().server, PREFIX, QWEN_REPO, qwenHub);
    mirrorRepo(ctx().server, PREFIX, LLAMA_REPO, llamaHub);
    mirrorRepo(ctx().server, PREFIX, Q4_REPO, qwenQ4);
    mirrorRepo(ctx().server, PREFIX, GQA_REPO, gqa);
    await ctx().setModelHost(`${ctx().server.origin}${PREFIX}`);
  });

  describe('text generation (SPEC §8)', () => {
    it("qwen2.5-0.5b-instruct: chat messages → greedy text at the profile's 4 bits (quantized from its external data), the same tokens as onnxruntime-node", async () => {
      const r = await run('qwen2.5-0.5b-instruct', { messages: MESSAGES }, { maxNewTokens: 6 });
      expect(r.ok, r.message).toBe(true);
      expect(r.output.tokens).toHaveLength(6);
      expect(r.output).toMatchObject({ finishReason: 'length', usage: { completionTokens: 6 } });
      expect(r.output.usage.promptTokens).toBeGreaterThan(5);
      expect(r.metrics).toMatchObject({ quantizationBits: 4, mixedPrecision: true });
      for (const k of ['timeToFirstTokenMs', 'prefillTokensPerSecond', 'decodeTokensPerSecond'])
        expect(r.metrics[k], k).toBeGreaterThan(0);
      const quantized = prepareModel(qwen['onnx/model.onnx'] as Uint8Array, TEXT_POLICY).bytes;
      const reference = await runPipeline(
        textGeneration as unknown as TaskPipeline,
        qwen,
        { kind: 'messages', messages: MESSAGES as never },
        { maxNewTokens: 6 },
        { model: quantized },
      );
      expect(r.output.tokens).toEqual((reference.output as Json).tokens);
      expect(r.output.text).toBe((reference.output as Json).text);
    });

    it("llama-3.2-1b-instruct: stream() sends the text in deltas that add up to the result's text", async () => {
      const { chunks, result } = await stream('llama-3.2-1b-instruct', 'Once upon a time', { maxNewTokens: 8 });
      expect(result.ok).toBe(true);
      expect(chunks.length).toBeGreaterThan(1);
      expect(chunks.join('')).toBe(result.output.text);
      expect(chunks.every((c: string) => c.length > 0 && !c.includes('\uFFFD'))).toBe(true);
      expect(result.output.tokens).toHaveLength(8);
      expect(result.metrics.timeToFirstTokenMs).toBeGreaterThan(0);
    });

    it('cancelling a stream stops it (its result is an AbortError) and the engine serves the next run', async () => {
      const { chunks, result } = await stream('llama-3.2-1b-instruct', 'Once upon a time', { maxNewTokens: 200 }, 1);
      expect(chunks).toHaveLength(1);
      expect(result).toEqual({ ok: false, name: 'AbortError' });
      expect((await run('llama-3.2-1b-instruct', 'Hello', { maxNewTokens: 2 })).ok).toBe(true);
    });

    it('sampling is reproducible with a seed; sampling options are validated by name', async () => {
      const options = { maxNewTokens: 6, temperature: 1.5, topK: 50, topP: 0.95, seed: 7 };
      const a = await run('qwen2.5-0.5b-instruct', { messages: MESSAGES }, options);
      const b = await run('qwen2.5-0.5b-instruct', { messages: MESSAGES }, options);
      expect(a.ok, a.message).toBe(true);
      expect(b.output.tokens).toEqual(a.output.tokens);
      for (const [bad, name] of [
        [{ temperature: -1 }, 'temperature'],
        [{ topP: 2 }, 'topP'],
        [{ stop: [''] }, 'stop'],
        [{ maxNewTokens: 0 }, 'maxNewTokens'],
      ] as const) {
        expect(await run('qwen2.5-0.5b-instruct', 'hi', bad)).toMatchObject({
          ok: false,
          name: 'DataError',
          message: expect.stringContaining(name),
        });
      }
      expect(await run('qwen2.5-0.5b-instruct', { messages: [{ role: 'robot', content: 'x' }] })).toMatchObject({
        ok: false,
        name: 'DataError',
        message: expect.stringMatching(/role/),
      });
      expect(await run('bert-base-uncased', 'hi', { temperature: 1 })).toMatchObject({
        ok: false,
        name: 'DataError',
        message: expect.stringMatching(/temperature/),
      });
    });

    it('LanguageModel: availability, create with a monitor, prompts that continue the conversation as one-shot runs would', async () => {
      const r: Json = await ctx().page.evaluate(async () => {
        const LM = (window as any).webq.LanguageModel;
        const before = await LM.availability({ model: 'qwen2.5-0.5b-instruct' });
        const events: number[] = [];
        const session = await LM.create({
          model: 'qwen2.5-0.5b-instruct',
          initialPrompts: [{ role: 'system', content: 'You are terse.' }],
          maxNewTokens: 6,
          monitor: (m: EventTarget) => m.addEventListener('downloadprogress', (e: any) => events.push(e.loaded)),
        });
        const availability = [
          before,
          await LM.availability({ model: 'qwen2.5-0.5b-instruct' }),
          await LM.availability({ model: 'bert-base-uncased' }),
        ];
        const window0 = session.contextWindow;
        const first = await session.prompt('Name a colour.', {});
        const usage1 = session.contextUsage;
        const copy = await session.clone();
        const chunks: string[] = [];
        const reader = session.promptStreaming('And another?').getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          chunks.push(value);
        }
        const fromCopy = await copy.prompt('And another?');
        const measured = await session.measureContextUsage('One more.');
        session.destroy();
        const afterDestroy = await session.prompt('x').then(
          () => 'ok',
          (e: Error) => e.name,
        );
        return {
          availability,
          events,
          window0,
          first,
          usage1,
          usage2: session.contextUsage,
          second: chunks.join(''),
          chunks: chunks.length,
          fromCopy,
          measured,
          afterDestroy,
        };
      }, null);
      expect(['downloadable', 'available']).toContain(r.availability[0]); // other tests may have loaded it already
      expect(r.availability.slice(1)).toEqual(['available', 'unavailable']);
      expect(r.events[0]).toBe(0);
      expect(r.events.at(-1)).toBe(1);
      expect(r.window0).toBe(256); // the generated model's max_position_embeddings
      expect(r.usage1).toBeGreaterThan(10);
      expect(r.usage2).toBeGreaterThan(r.usage1);
      expect(r.second).toBe(r.fromCopy); // a clone continues the same conversation from the same cache
      expect(r.measured).toBeGreaterThan(0); // the rendered conversation grows by it (template-dependent)
      expect(r.afterDestroy).toBe('OperationError');
      // The session's second answer is what a one-shot run of the whole conversation gives (greedy, 6 tokens).
      const messages = [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Name a colour.' },
        { role: 'assistant', content: r.first },
        { role: 'user', content: 'And another?' },
      ];
      const oneShot = await run('qwen2.5-0.5b-instruct', { messages }, { maxNewTokens: 6 });
      expect(oneShot.ok, oneShot.message).toBe(true);
      expect(r.second).toBe(oneShot.output.text);
    });

    it("window.LanguageModel: off by default; the options page's switch offers webq's on pages opened after it", async () => {
      if (ctx().host === 'page') {
        // No options page and no content script for the page host: the site's own polyfillLanguageModel() offers
        // webq's on every page it runs on (the browsers here have no Prompt API of their own).
        const offered = await ctx().inNewPage(async () => {
          const w = window as any;
          return {
            offered: 'LanguageModel' in w && w.LanguageModel === w.webq.LanguageModel,
            availability: await w.LanguageModel?.availability({ model: 'qwen2.5-0.5b-instruct' }),
          };
        });
        expect(offered.offered).toBe(true);
        expect(['downloadable', 'available']).toContain(offered.availability);
        return;
      }
      const probe = async () => {
        const w = window as any;
        const offered = 'LanguageModel' in w && w.LanguageModel === w.webq.LanguageModel;
        return {
          has: 'LanguageModel' in w,
          offered,
          availability: offered ? await w.LanguageModel.availability({ model: 'qwen2.5-0.5b-instruct' }) : null,
        };
      };
      // The suite's browsers run without a Prompt API of their own (chromium.test.ts turns Chromium's off): a page
      // sees a LanguageModel only when webq offers one.
      expect(await ctx().inNewPage(probe)).toEqual({ has: false, offered: false, availability: null });
      await ctx().setLanguageModelGlobal(true);
      try {
        const on = await ctx().inNewPage(probe);
        expect(on).toMatchObject({ has: true, offered: true });
        expect(['downloadable', 'available']).toContain(on.availability);
      } finally {
        await ctx().setLanguageModelGlobal(false);
      }
      expect(await ctx().inNewPage(probe)).toEqual({ has: false, offered: false, availability: null });
    });

    it('on WebGPU, with the KV cache kept on the GPU between steps, greedy tokens equal the wasm run', async () => {
      // Embedding tables unquantized: the plan quantizes them on WebGPU only (plan.ts), which would change the weights.
      const options = { maxNewTokens: 6, mixedPrecision: true, embeddingPrecision: 32 };
      const gpu = await run('llama-3.2-1b-instruct', { messages: MESSAGES }, { ...options, backend: 'webgpu' });
      expect(gpu.ok, gpu.message).toBe(true);
      expect(gpu.metrics.backend).toBe('webgpu');
      const wasm = await run('llama-3.2-1b-instruct', { messages: MESSAGES }, { ...options, backend: 'wasm' });
      expect(wasm.ok, wasm.message).toBe(true);
      expect(gpu.output.tokens).toHaveLength(6);
      expect(gpu.output.tokens).toEqual(wasm.output.tokens);
    });

    it("engine: webq's own decode engine gives onnxruntime-web's greedy tokens on WebGPU; fallbacks say which ran", async () => {
      const options = { maxNewTokens: 8, backend: 'webgpu', bits: 4 };
      const runs: Record<string, Json> = {};
      for (const engine of ['webq', 'ort', 'auto'] as const) {
        const r = await run('qwen2.5-0.5b-instruct', { messages: MESSAGES }, { ...options, engine });
        expect(r.ok, r.message).toBe(true);
        runs[engine] = r;
      }
      expect(runs.webq!.output.tokens).toHaveLength(8);
      expect(runs.webq!.output.tokens).toEqual(runs.ort!.output.tokens);
      expect(runs.auto!.output.tokens).toEqual(runs.ort!.output.tokens);
      // 'auto' measured both engines on this adapter and says which ran by what figures.
      const choice = (r: Json) =>
        (r.metrics.fallbacks as string[]).find((f) => f.startsWith('engine auto:')) ?? 'no engine auto note';
      expect(choice(runs.auto)).toMatch(
        /^engine auto: (webq's decode engine|onnxruntime-web) \(measured on this adapter: webq [\d.]+ tokens\/s, onnxruntime-web [\d.]+ tokens\/s\)$/,
      );
      // The tiles it ran at are the extension's pages' to see, not a web page's: a calibration's result (SPEC §3).
      for (const r of Object.values(runs)) expect(r.metrics.fallbacks.join('\n')).not.toMatch(/GEMV|GEMM|calibrat/);
      expect(runs.ort!.metrics.fallbacks.join()).not.toMatch(/engine/);
      console.log(`[engine auto] ${ctx().browser}: ${choice(runs.auto)}`); // the figures docs/generation.md quotes
      // Stored: the next 'auto' request chooses by the same figures, without measuring again.
      const again = await run('qwen2.5-0.5b-instruct', { messages: MESSAGES }, { ...options, maxNewTokens: 2 });
      expect(choice(again)).toBe(choice(runs.auto));
      // A graph it cannot map (fp32 projections, as stored): 'webq' says why, 'auto' runs onnxruntime and says so.
      const url = `${ctx().server.origin}${PREFIX}/${LLAMA_REPO}/resolve/main/onnx/model.onnx`;
      const model = { url, task: 'text-generation' };
      const forced = await run(model, { messages: MESSAGES }, { maxNewTokens: 2, backend: 'webgpu', engine: 'webq' });
      expect(forced).toMatchObject({ ok: false, name: 'NotSupportedError' });
      expect(forced.message).toMatch(/engine 'webq'.*(MatMulNBits|external data)/);
      const auto = await run(model, { messages: MESSAGES }, { maxNewTokens: 2, backend: 'webgpu' });
      expect(auto.ok, auto.message).toBe(true);
      expect(auto.metrics.fallbacks.join('\n')).toMatch(/engine auto: onnxruntime-web \(webq's decode engine/);
    });

    it('a custom model with task text-generation runs from its URL: fp32 from its external data, the same tokens as onnxruntime-node', async () => {
      const url = `${ctx().server.origin}${PREFIX}/${LLAMA_REPO}/resolve/main/onnx/model.onnx`;
      const r = await run({ url, task: 'text-generation' }, { messages: MESSAGES }, { maxNewTokens: 6 });
      expect(r.ok, r.message).toBe(true);
      expect(r.output.tokens).toHaveLength(6);
      expect(r.metrics.quantizationBits).toBe(32); // a URL runs as stored unless the options quantize
      expect(r.metrics.modelBytes).toBeGreaterThan((llamaHub['onnx/model.onnx_data'] as Uint8Array).byteLength * 0.9);
      const reference = await runPipeline(
        textGeneration as unknown as TaskPipeline,
        llama,
        { kind: 'messages', messages: MESSAGES as never },
        { maxNewTokens: 6 },
      );
      expect(r.output.tokens).toEqual((reference.output as Json).tokens);
    });

    it('a prequantized model_q4.onnx runs as stored: its 4 bits reported, 8 asked for is a fallback, the same tokens as onnxruntime-node', async () => {
      const url = `${ctx().server.origin}${PREFIX}/${Q4_REPO}/resolve/main/onnx/model_q4.onnx`;
      const r = await run({ url, task: 'text-generation' }, { messages: MESSAGES }, { maxNewTokens: 6, bits: 8 });
      expect(r.ok, r.message).toBe(true);
      expect(r.metrics).toMatchObject({ quantizationBits: 4, quantizationScheme: null });
      expect(r.metrics.fallbacks).toEqual(
        expect.arrayContaining([expect.stringMatching(/prequantized: .*4-bit.*not quantized again to 8 bits/)]),
      );
      const reference = await runPipeline(
        textGeneration as unknown as TaskPipeline,
        qwenQ4,
        { kind: 'messages', messages: MESSAGES as never },
        { maxNewTokens: 6 },
        { model: qwenQ4['onnx/model_q4.onnx'] as Uint8Array },
      );
      expect(r.output.tokens).toEqual((reference.output as Json).tokens);
    });
  });

  describe('GroupQueryAttention graphs (SPEC §8)', () => {
    for (const backend of ['wasm', 'webgpu'] as const) {
      it(`${backend}: greedy tokens of a GQA Llama equal onnxruntime-node's, as stored (fp32) and at 4 bits`, async () => {
        const fp32 = await run(gqaModel(), { messages: MESSAGES }, { maxNewTokens: 8, backend });
        expect(fp32.ok, fp32.message).toBe(true);
        expect(fp32.metrics).toMatchObject({ backend, quantizationBits: 32 });
        const reference = await nodeReference({ messages: MESSAGES }, { maxNewTokens: 8 });
        expect(reference.tokens).toHaveLength(8);
        expect(fp32.output.tokens).toEqual(reference.tokens);
        expect(fp32.output.text).toBe(reference.text);

        // useQuantization on a URL takes the profile's text precision: 4 bits, attention and embeddings at 8.
        const q4 = await run(gqaModel(), { messages: MESSAGES }, { maxNewTokens: 8, backend, useQuantization: true });
        expect(q4.ok, q4.message).toBe(true);
        expect(q4.metrics).toMatchObject({ backend, quantizationBits: 4, mixedPrecision: true });
        const policy = { ...TEXT_POLICY, quantizeEmbeddingTables: backend === 'webgpu' };
        const quantized = prepareModel(gqa['onnx/model.onnx'] as Uint8Array, policy).bytes;
        const reference4 = await nodeReference({ messages: MESSAGES }, { maxNewTokens: 8 }, quantized);
        expect(q4.output.tokens).toEqual(reference4.tokens);
        expect(q4.output.text).toBe(reference4.text);
      });
    }

    it('webgpu: a LanguageModel session on a GQA graph runs its next prompt after the cache as a one-shot run would', async () => {
      // The next prompt is several new tokens after a cache: GroupQueryAttention's "subsequent prompt" case.
      const r: Json = await ctx().page.evaluate(async (model) => {
        const session = await (window as any).webq.LanguageModel.create({
          model,
          backend: 'webgpu',
          initialPrompts: [{ role: 'system', content: 'You are terse.' }],
          maxNewTokens: 5,
        });
        const first = await session.prompt('Name a colour.');
        const second = await session.prompt('And another?');
        session.destroy();
        return { first, second };
      }, gqaModel());
      const messages = [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Name a colour.' },
        { role: 'assistant', content: r.first },
        { role: 'user', content: 'And another?' },
      ];
      const oneShot = await run(gqaModel(), { messages }, { maxNewTokens: 5, backend: 'webgpu' });
      expect(oneShot.ok, oneShot.message).toBe(true);
      expect(r.second).toBe(oneShot.output.text);
      expect(r.second).toBe((await nodeReference({ messages }, { maxNewTokens: 5 })).text);
    });

    it('a stop string ends the text before it; seeded sampling repeats itself', async () => {
      const full = await run(gqaModel(), 'Once upon a time', { maxNewTokens: 8 });
      expect(full.ok, full.message).toBe(true);
      const text: string = full.output.text;
      const stop = text.slice(Math.floor(text.length / 2), Math.floor(text.length / 2) + 2);
      expect(stop.trim().length).toBeGreaterThan(0);
      const cut = await run(gqaModel(), 'Once upon a time', { maxNewTokens: 8, stop: [stop] });
      expect(cut.ok, cut.message).toBe(true);
      expect(cut.output.finishReason).toBe('stop');
      expect(cut.output.text).toBe(text.slice(0, text.indexOf(stop)));
      const { chunks, result } = await stream(gqaModel(), 'Once upon a time', { maxNewTokens: 8, stop: [stop] });
      expect(chunks.join('')).toBe(cut.output.text); // the stop string's start is never streamed
      expect(result.output.finishReason).toBe('stop');

      const sampling = { maxNewTokens: 8, temperature: 1.2, topK: 40, seed: 11 };
      const a = await run(gqaModel(), 'Once upon a time', sampling);
      const b = await run(gqaModel(), 'Once upon a time', sampling);
      expect(a.ok, a.message).toBe(true);
      expect(b.output.tokens).toEqual(a.output.tokens);
    });

    it('the context window bounds generation; a prompt that overflows it is a QuotaExceededError', async () => {
      const bounded = await run(gqaModel(), 'Once upon a time', { maxNewTokens: 500 });
      expect(bounded.ok, bounded.message).toBe(true);
      const { promptTokens, completionTokens } = bounded.output.usage;
      if (bounded.output.finishReason === 'length') expect(promptTokens + completionTokens).toBe(GQA_WINDOW);
      else expect(promptTokens + completionTokens).toBeLessThan(GQA_WINDOW); // an end-of-sequence token came first

      const long = 'one two three four five six seven eight nine ten '.repeat(12); // > 96 tokens
      const r = await run(gqaModel(), long, { maxNewTokens: 4 });
      expect(r).toMatchObject({ ok: false, name: 'QuotaExceededError' });
      expect(r.message).toMatch(/96-token context window/);
    });
  });
}
