/**
 * webq's own decode engine (extension/native/) against onnxruntime-node (CPU EP) on the same prepared graphs: the
 * generated Qwen2 (q/k/v biases, 151,936-wide logits past its tokenizer), Llama (tied head over 128,256 rows),
 * Llama with GroupQueryAttention (the graph's own rotary caches) and Qwen3 (per-head q/k norms, head_dim apart from
 * hidden / heads), quantized by the engine's rewrite at 2, 4 and 8 bits (each model at one width by default, all
 * twelve pairs with WEBQ_NATIVE_MATRIX=full). Greedy tokens must be
 * identical to onnxruntime's, through a prefill in several chunks and single-token decode steps with the cache
 * growing past its first allocation; the prefill's last logits agree within float tolerance; two sequences stepped
 * at once each give their own tokens. Graphs the engine cannot run natively say why.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareModel } from '../../extension/host/prepare';
import { parseModel } from '../../extension/onnx/model';
import { makePolicy } from '../../extension/onnx/policy';
import { NativeDecoder } from '../../extension/native/decoder';
import { concatColumns, sliceColumns } from '../../kernels/index';
import type { QuantizedWeight } from '../../kernels/layout';
import {
  isNotNative,
  nativeConfig,
  readDecoderWeights,
  type DecoderWeights,
} from '../../extension/native/decoder-weights';
import { createCache } from '../../extension/tasks/generation/decode-loop';
import {
  decodeSpeed,
  generateText,
  promptIds,
  textGeneration,
  type GenerationInput,
  type TextGenerationAssets,
} from '../../extension/tasks/generation/index';
import type { GraphRunner, NativeStepper, TaskPipeline } from '../../extension/tasks/types';
import type { HubFiles } from '../../tools/hub-mirror';
import { llamaHubFiles } from '../../tools/hub-models/llama';
import { llamaGqaHubFiles } from '../../tools/hub-models/llama-gqa';
import { qwen2HubFiles } from '../../tools/hub-models/qwen2';
import { qwen3HubFiles } from '../../tools/hub-models/qwen3';
import { filesFrom, nodeRunner } from '../support/node-pipeline';
import { getDevice, noGpuErrors } from './gpu';

const INPUT: GenerationInput = {
  kind: 'messages',
  messages: [{ role: 'user', content: 'Name three colours of the rainbow, please.' }],
};
const STEPS = 10;
const MORE: GenerationInput = { kind: 'text', text: ['And then?'], batched: false };
const pipeline = textGeneration as unknown as TaskPipeline;

let device: GPUDevice;
beforeAll(async () => {
  device = await getDevice(true);
});
const decoders: NativeDecoder[] = [];
afterAll(() => decoders.forEach((d) => d.destroy()));

const json = (hub: HubFiles, name: string) => {
  const f = hub[name]!;
  return JSON.parse(typeof f === 'string' ? f : new TextDecoder().decode(f)) as Record<string, unknown>;
};

async function setUp(hub: HubFiles, bits: 2 | 4 | 8, scheme: 'symmetric' | 'asymmetric') {
  const assets: TextGenerationAssets = await textGeneration.prepare(filesFrom(hub));
  const policy = makePolicy({ bits, scheme, groupSize: 32, skipLayerNorm: true });
  const bytes = prepareModel(hub['onnx/model.onnx'] as Uint8Array, policy).bytes;
  const weights = readDecoderWeights(parseModel(bytes), assets.config, nativeConfig(json(hub, 'config.json')));
  if (isNotNative(weights)) throw new Error(weights.notNative);
  return { assets, bytes, weights };
}

/** Greedy ids from the native decoder: the prompt in chunks of `chunk`, then one token per step. */
async function nativeGreedy(
  weights: DecoderWeights,
  assets: TextGenerationAssets,
  prompt: number[],
  chunk: number,
): Promise<number[]> {
  const decoder = new NativeDecoder(device, weights, {
    maxPositions: assets.config.contextWindow,
    chunk,
    initialCapacity: 16,
  });
  decoders.push(decoder);
  const out: number[] = [];
  let ids = prompt;
  let fed = 0;
  for (;;) {
    const { token } = await decoder.run(ids, 'token', assets.vocabLimit);
    fed += ids.length;
    if (assets.config.eosIds.includes(token!)) break;
    out.push(token!);
    if (out.length === STEPS) break;
    ids = [token!];
  }
  expect(decoder.length).toBe(fed);
  return out;
}

const MODELS: Record<string, () => HubFiles> = {
  Qwen2: () => qwen2HubFiles(),
  Llama: () => llamaHubFiles(),
  'Llama with GroupQueryAttention': () => llamaGqaHubFiles(),
  Qwen3: () => qwen3HubFiles(),
};
const WIDTHS = [
  [2, 'asymmetric'],
  [4, 'symmetric'],
  [8, 'asymmetric'],
] as const;
/**
 * Each model at one width and each width on at least one model (about 25 s here); WEBQ_NATIVE_MATRIX=full runs all
 * twelve (about a minute), as before a change to the native engine or its kernels lands.
 */
const CASES =
  process.env.WEBQ_NATIVE_MATRIX === 'full'
    ? Object.keys(MODELS).flatMap((m) => WIDTHS.map(([bits, scheme]) => [m, bits, scheme] as const))
    : Object.keys(MODELS).map((m, i) => [m, ...WIDTHS[i % WIDTHS.length]!] as const);

describe('the native decoder', () => {
  it.each(CASES)(
    '%s at %i bits (%s): greedy tokens identical to onnxruntime’s',
    async (name, bits, scheme) => {
      const hub = MODELS[name]!();
      const { assets, bytes, weights } = await setUp(hub, bits, scheme);
      const prompt = await promptIds(assets, INPUT);
      expect(prompt.length).toBeGreaterThan(16); // several chunks, and the cache grows past 16 positions
      const runner = await nodeRunner(pipeline, hub, { model: bytes });
      try {
        const ort = await generateText(assets, INPUT, { maxNewTokens: STEPS }, runner);
        expect(ort.tokens.length).toBeGreaterThan(2);
        const native = await noGpuErrors(device, () => nativeGreedy(weights, assets, prompt, 7));
        expect(native).toEqual(ort.tokens);
      } finally {
        await runner.release();
      }
    },
    120_000,
  );
});

describe('fusions: the same tokens and logits as the kernels run apart', () => {
  /** Four greedy steps from `first`, after whatever `d` holds. */
  async function greedy(d: NativeDecoder, first: number, vocabLimit: number): Promise<number[]> {
    const tokens = [];
    let ids = [first];
    for (let i = 0; i < 4; i++) {
      tokens.push(ids[0]!);
      ids = [(await d.run(ids, 'token', vocabLimit)).token!];
    }
    return tokens;
  }
  /** Both arms' greedy tokens equal and their logits within `relative` (plus a floor of relative / 10). */
  async function expectSameArms(
    run: (fused: boolean) => Promise<{ logits: Float32Array; tokens: number[] }>,
    relative: number,
  ): Promise<void> {
    const fused = await noGpuErrors(device, () => run(true));
    const apart = await noGpuErrors(device, () => run(false));
    expect(fused.tokens).toEqual(apart.tokens);
    let worst = 0;
    for (let i = 0; i < fused.logits.length; i++)
      worst = Math.max(
        worst,
        Math.abs(fused.logits[i]! - apart.logits[i]!) / (relative * Math.abs(apart.logits[i]!) + relative / 10),
      );
    expect(worst).toBeLessThanOrEqual(1);
  }

  it('gate and up as one matmul: the prefill logits and greedy tokens of two (Llama, 4 bits)', async () => {
    const { assets, weights } = await setUp(llamaHubFiles(), 4, 'symmetric');
    const prompt = await promptIds(assets, INPUT);
    await expectSameArms(async (fuseGateUp) => {
      const d = new NativeDecoder(device, weights, { maxPositions: assets.config.contextWindow, fuseGateUp });
      decoders.push(d);
      expect(d.fusedGateUp).toBe(fuseGateUp);
      const { logits } = await d.run(prompt, 'logits', assets.vocabLimit);
      const first = (await d.run([1], 'token', assets.vocabLimit)).token!;
      return { logits: logits!, tokens: await greedy(d, first, assets.vocabLimit) };
    }, 1e-5);
  }, 60_000);

  it("the RMSNorms inside the decode GEMVs: one step's logits and greedy tokens of norms run apart (Qwen2, 4 bits)", async () => {
    const { assets, weights } = await setUp(qwen2HubFiles(), 4, 'asymmetric');
    const prompt = await promptIds(assets, INPUT);
    await expectSameArms(async (fuseNorm) => {
      const d = new NativeDecoder(device, weights, { maxPositions: assets.config.contextWindow, fuseNorm });
      decoders.push(d);
      const first = (await d.run(prompt, 'token', assets.vocabLimit)).token!; // prefill: the GEMM, norms apart
      const { logits } = await d.run([first], 'logits', assets.vocabLimit); // one step: T = 1, the GEMV
      let best = 0;
      for (let i = 1; i < logits!.length; i++) if (logits![i]! > logits![best]!) best = i;
      return { logits: logits!, tokens: await greedy(d, best, assets.vocabLimit) };
    }, 1e-4);
  }, 60_000);

  it('concatColumns puts weights side by side only where they fit together', () => {
    const w = (over: Partial<QuantizedWeight> = {}): QuantizedWeight => ({
      bits: 4,
      scheme: 'symmetric',
      K: 32,
      N: 2,
      blockSize: 32,
      groupSize: 32,
      kBlocks: 1,
      data: new Uint8Array(32).fill(1),
      scales: Float32Array.of(1, 2),
      ...over,
    });
    const both = concatColumns(w(), w({ N: 1, data: new Uint8Array(16).fill(2), scales: Float32Array.of(3) }))!;
    expect(both.N).toBe(3);
    expect(Array.from(both.scales)).toEqual([1, 2, 3]);
    expect(Array.from(both.data.subarray(30, 34))).toEqual([1, 1, 2, 2]);
    expect(concatColumns(w(), w({ bits: 8 }))).toBeUndefined();
    expect(concatColumns(w(), w({ K: 64 }))).toBeUndefined();
    expect(concatColumns(w({ groupSize: -1 }), w({ groupSize: -1 }))).toBeUndefined();
  });

  it('sliceColumns takes back the columns concatColumns put side by side', () => {
    const a: QuantizedWeight = {
      bits: 2,
      scheme: 'asymmetric',
      K: 64,
      N: 3,
      blockSize: 32,
      groupSize: 32,
      kBlocks: 2,
      data: Uint8Array.from({ length: 48 }, (_, i) => i),
      scales: Float32Array.from({ length: 6 }, (_, i) => i + 1),
      zeroPoints: Uint8Array.of(1, 2, 3),
    };
    const b: QuantizedWeight = {
      ...a,
      N: 2,
      data: new Uint8Array(32).fill(200),
      scales: Float32Array.of(7, 8, 9, 10),
      zeroPoints: Uint8Array.of(4, 5),
    };
    const both = concatColumns(a, b)!;
    for (const [part, from] of [
      [a, 0],
      [b, 3],
    ] as const) {
      const back = sliceColumns(both, from, part.N);
      expect(back.N).toBe(part.N);
      expect(Array.from(back.data)).toEqual(Array.from(part.data));
      expect(Array.from(back.scales)).toEqual(Array.from(part.scales));
      expect(Array.from(back.zeroPoints!)).toEqual(Array.from(part.zeroPoints!));
    }
    expect(() => sliceColumns(both, 4, 2)).toThrow(/not inside/);
  });
});

describe('a head larger than one binding', () => {
  it.each([
    ['Qwen2', 8, 'asymmetric'],
    ['Llama', 4, 'symmetric'],
  ] as const)(
    '%s: run in parts of whole rows, the same logits and tokens as in one part',
    async (name, bits, scheme) => {
      const { assets, weights } = await setUp(MODELS[name]!(), bits, scheme);
      const prompt = await promptIds(assets, INPUT);
      const head = weights.head;
      const headBytes =
        head.kind === 'rows'
          ? head.rows.byteLength
          : Math.max(head.linear.w.data.byteLength, head.linear.w.scales.byteLength);
      const run = async (maxBindingBytes?: number) => {
        const d = new NativeDecoder(device, weights, { maxPositions: assets.config.contextWindow, maxBindingBytes });
        decoders.push(d);
        const { logits } = await d.run(prompt, 'logits', assets.vocabLimit);
        const tokens = [(await d.run([1], 'token', assets.vocabLimit)).token!];
        while (tokens.length < 4) tokens.push((await d.run(tokens.slice(-1), 'token', assets.vocabLimit)).token!);
        return { logits: logits!, tokens, parts: d.headParts };
      };
      const whole = await noGpuErrors(device, () => run());
      const split = await noGpuErrors(device, () => run(Math.ceil(headBytes / 3)));
      expect(whole.parts).toBe(1);
      expect(split.parts).toBeGreaterThanOrEqual(3);
      expect(split.tokens).toEqual(whole.tokens);
      expect(Array.from(split.logits)).toEqual(Array.from(whole.logits)); // each row is computed alone either way
    },
    60_000,
  );
});

describe('native decoder logits', () => {
  it('equal onnxruntime’s last prefill row within float tolerance (Qwen2, 4 bits)', async () => {
    const hub = qwen2HubFiles();
    const { assets, bytes, weights } = await setUp(hub, 4, 'symmetric');
    const prompt = await promptIds(assets, INPUT);
    const runner = await nodeRunner(pipeline, hub, { model: bytes });
    let expected: Float32Array;
    try {
      const feeds: Record<string, import('../../extension/shared/tensor').Tensor> = {};
      const ids = (f: (i: number) => number) => ({
        type: 'int64' as const,
        dims: [1, prompt.length],
        data: BigInt64Array.from(prompt, (_, i) => BigInt(f(i))),
      });
      for (const input of runner.io('model').inputs) {
        if (input.name === 'input_ids') feeds[input.name] = ids((i) => prompt[i]!);
        else if (input.name === 'attention_mask') feeds[input.name] = ids(() => 1);
        else if (input.name === 'position_ids') feeds[input.name] = ids((i) => i);
        else
          feeds[input.name] = {
            type: 'float32',
            dims: [1, assets.config.kvHeads, 0, assets.config.headDim],
            data: new Float32Array(0),
          };
      }
      const logits = (await runner.run('model', feeds)).logits!;
      const width = logits.dims[2]!;
      expected = (logits.data as Float32Array).slice((prompt.length - 1) * width);
    } finally {
      await runner.release();
    }
    const decoder = new NativeDecoder(device, weights, { maxPositions: assets.config.contextWindow });
    decoders.push(decoder);
    const { logits } = await decoder.run(prompt, 'logits', assets.vocabLimit);
    expect(logits!.length).toBe(expected.length);
    let worst = 0,
      scale = 0;
    for (let i = 0; i < expected.length; i++) {
      worst = Math.max(worst, Math.abs(logits![i]! - expected[i]!));
      scale = Math.max(scale, Math.abs(expected[i]!));
    }
    expect(scale).toBeGreaterThan(0.1);
    expect(worst).toBeLessThan(1e-4 * scale + 1e-5);
  }, 60_000);
});

describe('graphs the native decoder does not run', () => {
  it('say why: fp32 projections (a policy at 32 bits)', async () => {
    const hub = qwen2HubFiles();
    const assets = await textGeneration.prepare(filesFrom(hub));
    const model = parseModel(hub['onnx/model.onnx'] as Uint8Array);
    const got = readDecoderWeights(model, assets.config, nativeConfig(json(hub, 'config.json')));
    expect(isNotNative(got) && got.notNative).toMatch(/MatMulNBits/);
  });

  it('say why: q norms without k norms (a Qwen3 graph with its k_norm weights taken out)', async () => {
    const hub = qwen3HubFiles();
    const { assets, bytes } = await setUp(hub, 4, 'symmetric');
    const model = parseModel(bytes);
    model.graph!.initializer = model.graph!.initializer!.filter((t) => !/k_norm/.test(t.name ?? ''));
    const got = readDecoderWeights(model, assets.config, nativeConfig(json(hub, 'config.json')));
    expect(isNotNative(got) && got.notNative).toMatch(/q\/k norm weights on some layers or of q or k only/);
  });

  it('refuse ids outside the vocabulary and sequences past the context', async () => {
    const { assets, weights } = await setUp(qwen2HubFiles(), 4, 'symmetric');
    const decoder = new NativeDecoder(device, weights, { maxPositions: 8 });
    decoders.push(decoder);
    await expect(decoder.run([weights.vocab], 'token', assets.vocabLimit)).rejects.toThrow(/outside the vocabulary/);
    await expect(
      decoder.run(
        Array.from({ length: 9 }, () => 1),
        'token',
        10,
      ),
    ).rejects.toThrow(/exceed the 8/);
    expect(decoder.length).toBe(0);
  });
});

describe('native decoder sequences', () => {
  it('two sequences stepped in turn (and at once) give the tokens each gives alone: the cache is rebuilt', async () => {
    const { assets, weights } = await setUp(qwen2HubFiles(), 4, 'symmetric');
    const decoder = new NativeDecoder(device, weights, { maxPositions: assets.config.contextWindow });
    decoders.push(decoder);
    const prompts = [
      await promptIds(assets, INPUT),
      await promptIds(assets, { kind: 'messages', messages: [{ role: 'user', content: 'Count to five.' }] }),
    ];
    const greedy = async (step: (seq: object, history: number[], ids: number[]) => Promise<number>) => {
      const seqs = prompts.map(() => ({}));
      const histories = prompts.map(() => [] as number[]);
      let next = prompts.map((p) => [...p]);
      const out: number[][] = prompts.map(() => []);
      for (let i = 0; i < 3; i++) {
        const tokens = await Promise.all(prompts.map((_, s) => step(seqs[s]!, histories[s]!, next[s]!)));
        tokens.forEach((t, s) => {
          histories[s]!.push(...next[s]!);
          out[s]!.push(t);
        });
        next = tokens.map((t) => [t]);
      }
      return out;
    };
    const stepped = (seq: object, history: number[], ids: number[]) =>
      decoder.step(seq, [...history], ids, 'token', assets.vocabLimit).then((r) => r.token!);
    const alone = await Promise.all(
      prompts.map(async (p) => {
        const own = new NativeDecoder(device, weights, { maxPositions: assets.config.contextWindow });
        decoders.push(own);
        const out: number[] = [];
        let ids = p;
        for (let i = 0; i < 3; i++) {
          out.push((await own.run(ids, 'token', assets.vocabLimit)).token!);
          ids = [out[i]!];
        }
        return out;
      }),
    );
    expect(alone[0]).not.toEqual(alone[1]);
    expect(await greedy(stepped)).toEqual(alone); // both sequences' steps are issued together each round
  }, 60_000);
});

describe('the decode loop on the native decoder', () => {
  it('gives onnxruntime’s tokens greedily and with seeded sampling (the top-k or the logits read back), and continues a cache', async () => {
    const hub = llamaHubFiles();
    const { assets, bytes, weights } = await setUp(hub, 4, 'symmetric');
    const runner = await nodeRunner(pipeline, hub, { model: bytes });
    const decoder = new NativeDecoder(device, weights, { maxPositions: assets.config.contextWindow });
    decoders.push(decoder);
    const wants: unknown[] = [];
    const stepper: NativeStepper = {
      step: (...args) => {
        wants.push(args[3]);
        return decoder.step(...args);
      },
    };
    const native: GraphRunner = { ...runner, native: () => stepper };
    try {
      for (const [options, want] of [
        [{ maxNewTokens: 6 }, 'token'],
        [{ maxNewTokens: 6, temperature: 0.8, topK: 40, seed: 7 }, { topK: 40 }],
        [{ maxNewTokens: 6, temperature: 1.5, topK: 50, topP: 0.9, seed: 3 }, { topK: 50 }],
        [{ maxNewTokens: 6, temperature: 0.8, topK: 40, repetitionPenalty: 1.3, seed: 7 }, 'logits'],
      ] as const) {
        const ort = await generateText(assets, INPUT, options, runner);
        wants.length = 0;
        expect((await generateText(assets, INPUT, options, native)).tokens, JSON.stringify(options)).toEqual(
          ort.tokens,
        );
        expect(wants[0]).toEqual(want);
      }
      // The top-k picked on the GPU (the default off CPU-emulated adapters like this one) gives the same tokens.
      const onGpu = new NativeDecoder(device, weights, { maxPositions: assets.config.contextWindow, topKOnGpu: true });
      decoders.push(onGpu);
      const sampled = { maxNewTokens: 4, temperature: 1.5, topK: 50, topP: 0.9, seed: 3 };
      expect((await generateText(assets, INPUT, sampled, { ...runner, native: () => onGpu })).tokens).toEqual(
        (await generateText(assets, INPUT, sampled, runner)).tokens,
      );
      // A cache continued with a second prompt: the same as one run over both.
      const cache = createCache();
      const first = await generateText(assets, INPUT, { maxNewTokens: 3 }, native, { cache });
      const again = await generateText(assets, MORE, { maxNewTokens: 3 }, native, { cache });
      const ortCache = createCache();
      expect((await generateText(assets, INPUT, { maxNewTokens: 3 }, runner, { cache: ortCache })).tokens).toEqual(
        first.tokens,
      );
      expect((await generateText(assets, MORE, { maxNewTokens: 3 }, runner, { cache: ortCache })).tokens).toEqual(
        again.tokens,
      );
      // A cache begun on one engine and continued on the other (an 'auto' choice made anew mid-session): the
      // history runs again on the second, and the tokens are those of either engine alone.
      for (const [one, other] of [
        [native, runner],
        [runner, native],
      ] as const) {
        const switched = createCache();
        expect((await generateText(assets, INPUT, { maxNewTokens: 3 }, one, { cache: switched })).tokens).toEqual(
          first.tokens,
        );
        expect((await generateText(assets, MORE, { maxNewTokens: 3 }, other, { cache: switched })).tokens).toEqual(
          again.tokens,
        );
      }
    } finally {
      await runner.release();
    }
  }, 90_000);

  it("times both engines' greedy decode for engine 'auto' (decodeSpeed): every probe step runs, eos or not", async () => {
    const hub = qwen2HubFiles();
    const { assets, bytes, weights } = await setUp(hub, 4, 'symmetric');
    const runner = await nodeRunner(pipeline, hub, { model: bytes });
    const decoder = new NativeDecoder(device, weights, { maxPositions: assets.config.contextWindow });
    decoders.push(decoder);
    try {
      const before = runner.calls.model ?? 0;
      const ort = await decodeSpeed(assets, runner);
      // One prefill, then 1 to 4 timed steps (a 300 ms budget): eos (whatever these weights pick) never ends it.
      expect((runner.calls.model ?? 0) - before).toBeGreaterThanOrEqual(2);
      expect((runner.calls.model ?? 0) - before).toBeLessThanOrEqual(5);
      expect(ort).toBeGreaterThan(0);
      expect(await decodeSpeed(assets, { ...runner, native: () => decoder })).toBeGreaterThan(0);
      const aborted = new AbortController();
      aborted.abort();
      await expect(decodeSpeed(assets, { ...runner, signal: aborted.signal })).rejects.toMatchObject({
        name: 'AbortError',
      });
    } finally {
      await runner.release();
    }
  }, 60_000);
});
