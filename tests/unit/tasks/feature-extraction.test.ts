/**
 * The feature-extraction pipeline on a generated small BERT (tools/hub-models/bert.ts), run on
 * onnxruntime-node's CPU EP: tokens, mean pooling over the mask, padding that changes nothing, normalize, input
 * errors, and the same embeddings (by cosine) after webq rewrites the model's weights to 8 and 4 bits.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import { prepareModel } from '../../../extension/host/prepare';
import { makePolicy, type PrecisionPolicy } from '../../../extension/onnx/index';
import { parseModel, serializeModel } from '../../../extension/onnx/model';
import { DataType, rawTensor } from '../../../extension/onnx/tensor';
import { cosine, maxAbsDiff } from '../../../extension/shared/compare';
import type { WireInput } from '../../../extension/shared/protocol';
import { featureExtraction, type FeatureExtractionOutput } from '../../../extension/tasks/feature-extraction';
import {
  BERT_CONFIG,
  BERT_EXAMPLES,
  BERT_SPECIAL,
  BERT_VOCAB,
  bertHubFiles,
  bertTokenId,
  bertTokenizerConfig,
} from '../../../tools/hub-models/bert';
import { type HubFiles, runPipeline } from '../../support/node-pipeline';

const HIDDEN = BERT_CONFIG.hidden;
const text = (...strings: string[]): WireInput => ({ kind: 'text', text: strings, batched: strings.length > 1 });

async function embed(
  input: WireInput,
  options: Record<string, unknown> = {},
  hub: HubFiles = bertHubFiles(),
  graphs: Record<string, Uint8Array> = {},
) {
  const { output } = await runPipeline(featureExtraction, hub, input, options, graphs);
  return output as FeatureExtractionOutput;
}

const row = (out: FeatureExtractionOutput, b: number) => out.embeddings.subarray(b * HIDDEN, (b + 1) * HIDDEN);
const norm = (v: ArrayLike<number>) => Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0));

/** The pooling written again from the SPEC's words: average the hidden rows whose attention mask is 1. */
function meanOverMask(out: FeatureExtractionOutput): Float32Array {
  const [batch, tokens, width] = out.lastHiddenState.dims;
  const result = new Float32Array(batch * width);
  for (let b = 0; b < batch; b++) {
    const mask = Array.from({ length: tokens }, (_, t) => (t < out.tokens[b]!.length ? 1 : 0));
    const count = mask.reduce((s: number, m) => s + m, 0);
    for (let t = 0; t < tokens; t++) {
      for (let h = 0; h < width; h++)
        result[b * width + h]! += (mask[t]! * out.lastHiddenState.data[(b * tokens + t) * width + h]!) / count;
    }
  }
  return result;
}

async function expectRejection(run: Promise<unknown>, name: string, message: RegExp) {
  const err = await run.then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  expect(err, 'the run should have been rejected').toBeInstanceOf(Error);
  expect(err!.name).toBe(name);
  expect(err!.message).toMatch(message);
}

test('the pipeline declares the hub layout of Xenova/bert-base-uncased and takes normalize', () => {
  expect(featureExtraction.task).toBe('feature-extraction');
  expect(featureExtraction.modality).toBe('text');
  expect(featureExtraction.graphs).toEqual({ model: 'onnx/model.onnx' });
  expect(featureExtraction.runOptions).toEqual(['normalize']);
});

describe('tokens', () => {
  test("'Example input text' is [CLS] example input text [SEP]", async () => {
    const out = await embed(text(BERT_EXAMPLES.example.text));
    const expected = ['[CLS]', 'example', 'input', 'text', '[SEP]'].map(bertTokenId);
    expect(BERT_EXAMPLES.example.ids).toEqual(expected);
    expect(out.tokens).toEqual([expected]);
    expect(out.dims).toEqual([1, HIDDEN]);
    expect(out.lastHiddenState.dims).toEqual([1, 5, HIDDEN]);
    expect(out.embeddings).toBeInstanceOf(Float32Array);
    expect(out.embeddings.length).toBe(HIDDEN);
    expect(out.lastHiddenState.type).toBe('float32');
  });

  test('lower-casing, punctuation split off and ## pieces, as BERT tokenises', async () => {
    const out = await embed(text(BERT_EXAMPLES.fox.text, 'Embeddings!'));
    expect(out.tokens[0]).toEqual(BERT_EXAMPLES.fox.ids);
    expect(out.tokens[0]!.map((id) => BERT_VOCAB[id])).toEqual([
      '[CLS]',
      'the',
      'quick',
      'brown',
      'fox',
      'jump',
      '##s',
      'over',
      'the',
      'lazy',
      'dog',
      '.',
      '[SEP]',
    ]);
    expect(out.tokens[1]!.map((id) => BERT_VOCAB[id])).toEqual(['[CLS]', 'embed', '##ding', '##s', '!', '[SEP]']);
  });

  test('a word with no piece in the vocab is [UNK]', async () => {
    const out = await embed(text(BERT_EXAMPLES.unknown.text));
    expect(out.tokens).toEqual([BERT_EXAMPLES.unknown.ids]);
    expect(out.tokens[0]![2]).toBe(BERT_SPECIAL.unk);
  });

  test('a text longer than the model takes is cut to max_position_embeddings, keeping [CLS] and [SEP]', async () => {
    const words = Array.from({ length: 100 }, (_, i) => BERT_VOCAB[5 + (i % 40)]).join(' ');
    const out = await embed(text(words));
    const ids = out.tokens[0]!;
    expect(ids.length).toBe(BERT_CONFIG.maxPositions);
    expect(ids[0]).toBe(BERT_SPECIAL.cls);
    expect(ids.at(-1)).toBe(BERT_SPECIAL.sep);
    expect(ids.slice(1, 6)).toEqual([5, 6, 7, 8, 9]);
    expect(out.lastHiddenState.dims).toEqual([1, BERT_CONFIG.maxPositions, HIDDEN]);
  });

  test("tokenizer_config's model_max_length limits the length when it is the smaller", async () => {
    const hub = {
      ...bertHubFiles(),
      'tokenizer_config.json': JSON.stringify({ ...bertTokenizerConfig(), model_max_length: 8 }),
    };
    const out = await embed(text(BERT_EXAMPLES.fox.text), {}, hub);
    expect(out.tokens[0]).toEqual([...BERT_EXAMPLES.fox.ids.slice(0, 7), BERT_SPECIAL.sep]);
  });
});

describe('embeddings', () => {
  test('are the mean of the hidden state over the attention mask, per input', async () => {
    const out = await embed(text(BERT_EXAMPLES.example.text, BERT_EXAMPLES.fox.text, 'hello'));
    expect(out.dims).toEqual([3, HIDDEN]);
    expect(out.lastHiddenState.dims).toEqual([3, BERT_EXAMPLES.fox.ids.length, HIDDEN]);
    expect(maxAbsDiff(out.embeddings, meanOverMask(out))).toBeLessThan(1e-6);
    // Not the mean over every row, padding included: that would differ for the padded inputs.
    expect(norm(row(out, 0))).toBeGreaterThan(0.1);
  });

  test('an input embeds the same alone and batched with a longer one (padding is masked)', async () => {
    const alone = await embed(text(BERT_EXAMPLES.example.text));
    const batched = await embed(text(BERT_EXAMPLES.example.text, BERT_EXAMPLES.fox.text));
    expect(batched.lastHiddenState.dims[1]).toBeGreaterThan(alone.lastHiddenState.dims[1]); // it really was padded
    expect(batched.tokens[0]).toEqual(alone.tokens[0]);
    expect(maxAbsDiff(row(batched, 0), alone.embeddings)).toBeLessThan(1e-5);
    const foxAlone = await embed(text(BERT_EXAMPLES.fox.text));
    expect(maxAbsDiff(row(batched, 1), foxAlone.embeddings)).toBeLessThan(1e-5);
  });

  test('different texts give different embeddings', async () => {
    const out = await embed(text(BERT_EXAMPLES.example.text, BERT_EXAMPLES.fox.text));
    expect(cosine(row(out, 0), row(out, 1))).toBeLessThan(0.99);
  });

  test('normalize: true gives unit rows in the same direction', async () => {
    const input = text(BERT_EXAMPLES.example.text, BERT_EXAMPLES.fox.text);
    const raw = await embed(input);
    const unit = await embed(input, { normalize: true });
    for (const b of [0, 1]) {
      expect(Math.abs(norm(row(raw, b)) - 1)).toBeGreaterThan(1e-3);
      expect(norm(row(unit, b))).toBeCloseTo(1, 5);
      expect(cosine(row(unit, b), row(raw, b))).toBeCloseTo(1, 6);
    }
    expect(unit.lastHiddenState.data).toEqual(raw.lastHiddenState.data);
  });
});

describe('graph inputs', () => {
  test('feeds only the inputs the graph declares', async () => {
    // A variant whose token types are a constant [[0]] inside the graph: feeding token_type_ids would fail the run.
    const model = parseModel(bertHubFiles()['onnx/model.onnx'] as Uint8Array);
    model.graph!.input = model.graph!.input!.filter((i) => i.name !== 'token_type_ids');
    model.graph!.initializer!.push(rawTensor('token_type_ids', DataType.INT64, [1, 1], new Uint8Array(8)));
    const hub = { ...bertHubFiles(), 'onnx/model.onnx': serializeModel(model) };
    const reference = await embed(text(BERT_EXAMPLES.example.text));
    const out = await embed(text(BERT_EXAMPLES.example.text), {}, hub);
    expect(maxAbsDiff(out.embeddings, reference.embeddings)).toBeLessThan(1e-5);
  });

  test('an input it cannot feed is a DataError naming it', async () => {
    const model = parseModel(bertHubFiles()['onnx/model.onnx'] as Uint8Array);
    const positions = structuredClone(model.graph!.input![0]!);
    model.graph!.input!.push({ ...positions, name: 'position_ids' });
    const hub = { ...bertHubFiles(), 'onnx/model.onnx': serializeModel(model) };
    await expectRejection(embed(text('hello'), {}, hub), 'DataError', /position_ids.*cannot feed/);
  });
});

describe('bad input', () => {
  test.each<[string, WireInput]>([
    ['image', { kind: 'image', images: [{ width: 1, height: 1, data: new Uint8ClampedArray(4) }], batched: false }],
    ['audio', { kind: 'audio', audio: new Float32Array(16), sampleRate: 16000 }],
    [
      'tensors',
      { kind: 'tensors', tensors: { input_ids: { type: 'int64', dims: [1, 1], data: new BigInt64Array(1) } } },
    ],
  ])('%s input is a DataError saying the task takes text', async (kind, input) => {
    await expectRejection(
      embed(input),
      'DataError',
      new RegExp(`takes text \\(a string or an array of strings\\), got ${kind}`),
    );
  });

  test('an empty batch is a DataError', async () => {
    await expectRejection(embed({ kind: 'text', text: [], batched: true }), 'DataError', /empty array/);
  });

  test('more than 64 strings is a DataError naming the limit', async () => {
    await expectRejection(
      embed(text(...Array.from({ length: 65 }, () => 'hello'))),
      'DataError',
      /65 strings.*at most 64/,
    );
    const ok = await embed(text(...Array.from({ length: 64 }, () => 'hello')));
    expect(ok.dims).toEqual([64, HIDDEN]);
  });

  test('more than 100,000 characters in all is a DataError naming the limit', async () => {
    const long = 'hello '.repeat(10_000); // 60,000 characters
    await expectRejection(embed(text(long, long)), 'DataError', /120000 characters.*at most 100000/);
  });

  test('an unknown run option is refused before the pipeline runs', async () => {
    await expectRejection(embed(text('hello'), { topK: 3, normalise: true }), 'DataError', /normalise/);
  });
});

describe('bad model files', () => {
  test('no tokenizer.json is a NotFoundError naming it', async () => {
    const { 'tokenizer.json': _, ...hub } = bertHubFiles();
    await expectRejection(embed(text('hello'), {}, hub), 'NotFoundError', /tokenizer\.json/);
  });

  test.each([
    ['not JSON', '{"model": '],
    ['not an object', '[1, 2]'],
    [
      'no model',
      JSON.stringify({ added_tokens: [], normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null }),
    ],
  ])('a tokenizer.json that is %s is a DataError naming it', async (_, contents) => {
    await expectRejection(
      embed(text('hello'), {}, { ...bertHubFiles(), 'tokenizer.json': contents }),
      'DataError',
      /tokenizer\.json/,
    );
  });

  test('a tokenizer_config.json that is not JSON is a DataError naming it', async () => {
    await expectRejection(
      embed(text('hello'), {}, { ...bertHubFiles(), 'tokenizer_config.json': 'nope' }),
      'DataError',
      /tokenizer_config\.json/,
    );
  });

  test('without tokenizer_config.json and config.json it still runs, up to 512 tokens', async () => {
    const { 'tokenizer_config.json': _a, 'config.json': _b, ...hub } = bertHubFiles();
    const out = await embed(text(BERT_EXAMPLES.example.text), {}, hub);
    expect(out.tokens).toEqual([BERT_EXAMPLES.example.ids]);
  });
});

describe('on the weights webq rewrites', () => {
  const inputs = text(BERT_EXAMPLES.example.text, BERT_EXAMPLES.fox.text, BERT_EXAMPLES.unknown.text, 'a good day');
  let fp32: FeatureExtractionOutput;
  beforeAll(async () => {
    fp32 = await embed(inputs);
  });

  const rewritten = (policy: PrecisionPolicy) => prepareModel(bertHubFiles()['onnx/model.onnx'] as Uint8Array, policy);

  test.each<[string, PrecisionPolicy, number]>([
    ['8-bit', makePolicy({ bits: 8, groupSize: 32 }), 0.99],
    ['8-bit asymmetric', makePolicy({ bits: 8, groupSize: 32, scheme: 'asymmetric' }), 0.99],
    ['4-bit', makePolicy({ bits: 4, groupSize: 32 }), 0.95],
    ['4-bit mixed precision', makePolicy({ bits: 4, groupSize: 32, mixedPrecision: true }), 0.97],
  ])('%s embeddings stay close to fp32', async (_, policy, bound) => {
    const prepared = rewritten(policy);
    const matmuls = prepared.report.weights.filter((w) => w.format === 'MatMulNBits');
    expect(matmuls.length).toBe(12); // q, k, v, o, up, down in each of 2 layers
    const out = await embed(inputs, {}, bertHubFiles(), { model: prepared.bytes });
    expect(out.tokens).toEqual(fp32.tokens);
    expect(maxAbsDiff(out.embeddings, fp32.embeddings)).toBeGreaterThan(0); // the rewritten graph is what ran
    for (let b = 0; b < 4; b++) expect(cosine(row(out, b), row(fp32, b))).toBeGreaterThanOrEqual(bound);
  });

  test('mixed precision finds the attention projections and the embedding tables of the graph', () => {
    const { report } = rewritten(makePolicy({ bits: 4, groupSize: 32, mixedPrecision: true }));
    const byRole = (role: string) => report.weights.filter((w) => w.role === role);
    expect(byRole('attention').map((w) => w.precision)).toEqual(Array(8).fill(8));
    expect(byRole('embedding').map((w) => [w.format, w.precision])).toEqual(Array(3).fill(['GatherBlockQuantized', 8]));
    expect(byRole('linear').map((w) => w.precision)).toEqual(Array(4).fill(4));
    expect(report.modelBytes).toBeLessThan(report.originalBytes / 3);
  });
});
