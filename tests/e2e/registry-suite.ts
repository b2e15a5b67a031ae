/**
 * Built-in models by id (SPEC §5, issue 5's done-when): the registry ids run end to end — id → model host
 * (the options page's setting, pointed at a local mirror in the hub's layout) → download → cache → quantize at the
 * profile's precision → run → post-process — in every browser. The generated hub models stand in for the real
 * weights (none are reachable offline); their tokenizers and configs are in the real hub formats. Each result is
 * checked against the same pipeline run in Node on onnxruntime-node with the same quantized bytes.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { prepareModel } from '../../extension/host/prepare';
import { featureExtraction } from '../../extension/tasks/feature-extraction';
import { maxAbsDiff } from '../../extension/shared/compare';
import type { PrecisionPolicy } from '../../extension/onnx';
import { BERT_EXAMPLES, bertHubFiles } from '../../tools/hub-models/bert';
import { VIT_LABELS, vitHubFiles } from '../../tools/hub-models/vit';
import { imageClassification } from '../../extension/tasks/image-classification';
import { imageFeatureExtraction } from '../../extension/tasks/image-feature-extraction';
import { zeroShotImageClassification } from '../../extension/tasks/zero-shot-image-classification';
import { CLIP_COLOURS, clipHubFiles } from '../../tools/hub-models/clip';
import { speechRecognition, speechRecognitionMerged } from '../../extension/tasks/speech-recognition';
import {
  WHISPER_TEXTS,
  whisperHubFiles,
  whisperMergedHubFiles,
  whisperTestAudio,
  whisperTextIds,
} from '../../tools/hub-models/whisper';
import { speechRecognitionCtc } from '../../extension/tasks/speech-recognition-ctc';
import { WAV2VEC2_TEXTS, WAV2VEC2_VOCAB, wav2vec2HubFiles, wav2vec2TestAudio } from '../../tools/hub-models/wav2vec2';
import { mirrorHits, mirrorRepo } from '../../tools/hub-mirror';
import { BACKTRACKING_TEXT, backtrackingTokenizerJson } from '../../tools/hub-models/backtracking';
import { referenceCtcTranscript } from '../support/ctc-reference';
import { runPipeline } from '../support/node-pipeline';
import type { SuiteContext } from './webq-suite';
import { T5_EXAMPLES, t5HubFiles } from '../../tools/hub-models/t5';
import { t5ReferenceGreedy } from '../support/t5-reference';

const PREFIX = '/hub';
const BERT_REPO = 'Xenova/bert-base-uncased';
const VIT_REPO = 'Xenova/vit-base-patch16-224';
const WHISPER_REPO = 'Xenova/whisper-tiny';
/** A Whisper exported with decoder_model_merged.onnx only. */
const WHISPER_MERGED_REPO = 'webq-test/whisper-merged';
const WAV2VEC2_REPO = 'Xenova/wav2vec2-base-960h';
const CLIP_REPO = 'Xenova/clip-vit-base-patch32';
/** The Chrome and Firefox profiles' text defaults (extension/host/profile.ts): 4-bit, mixed precision. */
const TEXT_POLICY: PrecisionPolicy = {
  bits: 4,
  scheme: 'symmetric',
  groupSize: 128,
  mixedPrecision: true,
  attentionPrecision: 8,
  embeddingPrecision: 8,
  skipLayerNorm: true,
};

export interface RegistryContext extends SuiteContext {
  /**
   * Sets the options page's model host field and saves it, as a person would (host 'page': the client's `modelHost`
   * option, fixed when the page made its client).
   */
  setModelHost(url: string): Promise<void>;
  /** Sets the options page's window.LanguageModel switch and saves it (host 'extension' only: no options page). */
  setLanguageModelGlobal(on: boolean): Promise<void>;
  /** Opens another tab of the suite's page (same origin, so consent holds), runs `fn` there, closes it. */
  inNewPage<R>(fn: () => R | Promise<R>): Promise<R>;
}

type Json = any; // what page.evaluate hands back: the page API's plain results

/**
 * Inputs the page builds itself, since typed arrays and DOM objects do not cross page.evaluate in every driver:
 * `{ $audio: number[], sampleRate }` → `{ audio: Float32Array, sampleRate }` (or `$audio64`, the samples' bytes in
 * base64, for long audio); `{ $canvas: { width, height, color } }`
 * → a filled canvas (`$blob: true` → that canvas as a PNG Blob); arrays map element by element. Runs in the page.
 */
export type PageInput =
  | string
  | string[]
  | { $audio: number[]; sampleRate: number }
  | { $audio64: string; sampleRate: number }
  | { $canvas: { width: number; height: number; color: string }; $blob?: boolean }
  | PageInput[];

export function registrySuite(ctx: () => RegistryContext): void {
  const bert = bertHubFiles();
  const vit = vitHubFiles();
  const whisper = whisperHubFiles();
  const whisperMerged = whisperMergedHubFiles();
  const wav2vec2 = wav2vec2HubFiles();
  const clip = clipHubFiles();
  const run = (model: unknown, input: PageInput, options: Record<string, unknown> = {}) =>
    ctx().page.evaluate(
      async ({ model, input, options }) => {
        const build = async (x: any): Promise<unknown> => {
          if (Array.isArray(x)) return Promise.all(x.map(build));
          if (x && x.$audio) return { audio: Float32Array.from(x.$audio), sampleRate: x.sampleRate };
          if (x && x.$audio64) {
            const bytes = Uint8Array.from(atob(x.$audio64), (c) => c.charCodeAt(0));
            return { audio: new Float32Array(bytes.buffer), sampleRate: x.sampleRate };
          }
          if (x && x.$canvas) {
            const canvas = document.createElement('canvas');
            canvas.width = x.$canvas.width;
            canvas.height = x.$canvas.height;
            const g = canvas.getContext('2d')!;
            g.fillStyle = x.$canvas.color;
            g.fillRect(0, 0, canvas.width, canvas.height);
            return x.$blob ? new Promise((resolve) => canvas.toBlob(resolve, 'image/png')) : canvas;
          }
          return x;
        };
        return (window as any).webq.run(model, await build(input), options).then(
          // Typed arrays leave the page as plain arrays (Playwright and Puppeteer serialise them differently).
          (r: any) => ({
            ok: true,
            output: JSON.parse(
              JSON.stringify(r.output, (_k, v) => (ArrayBuffer.isView(v) ? Array.from(v as Float32Array) : v)),
            ),
            metrics: r.performanceMetrics,
          }),
          (e: Error) => ({ ok: false, name: e.name, message: e.message }),
        );
      },
      { model, input, options },
    ) as Promise<Json>;

  beforeAll(async () => {
    mirrorRepo(ctx().server, PREFIX, BERT_REPO, bert);
    mirrorRepo(ctx().server, PREFIX, VIT_REPO, vit);
    mirrorRepo(ctx().server, PREFIX, WHISPER_REPO, whisper);
    mirrorRepo(ctx().server, PREFIX, WHISPER_MERGED_REPO, whisperMerged);
    mirrorRepo(ctx().server, PREFIX, WAV2VEC2_REPO, wav2vec2);
    mirrorRepo(ctx().server, PREFIX, CLIP_REPO, clip);
    await ctx().setModelHost(`${ctx().server.origin}${PREFIX}`);
  });

  describe('built-in models by id, from a mirror of the model host', () => {
    it("bert-base-uncased: text → tokens, token embeddings and a mean-pooled embedding, at the profile's 4-bit mixed precision", async () => {
      const r = await run('bert-base-uncased', BERT_EXAMPLES.example.text);
      expect(r.ok, r.message).toBe(true);
      expect(r.output.tokens).toEqual([BERT_EXAMPLES.example.ids]);
      expect(r.output.dims).toEqual([1, 64]);
      expect(r.output.lastHiddenState.dims).toEqual([1, BERT_EXAMPLES.example.ids.length, 64]);
      expect(r.metrics).toMatchObject({
        quantizationBits: 4,
        quantizationScheme: 'symmetric',
        mixedPrecision: true,
        backend: 'wasm',
      });
      expect(r.metrics.memoryReductionPercent).toBeGreaterThan(40);
      expect(r.metrics.modelBytes).toBeLessThan(r.metrics.originalBytes);
      expect(r.metrics.fallbacks).toContain(`profile ${r.metrics.profile}: text models at 4-bit with mixed precision`);
      // The same pipeline in Node on the same 4-bit bytes: the browser's result is the model's, not an approximation.
      const quantized = prepareModel(bert['onnx/model.onnx'] as Uint8Array, TEXT_POLICY).bytes;
      const reference = await runPipeline(
        featureExtraction,
        bert,
        { kind: 'text', text: [BERT_EXAMPLES.example.text], batched: false },
        {},
        { model: quantized },
      );
      expect(maxAbsDiff(Float32Array.from(r.output.embeddings), (reference.output as Json).embeddings)).toBeLessThan(
        1e-3,
      );
      expect(mirrorHits(ctx().server, PREFIX, BERT_REPO)).toBeGreaterThanOrEqual(3); // graph, tokenizer.json, configs
    });

    it('bert-base-uncased: a batch with normalize gives unit rows, each the same as alone (padding masked)', async () => {
      const single = await run('bert-base-uncased', BERT_EXAMPLES.example.text, { normalize: true });
      const batch = await run('bert-base-uncased', [BERT_EXAMPLES.fox.text, BERT_EXAMPLES.example.text], {
        normalize: true,
      });
      expect(batch.ok, batch.message).toBe(true);
      expect(batch.output.dims).toEqual([2, 64]);
      expect(batch.output.tokens).toEqual([BERT_EXAMPLES.fox.ids, BERT_EXAMPLES.example.ids]);
      const rows = Float32Array.from(batch.output.embeddings);
      for (const row of [rows.subarray(0, 64), rows.subarray(64)]) expect(Math.hypot(...row)).toBeCloseTo(1, 4);
      expect(maxAbsDiff(rows.subarray(64), Float32Array.from(single.output.embeddings))).toBeLessThan(1e-4);
    });

    it('options are honoured and reported: bits 8, or the weights as they are', async () => {
      const eight = await run('bert-base-uncased', 'hello world', { bits: 8 });
      expect(eight.metrics).toMatchObject({ quantizationBits: 8, mixedPrecision: false });
      const full = await run('bert-base-uncased', 'hello world', { useQuantization: false });
      expect(full.metrics).toMatchObject({ quantizationBits: 32, quantizationScheme: null, memoryReductionPercent: 0 });
      expect(full.output.tokens).toEqual(eight.output.tokens);
      const cosine = (a: number[], b: number[]) =>
        a.reduce((s, x, i) => s + x * b[i]!, 0) / Math.hypot(...a) / Math.hypot(...b);
      expect(cosine(eight.output.embeddings, full.output.embeddings)).toBeGreaterThan(0.99);
    });

    it('runs on WebGPU too (MatMulNBits on the WebGPU EP), agreeing with wasm', async () => {
      const wasm = await run('bert-base-uncased', BERT_EXAMPLES.fox.text);
      const gpu = await run('bert-base-uncased', BERT_EXAMPLES.fox.text, { backend: 'webgpu' });
      expect(gpu.ok, gpu.message).toBe(true);
      expect(gpu.metrics).toMatchObject({ backend: 'webgpu', quantizationBits: 4 });
      expect(
        maxAbsDiff(Float32Array.from(gpu.output.embeddings), Float32Array.from(wasm.output.embeddings)),
      ).toBeLessThan(1e-3);
    });

    it('embedding tables: GatherBlockQuantized on WebGPU; kept at fp32 on wasm, which has no kernel for it, and said so', async () => {
      // groupSize 32 divides the test BERT's 64-wide tables, so they are quantizable (128 does not).
      const wasm = await run('bert-base-uncased', BERT_EXAMPLES.example.text, {
        bits: 4,
        groupSize: 32,
        backend: 'wasm',
      });
      expect(wasm.ok, wasm.message).toBe(true);
      expect(
        wasm.metrics.fallbacks.filter((f: string) => /embedding table kept at fp32/.test(f)).length,
      ).toBeGreaterThanOrEqual(1);
      const info: Json = await ctx().page.evaluate(
        () => (window as any).webq.load('bert-base-uncased', { bits: 4, groupSize: 32, backend: 'webgpu' }),
        null,
      );
      expect(
        info.weights.some(
          (w: Json) => w.op === 'GatherBlockQuantized' || (/embeddings/.test(w.name) && w.precision < 32),
        ),
      ).toBe(true);
      const gpu = await run('bert-base-uncased', BERT_EXAMPLES.example.text, {
        bits: 4,
        groupSize: 32,
        backend: 'webgpu',
      });
      expect(gpu.ok, gpu.message).toBe(true);
      expect(gpu.metrics.modelBytes).toBeLessThan(wasm.metrics.modelBytes);
    });

    it('the report says what was quantized how: attention and embeddings at 8 bits, the rest at 4', async () => {
      const info: Json = await ctx().page.evaluate(() => (window as any).webq.load('bert-base-uncased'), null);
      expect(info).toMatchObject({
        id: 'bert-base-uncased',
        task: 'feature-extraction',
        bits: 4,
        mixedPrecision: true,
      });
      const precisions = new Set(info.weights.map((w: Json) => w.precision));
      expect(precisions.has(4) && precisions.has(8) && precisions.has(32)).toBe(true);
    });

    it('a second load comes from the cache, without the network', async () => {
      await ctx().page.evaluate(() => (window as any).webq.unload('bert-base-uncased'), null);
      const before = mirrorHits(ctx().server, PREFIX, BERT_REPO);
      const r = await run('bert-base-uncased', BERT_EXAMPLES.example.text);
      expect(r.ok, r.message).toBe(true);
      expect(mirrorHits(ctx().server, PREFIX, BERT_REPO)).toBe(before);
    });

    it('a custom model with task reuses the pipeline, files found beside the graph; weights run as they are', async () => {
      const url = `${ctx().server.origin}${PREFIX}/${BERT_REPO}/resolve/main/onnx/model.onnx`;
      const r = await run({ url, task: 'feature-extraction' }, BERT_EXAMPLES.unknown.text);
      expect(r.ok, r.message).toBe(true);
      expect(r.output.tokens).toEqual([BERT_EXAMPLES.unknown.ids]);
      expect(r.metrics.quantizationBits).toBe(32);
    });

    it('wrong input, options of another task and unknown ids are named errors', async () => {
      expect(await run('bert-base-uncased', { $audio: new Array(16).fill(0), sampleRate: 16000 })).toMatchObject({
        ok: false,
        name: 'DataError',
        message: expect.stringMatching(/text/),
      });
      expect(await run('bert-base-uncased', 'hi', { topK: 3 })).toMatchObject({
        ok: false,
        name: 'DataError',
        message: expect.stringMatching(/topK/),
      });
      expect(await run('bert-large-cased', 'hi')).toMatchObject({
        ok: false,
        name: 'NotFoundError',
        message: expect.stringMatching(/bert-base-uncased/),
      });
      expect(
        await run({ url: `${ctx().server.origin}/nowhere/model.onnx`, task: 'feature-extraction' }, 'hi'),
      ).toMatchObject({ ok: false, name: 'NotFoundError' });
      // A page's tokenizer URL is read whole: past 64 MiB it is refused before the body is read.
      ctx().server.routes.set('/huge/tokenizer.json', new Uint8Array(65 * 2 ** 20));
      const graph = `${ctx().server.origin}${PREFIX}/${BERT_REPO}/resolve/main/onnx/model.onnx`;
      expect(
        await run(
          { url: graph, task: 'feature-extraction', tokenizer: `${ctx().server.origin}/huge/tokenizer.json` },
          'hi',
        ),
      ).toMatchObject({ ok: false, name: 'QuotaExceededError', message: expect.stringMatching(/64 MiB/) });
      const ok = await run('bert-base-uncased', 'still serving');
      expect(ok.ok, ok.message).toBe(true);
    });
  });

  describe("a page's own tokenizer.json (issue 13: tokenizers off the engine's thread, with a time budget)", () => {
    it('a regex that backtracks without end: TimeoutError naming the step after 5 s, the engine serving meanwhile', async () => {
      ctx().server.routes.set(
        '/hostile/tokenizer.json',
        new TextEncoder().encode(JSON.stringify(backtrackingTokenizerJson())),
      );
      const model = {
        url: `${ctx().server.origin}${PREFIX}/${BERT_REPO}/resolve/main/onnx/model.onnx`,
        task: 'feature-extraction',
        tokenizer: `${ctx().server.origin}/hostile/tokenizer.json`,
      };
      const r: Json = await ctx().page.evaluate(
        async ({ model, text }) => {
          const webq = (window as any).webq;
          const outcome = (p: Promise<any>) =>
            p.then(
              (x) => ({ ok: true, x }),
              (e: Error) => ({ ok: false, name: e.name, message: e.message }),
            );
          // The file works for ordinary words: the model loads (its tokenizer built in a worker) and runs.
          const first = await outcome(webq.run(model, 'hello').then((res: any) => res.output.tokens));
          const started = performance.now();
          const hostile = outcome(webq.run(model, text)).then((o) => ({ ...o, ms: performance.now() - started }));
          // While the tokenizer spins, the engine host answers another request at once.
          await new Promise((resolve) => setTimeout(resolve, 1000));
          const t0 = performance.now();
          const caps = await outcome(webq.capabilities().then((c: any) => c.browser.name));
          const capsMs = performance.now() - t0;
          const stopped = await hostile;
          // The next request to the same model is served by a fresh worker.
          const after = await outcome(webq.run(model, 'world').then((res: any) => res.output.tokens));
          return { first, caps, capsMs, stopped, after };
        },
        { model, text: BACKTRACKING_TEXT },
      );
      expect(r.first).toEqual({ ok: true, x: [[6]] });
      expect(r.caps.ok, r.caps.message).toBe(true);
      expect(r.capsMs).toBeLessThan(2000);
      expect(r.stopped).toMatchObject({
        ok: false,
        name: 'TimeoutError',
        message: expect.stringMatching(/longer than 5 s encoding the input text/),
      });
      expect(r.stopped.ms).toBeGreaterThanOrEqual(4900);
      expect(r.stopped.ms).toBeLessThan(15_000);
      expect(r.after).toEqual({ ok: true, x: [[7]] });
      console.log(
        `[tokenizer budget] ${ctx().browser}: backtracking run stopped after ${Math.round(r.stopped.ms)} ms; capabilities meanwhile in ${Math.round(r.capsMs)} ms`,
      );
    });
  });

  describe('vit-base-patch16-224 by id', () => {
    const canvas = (color: string, width = 64, height = 48) => ({ $canvas: { width, height, color } });

    it("an image → top-k labels, at the profile's 8-bit for vision, same as Node on the same bytes", async () => {
      const r = await run('vit-base-patch16-224', canvas('#ff0000'));
      expect(r.ok, r.message).toBe(true);
      expect(r.output.labels).toHaveLength(5);
      expect(r.output.labels[0].label).toBe('red');
      expect(r.metrics.fallbacks).toContain(
        `profile ${r.metrics.profile}: vision models at 8-bit with mixed precision, shaders compiled at load`,
      );
      const scores = r.output.labels.map((l: Json) => l.score);
      expect(scores).toEqual([...scores].sort((a, b) => b - a));
      expect(r.metrics).toMatchObject({ quantizationBits: 8, mixedPrecision: true });
      // Node: the same pipeline on the same 8-bit bytes, fed the same pixels the page sent.
      const pixels = new Uint8ClampedArray(64 * 48 * 4).map((_, i) => (i % 4 === 0 || i % 4 === 3 ? 255 : 0));
      const quantized = prepareModel(vit['onnx/model.onnx'] as Uint8Array, { ...TEXT_POLICY, bits: 8 }).bytes;
      const reference: Json = (
        await runPipeline(
          imageClassification,
          vit,
          { kind: 'image', images: [{ width: 64, height: 48, data: pixels }], batched: false },
          {},
          { model: quantized },
        )
      ).output;
      expect(r.output.labels.map((l: Json) => l.label)).toEqual(reference.labels.map((l: Json) => l.label));
      expect(
        maxAbsDiff(Float32Array.from(scores), Float32Array.from(reference.labels.map((l: Json) => l.score))),
      ).toBeLessThan(1e-4);
    });

    it('a batch of images (canvas and PNG Blob) gives one result each, in order; topK is honoured', async () => {
      const r = await run(
        'vit-base-patch16-224',
        [canvas('#00ff00'), { ...canvas('#0000ff', 30, 70), $blob: true }, canvas('#ffffff')],
        { topK: 2 },
      );
      expect(r.ok, r.message).toBe(true);
      expect(r.output.map((x: Json) => x.labels[0].label)).toEqual(['green', 'blue', 'white']);
      for (const x of r.output) expect(x.labels).toHaveLength(2);
      const all = await run('vit-base-patch16-224', canvas('#000000'), { topK: 1000 });
      expect(all.output.labels.map((l: Json) => l.label).sort()).toEqual([...VIT_LABELS].sort());
    });

    it('text for an image model and normalize for a classifier are named errors', async () => {
      expect(await run('vit-base-patch16-224', 'a red square')).toMatchObject({
        ok: false,
        name: 'DataError',
        message: expect.stringMatching(/image/),
      });
      expect(await run('vit-base-patch16-224', canvas('#ff0000'), { normalize: true })).toMatchObject({
        ok: false,
        name: 'DataError',
        message: expect.stringMatching(/normalize/),
      });
    });
  });

  describe('clip-vit-base-patch32 by id (two tasks, one repo)', () => {
    const canvas = (color: string, width = 64, height = 48) => ({ $canvas: { width, height, color } });
    /** The pixels a filled canvas gives the engine, for the Node reference. */
    const filled = (rgb: readonly number[], width = 64, height = 48) => ({
      width,
      height,
      data: new Uint8ClampedArray(width * height * 4).map((_, i) => (i % 4 === 3 ? 255 : rgb[i % 4]!)),
    });
    const fetched = (file: string) => ctx().server.hits.get(`${PREFIX}/${CLIP_REPO}/resolve/main/${file}`) ?? 0;
    const VISION_POLICY: PrecisionPolicy = { ...TEXT_POLICY, bits: 8 };
    const candidateLabels = [...Object.keys(CLIP_COLOURS), 'cat'];

    it("zero-shot: image + candidate texts → scores, at the profile's 8-bit for vision, same as Node on the same bytes; only the joint graph fetched", async () => {
      // Purple: between magenta and blue for this model, so the scores are not all 0 or 1.
      const r = await run('clip-vit-base-patch32', canvas('#800080'), { candidateLabels });
      expect(r.ok, r.message).toBe(true);
      expect(r.output.labels.map((l: Json) => l.label).slice(0, 2)).toEqual(['magenta', 'blue']);
      expect(r.output.labels).toHaveLength(candidateLabels.length);
      expect(r.metrics).toMatchObject({ quantizationBits: 8, mixedPrecision: true });
      expect(r.metrics.fallbacks).toContain(
        `profile ${r.metrics.profile}: vision models at 8-bit with mixed precision, shaders compiled at load`,
      );
      const quantized = prepareModel(clip['onnx/model.onnx'] as Uint8Array, VISION_POLICY).bytes;
      const reference: Json = (
        await runPipeline(
          zeroShotImageClassification,
          clip,
          { kind: 'image', images: [filled([128, 0, 128])], batched: false },
          { candidateLabels },
          { model: quantized },
        )
      ).output;
      expect(r.output.labels.map((l: Json) => l.label)).toEqual(reference.labels.map((l: Json) => l.label));
      expect(
        maxAbsDiff(
          Float32Array.from(r.output.labels.map((l: Json) => l.score)),
          Float32Array.from(reference.labels.map((l: Json) => l.score)),
        ),
      ).toBeLessThan(1e-3);
      expect(fetched('onnx/model.onnx')).toBeGreaterThanOrEqual(1);
      expect(fetched('onnx/vision_model.onnx') + fetched('onnx/text_model.onnx')).toBe(0);
    });

    it('task image-feature-extraction: a batch → embeddings [2, 32], normalize; named errors for the rest', async () => {
      const r = await run('clip-vit-base-patch32', [canvas('#ff0000'), canvas('#0000ff', 30, 70)], {
        task: 'image-feature-extraction',
        normalize: true,
      });
      expect(r.ok, r.message).toBe(true);
      expect(r.output.dims).toEqual([2, 32]);
      const rows = Float32Array.from(r.output.embeddings);
      for (const row of [rows.subarray(0, 32), rows.subarray(32)]) expect(Math.hypot(...row)).toBeCloseTo(1, 4);
      const quantized = prepareModel(clip['onnx/vision_model.onnx'] as Uint8Array, VISION_POLICY).bytes;
      const reference: Json = (
        await runPipeline(
          imageFeatureExtraction,
          clip,
          { kind: 'image', images: [filled([255, 0, 0]), filled([0, 0, 255], 30, 70)], batched: true },
          { normalize: true },
          { model: quantized },
        )
      ).output;
      expect(maxAbsDiff(rows, reference.embeddings)).toBeLessThan(1e-3);
      expect(fetched('onnx/vision_model.onnx')).toBeGreaterThanOrEqual(1);
      expect(fetched('onnx/text_model.onnx')).toBe(0);

      expect(await run('clip-vit-base-patch32', canvas('#ff0000'))).toMatchObject({
        ok: false,
        name: 'DataError',
        message: expect.stringMatching(/candidateLabels/),
      });
      expect(await run('clip-vit-base-patch32', canvas('#ff0000'), { candidateLabels: ['red', 3] })).toMatchObject({
        ok: false,
        name: 'DataError',
        message: expect.stringMatching(/candidateLabels\[1\]/),
      });
      expect(await run('clip-vit-base-patch32', canvas('#ff0000'), { task: 'feature-extraction' })).toMatchObject({
        ok: false,
        name: 'NotSupportedError',
        message: expect.stringMatching(/zero-shot-image-classification, image-feature-extraction/),
      });
      expect(
        await run('clip-vit-base-patch32', canvas('#ff0000'), {
          task: 'image-feature-extraction',
          candidateLabels: ['red'],
        }),
      ).toMatchObject({
        ok: false,
        name: 'DataError',
        message: expect.stringMatching(/candidateLabels does not apply/),
      });
      await ctx().page.evaluate(() => (window as any).webq.unload('clip-vit-base-patch32'), null);
    });
  });

  describe('whisper-tiny by id', () => {
    const audio = (sound: 'silence' | 'low' | 'high', sampleRate: number) => ({
      $audio: Array.from(whisperTestAudio(sound, sampleRate)),
      sampleRate,
    });

    it("audio at 44.1 kHz → resampled, log-mel, encoder, greedy decoding with the KV cache → text, at the profile's 4-bit for audio", async () => {
      const r = await run('whisper-tiny', audio('low', 44100));
      expect(r.ok, r.message).toBe(true);
      expect(r.output.text).toBe(WHISPER_TEXTS.en.low);
      expect(r.metrics).toMatchObject({ quantizationBits: 4, mixedPrecision: false });
      // Three graphs, all held: the encoder and both decoders count in the bytes.
      const info: Json = await ctx().page.evaluate(() => (window as any).webq.load('whisper-tiny'), null);
      expect(new Set(info.weights.map((w: Json) => w.name.split(':')[0]))).toEqual(
        new Set(['encoder', 'decoder', 'decoderWithPast']),
      );
      expect(info.modelBytes).toBe(r.metrics.modelBytes);
      // Node: the same pipeline on the same 4-bit graphs gives the same tokens.
      const policy = { ...TEXT_POLICY, mixedPrecision: false };
      const graphs = {
        encoder: prepareModel(whisper['onnx/encoder_model.onnx'] as Uint8Array, policy).bytes,
        decoder: prepareModel(whisper['onnx/decoder_model.onnx'] as Uint8Array, policy).bytes,
        decoderWithPast: prepareModel(whisper['onnx/decoder_with_past_model.onnx'] as Uint8Array, policy).bytes,
      };
      const reference: Json = (
        await runPipeline(
          speechRecognition,
          whisper,
          { kind: 'audio', audio: whisperTestAudio('low', 44100), sampleRate: 44100 },
          {},
          graphs,
        )
      ).output;
      expect(r.output.tokens).toEqual(reference.tokens);
    });

    it('the text follows the audio and the language; maxNewTokens stops early', async () => {
      expect((await run('whisper-tiny', audio('high', 16000))).output.text).toBe(WHISPER_TEXTS.en.high);
      expect((await run('whisper-tiny', audio('silence', 48000), { language: 'de' })).output.text).toBe(
        WHISPER_TEXTS.de.silence,
      );
      const short = await run('whisper-tiny', audio('low', 16000), { maxNewTokens: 2 });
      expect(short.output.tokens).toEqual(whisperTextIds(WHISPER_TEXTS.en.low).slice(0, 2));
    });

    it("35 s in two windows with returnTimestamps, and task: 'translate': the model's answers, as in onnxruntime-node", async () => {
      // 0–18 s a 440 Hz hum, silence, 30–35 s a 5 kHz whistle, at 12 kHz: windows 0–30 s and 20–35 s.
      const rate = 12000;
      const long = new Float32Array(35 * rate);
      long.set(whisperTestAudio('low', rate, 18));
      long.set(whisperTestAudio('high', rate, 5), 30 * rate);
      const stamped = await run(
        'whisper-tiny',
        { $audio64: Buffer.from(long.buffer).toString('base64'), sampleRate: rate },
        { returnTimestamps: true },
      );
      expect(stamped.ok, stamped.message).toBe(true);
      expect(stamped.output).toEqual({
        text: `${WHISPER_TEXTS.en.low} ${WHISPER_TEXTS.en.high}`,
        tokens: [...whisperTextIds(WHISPER_TEXTS.en.low), ...whisperTextIds(WHISPER_TEXTS.en.high)],
        chunks: [
          { text: WHISPER_TEXTS.en.low, timestamp: [0, expect.closeTo(18, 1)] },
          { text: WHISPER_TEXTS.en.high, timestamp: [20, 35] },
        ],
      });
      const translated = await run('whisper-tiny', audio('high', 16000), { task: 'translate', language: 'fr' });
      expect(translated.ok, translated.message).toBe(true);
      expect(translated.output.text).toBe(WHISPER_TEXTS.en.high);
      // A decoding choice: the model loaded for the first call serves it.
      expect(translated.metrics.loadTimeMs).toBeUndefined();
      // Node: the same pipeline on the same 4-bit graphs.
      const policy = { ...TEXT_POLICY, mixedPrecision: false };
      const graphs = Object.fromEntries(
        Object.entries(speechRecognition.graphs).map(([role, file]) => [
          role,
          prepareModel(whisper[file] as Uint8Array, policy).bytes,
        ]),
      );
      const node = async (audio: Float32Array, sampleRate: number, options: Record<string, unknown>) =>
        (await runPipeline(speechRecognition, whisper, { kind: 'audio', audio, sampleRate }, options, graphs)).output;
      expect(stamped.output).toEqual(await node(long, rate, { returnTimestamps: true }));
      expect(translated.output).toEqual(
        await node(whisperTestAudio('high', 16000), 16000, { task: 'translate', language: 'fr' }),
      );
    });

    it('a repo with the merged decoder only, by its URL: the same text, as in onnxruntime-node', async () => {
      const url = `${ctx().server.origin}${PREFIX}/${WHISPER_MERGED_REPO}/resolve/main/onnx/decoder_model_merged.onnx`;
      const model = { url, task: 'automatic-speech-recognition' };
      const r = await run(model, audio('low', 16000), { language: 'de' });
      expect(r.ok, r.message).toBe(true);
      expect(r.output.text).toBe(WHISPER_TEXTS.de.low);
      // A page's model runs its weights as stored: the Node reference runs the files themselves.
      const node = await runPipeline(
        speechRecognitionMerged,
        whisperMerged,
        { kind: 'audio', audio: whisperTestAudio('low', 16000), sampleRate: 16000 },
        { language: 'de' },
      );
      expect(r.output).toEqual(node.output);
      await ctx().page.evaluate((m) => (window as any).webq.unload(m), model);
    });

    it('bad audio and unknown languages are named errors, and the engine keeps serving', async () => {
      expect(await run('whisper-tiny', { $audio: [0, 0, 0], sampleRate: 12.5 })).toMatchObject({
        ok: false,
        name: 'DataError',
        message: expect.stringMatching(/sampleRate/),
      });
      expect(await run('whisper-tiny', audio('low', 16000), { language: 'ja' })).toMatchObject({
        ok: false,
        name: 'DataError',
        message: expect.stringMatching(/en/),
      });
      expect(await run('whisper-tiny', 'hello')).toMatchObject({
        ok: false,
        name: 'DataError',
        message: expect.stringMatching(/audio/),
      });
      expect((await run('whisper-tiny', audio('silence', 16000))).output.text).toBe(WHISPER_TEXTS.en.silence);
    });
  });

  describe('wav2vec2-base-960h by id', () => {
    it("audio at 44.1 kHz → resampled, normalised, one graph, greedy CTC → text, at the profile's 4-bit for audio; a CTC model takes no Whisper options", async () => {
      const text = WAV2VEC2_TEXTS.hello;
      const r = await run('wav2vec2-base-960h', {
        $audio: Array.from(wav2vec2TestAudio(text, 44100)),
        sampleRate: 44100,
      });
      expect(r.ok, r.message).toBe(true);
      expect(r.output.text).toBe(text);
      expect(r.metrics).toMatchObject({ quantizationBits: 4, mixedPrecision: false });
      expect(r.metrics.fallbacks).toContain(`profile ${r.metrics.profile}: audio models at 4-bit`);
      // Node, on the same 4-bit bytes: webq's pipeline on the same input, and a CTC decoding written in the test
      // (tests/support/ctc-reference.ts) on the model's own 16 kHz rendering of the text.
      const quantized = prepareModel(wav2vec2['onnx/model.onnx'] as Uint8Array, {
        ...TEXT_POLICY,
        mixedPrecision: false,
      }).bytes;
      const pipeline: Json = (
        await runPipeline(
          speechRecognitionCtc,
          wav2vec2,
          { kind: 'audio', audio: wav2vec2TestAudio(text, 44100), sampleRate: 44100 },
          {},
          { model: quantized },
        )
      ).output;
      expect(r.output).toEqual(pipeline);
      expect(await referenceCtcTranscript(wav2vec2TestAudio(text), quantized, WAV2VEC2_VOCAB)).toEqual(r.output);
      expect(
        await run('wav2vec2-base-960h', { $audio: [0, 0, 0], sampleRate: 16000 }, { language: 'en' }),
      ).toMatchObject({
        ok: false,
        name: 'DataError',
        message: expect.stringMatching(/language/),
      });
      expect(await run('wav2vec2-base-960h', 'hello')).toMatchObject({
        ok: false,
        name: 'DataError',
        message: expect.stringMatching(/audio/),
      });
    });
  });

  describe('t5-small by id (text2text-generation)', () => {
    const T5_REPO = 'Xenova/t5-small';
    const t5 = t5HubFiles();
    const { input, text } = T5_EXAMPLES.animals;
    beforeAll(() => mirrorRepo(ctx().server, PREFIX, T5_REPO, t5));

    it("a prompt → encoder, decoder with the KV cache → the known text at the profile's 4-bit, the tokens of a greedy reference in Node on the same bytes; streamed; bad options named", async () => {
      const r = await run('t5-small', input);
      expect(r.ok, r.message).toBe(true);
      expect(r.output).toMatchObject({ text, finishReason: 'stop' });
      expect(r.metrics).toMatchObject({ quantizationBits: 4, mixedPrecision: true });
      expect(r.metrics.timeToFirstTokenMs).toBeGreaterThan(0);
      // Greedy decoding written in the test support, no cache, on onnxruntime-node and the profile's 4-bit bytes.
      const quantized: Record<string, Uint8Array | string> = { ...t5 };
      for (const file of ['onnx/encoder_model.onnx', 'onnx/decoder_model.onnx'])
        quantized[file] = prepareModel(t5[file] as Uint8Array, TEXT_POLICY).bytes;
      expect(r.output.tokens).toEqual(await t5ReferenceGreedy(quantized, input));

      const streamed: Json = await ctx().page.evaluate(
        async ({ input }) => {
          const s = (window as any).webq.stream('t5-small', input, { stop: ['Haus'] });
          const chunks: string[] = [];
          for (const reader = s.getReader(); ;) {
            const { done, value } = await reader.read();
            if (done) break;
            chunks.push(value);
          }
          return { chunks, result: (await s.result).output };
        },
        { input },
      );
      expect(streamed.chunks.length).toBeGreaterThan(1);
      expect(streamed.chunks.join('')).toBe(streamed.result.text);
      expect(streamed.result.text).toBe(text.slice(0, text.indexOf('Haus')));

      expect(await run('t5-small', input, { topP: 2 })).toMatchObject({
        ok: false,
        name: 'DataError',
        message: expect.stringMatching(/topP/),
      });
      expect(await run('t5-small', input, { language: 'de' })).toMatchObject({
        ok: false,
        name: 'DataError',
        message: expect.stringMatching(/language/),
      });
    });
  });

  describe('profiles', () => {
    it('pages cannot calibrate or see a calibration: no webq.calibrate, a forged request is refused, no flag', async () => {
      // A global, timed calibration would let sites recognise each other (SPEC §3): it is an options-page action.
      expect(await ctx().page.evaluate(() => typeof (window as any).webq.calibrate, null)).toBe('undefined');
      const forged: Json = await ctx().page.evaluate(
        (host) =>
          new Promise((resolve) => {
            const id = `cal-${Math.random().toString(36).slice(2)}`;
            const onMessage = (e: MessageEvent) => {
              const m = e.data?.message;
              if (e.source !== window || e.data?.tag !== 'webq:bridge' || m?.id !== id || m.type === 'progress') return;
              window.removeEventListener('message', onMessage);
              resolve(m);
            };
            window.addEventListener('message', onMessage);
            window.postMessage(
              { tag: 'webq:page', message: { type: 'request', id, method: 'calibrate', params: {} } },
              location.origin,
            );
            // The in-page engine has no bridge to answer: after a second of silence, say so.
            if (host === 'page') setTimeout(() => resolve('no answer'), 1000);
          }),
        ctx().host,
      );
      if (ctx().host === 'extension')
        expect(forged).toMatchObject({
          type: 'error',
          error: { name: 'NotAllowedError', message: expect.stringMatching(/options page/) },
        });
      // No bridge listens to window messages in a page without the extension, and its engine has no calibrate.
      else expect(forged).toBe('no answer');
      const caps: Json = await ctx().page.evaluate(() => (window as any).webq.capabilities(), null);
      expect(caps.profile).not.toHaveProperty('calibration');
      expect(caps.profile.name).not.toMatch(/calibrated/);
    });
  });
}
