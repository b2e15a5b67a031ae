/**
 * CLIP's two tasks (clip-vit-base-patch32) on the generated test CLIP in Node (onnxruntime-node), each checked against
 * a reference that shares no code with webq's pipelines: pixels computed by hand (solid colours and a 224×224 image
 * that needs no resize), token ids from @huggingface/tokenizers directly, the graphs run on onnxruntime-node, the
 * softmax and cosines written out here.
 */
import * as ort from 'onnxruntime-node';
import { Tokenizer } from '@huggingface/tokenizers';
import { describe, expect, test } from 'vitest';
import { checkOptions } from '../../../extension/host/plan';
import { cosine } from '../../../extension/shared/compare';
import { normalizeOptions } from '../../../extension/shared/options';
import type { WireInput } from '../../../extension/shared/protocol';
import { pipelineFor } from '../../../extension/tasks';
import { imageFeatureExtraction } from '../../../extension/tasks/image-feature-extraction';
import { zeroShotImageClassification } from '../../../extension/tasks/zero-shot-image-classification';
import {
  CLIP_COLOURS,
  CLIP_EOS,
  CLIP_PREPROCESSOR_CONFIG,
  CLIP_PROJECTION,
  clipHubFiles,
  clipTokenId,
  clipTokenizerConfig,
  clipTokenizerJson,
} from '../../../tools/hub-models/clip';
import { runPipeline } from '../../support/node-pipeline';

type Rgba = { width: number; height: number; data: Uint8ClampedArray };
type Labels = { labels: { label: string; score: number }[] };

const hub = clipHubFiles();
const MEAN = CLIP_PREPROCESSOR_CONFIG.image_mean;
const STD = CLIP_PREPROCESSOR_CONFIG.image_std;
const SIDE = 224;

function fromFunction(width: number, height: number, rgb: (x: number, y: number) => readonly number[]): Rgba {
  const data = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set([...rgb(x, y), 255], (y * width + x) * 4);
  return { width, height, data };
}
const solid = (width: number, height: number, rgb: readonly number[]) => fromFunction(width, height, () => rgb);
/** Left half red, right half blue: already 224×224, so CLIPImageProcessor neither resizes nor crops it. */
const halves = () => fromFunction(SIDE, SIDE, (x) => (x < SIDE / 2 ? [255, 0, 0] : [0, 0, 255]));

/**
 * The pixel values by hand. Any solid image stays solid through resize and crop, so each value is
 * (v / 255 − mean) / std; an image of 224×224 is neither resized nor cropped, so each pixel maps alone.
 */
function handPixels(images: Rgba[]): ort.Tensor {
  const plane = SIDE * SIDE;
  const data = new Float32Array(images.length * 3 * plane);
  images.forEach((image, n) => {
    const at = (i: number, c: number) =>
      image.width === SIDE && image.height === SIDE ? image.data[i * 4 + c]! : image.data[c]!;
    for (let c = 0; c < 3; c++)
      for (let i = 0; i < plane; i++) data[(n * 3 + c) * plane + i] = (at(i, c) / 255 - MEAN[c]!) / STD[c]!;
  });
  return new ort.Tensor('float32', data, [images.length, 3, SIDE, SIDE]);
}

const tokenizer = new Tokenizer(clipTokenizerJson(), clipTokenizerConfig());

/** Token ids straight from the tokenizer library, right-padded with the end token (the pad token) and masked. */
function handText(texts: string[]): { input_ids: ort.Tensor; attention_mask: ort.Tensor } {
  const ids = texts.map((t) => tokenizer.encode(t).ids);
  const width = Math.max(...ids.map((r) => r.length));
  const flat = (f: (row: number[], j: number) => number) =>
    BigInt64Array.from(ids.flatMap((row) => Array.from({ length: width }, (_, j) => BigInt(f(row, j)))));
  return {
    input_ids: new ort.Tensor(
      'int64',
      flat((row, j) => row[j] ?? CLIP_EOS),
      [ids.length, width],
    ),
    attention_mask: new ort.Tensor(
      'int64',
      flat((row, j) => (j < row.length ? 1 : 0)),
      [ids.length, width],
    ),
  };
}

async function runGraph(file: string, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(hub[file] as Uint8Array);
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

const softmax = (row: number[]) => {
  const max = Math.max(...row);
  const e = row.map((v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
};

/** The reference scores of each image for each label: the joint graph's logits_per_image, softmaxed here. */
async function referenceScores(images: Rgba[], labels: string[], template = 'This is a photo of {}.') {
  const out = await runGraph('onnx/model.onnx', {
    ...handText(labels.map((l) => template.replace('{}', l))),
    pixel_values: handPixels(images),
  });
  const logits = Array.from(out.logits_per_image!.data as Float32Array);
  return images.map((_, i) => {
    const scores = softmax(logits.slice(i * labels.length, (i + 1) * labels.length));
    return Object.fromEntries(labels.map((l, j) => [l, scores[j]!]));
  });
}

const image = (...images: Rgba[]): WireInput => ({ kind: 'image', images, batched: false });
const batch = (...images: Rgba[]): WireInput => ({ kind: 'image', images, batched: true });
const COLOURS = Object.keys(CLIP_COLOURS);
const CANDIDATES = [...COLOURS, 'cat', 'dog'];

describe('the generated CLIP', () => {
  test('its tokenizer (read by @huggingface/tokenizers) makes each word one token, between start and end', () => {
    const { ids, tokens } = tokenizer.encode('This is a photo of Magenta.');
    expect(tokens).toEqual([
      '<|startoftext|>',
      'this</w>',
      'is</w>',
      'a</w>',
      'photo</w>',
      'of</w>',
      'magenta</w>',
      '.</w>',
      '<|endoftext|>',
    ]);
    expect(ids[6]).toBe(clipTokenId('magenta</w>'));
    for (const word of CANDIDATES) expect(tokenizer.encode(word).tokens.slice(1, -1)).toEqual([`${word}</w>`]);
  });

  test('its three graphs agree: the joint logits are 100 × the cosine of the two towers’ embeddings', async () => {
    const texts = ['a photo of red', 'blue', 'a dog'];
    const pixels = handPixels([solid(3, 5, CLIP_COLOURS.red!), halves()]);
    const text = (await runGraph('onnx/text_model.onnx', handText(texts))).text_embeds!;
    const vision = (await runGraph('onnx/vision_model.onnx', { pixel_values: pixels })).image_embeds!;
    const joint = await runGraph('onnx/model.onnx', { ...handText(texts), pixel_values: pixels });
    expect(text.dims).toEqual([3, CLIP_PROJECTION]);
    expect(vision.dims).toEqual([2, CLIP_PROJECTION]);
    expect(joint.logits_per_image!.dims).toEqual([2, 3]);
    const row = (t: ort.Tensor, i: number) =>
      (t.data as Float32Array).subarray(i * CLIP_PROJECTION, (i + 1) * CLIP_PROJECTION);
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 3; j++)
        expect((joint.logits_per_image!.data as Float32Array)[i * 3 + j]).toBeCloseTo(
          100 * cosine(row(vision, i), row(text, j)),
          3,
        );
  });
});

describe('zero-shot-image-classification', () => {
  test('a solid colour (resized and cropped from 6×4) is the candidate naming it; scores are the reference softmax', async () => {
    for (const [name, rgb] of Object.entries(CLIP_COLOURS)) {
      const { output } = await runPipeline(zeroShotImageClassification, hub, image(solid(6, 4, rgb)), {
        candidateLabels: CANDIDATES,
      });
      const { labels } = output as Labels;
      expect(labels[0]!.label).toBe(name);
      expect(labels.map((l) => l.label).sort()).toEqual([...CANDIDATES].sort());
      const [reference] = await referenceScores([solid(6, 4, rgb)], CANDIDATES);
      for (const { label, score } of labels) expect(score).toBeCloseTo(reference![label]!, 5);
    }
  });

  test('half red, half blue: scores between the candidates, sorted, equal to the reference; a custom template', async () => {
    const labels = ['red', 'blue', 'magenta', 'green'];
    const { output } = await runPipeline(zeroShotImageClassification, hub, image(halves()), {
      candidateLabels: labels,
    });
    const got = (output as Labels).labels;
    const [reference] = await referenceScores([halves()], labels);
    expect(got.map((l) => l.label)).toEqual([...labels].sort((a, b) => reference![b]! - reference![a]!));
    for (const { label, score } of got) expect(score).toBeCloseTo(reference![label]!, 5);
    expect(got[0]!.label).toBe('magenta'); // red + blue
    expect(got[1]!.score).toBeGreaterThan(1e-4); // not a one-hot: the test sees real probabilities
    expect(got.reduce((s, l) => s + l.score, 0)).toBeCloseTo(1, 6);

    const custom = await runPipeline(zeroShotImageClassification, hub, image(halves()), {
      candidateLabels: labels,
      hypothesisTemplate: '{}',
    });
    const [bare] = await referenceScores([halves()], labels, '{}');
    for (const { label, score } of (custom.output as Labels).labels) expect(score).toBeCloseTo(bare![label]!, 5);
    expect(bare!.blue).not.toBe(reference!.blue); // the template changed the texts the model saw
  });

  test('a batch gives one result per image, each as alone; the joint graph runs once', async () => {
    const images = [solid(8, 8, CLIP_COLOURS.green!), halves(), solid(2, 9, CLIP_COLOURS.black!)];
    const { output, calls } = await runPipeline(zeroShotImageClassification, hub, batch(...images), {
      candidate_labels: CANDIDATES,
    });
    const results = output as Labels[];
    expect(results.map((r) => r.labels[0]!.label)).toEqual(['green', 'magenta', 'black']);
    expect(calls).toEqual({ model: 1 });
    const references = await referenceScores(images, CANDIDATES);
    results.forEach((r, i) => {
      for (const { label, score } of r.labels) expect(score).toBeCloseTo(references[i]![label]!, 5);
    });
  });

  test('candidateLabels is required, and checked, with the option named', async () => {
    await expect(runPipeline(zeroShotImageClassification, hub, image(halves()))).rejects.toMatchObject({
      name: 'DataError',
      message: expect.stringMatching(/candidateLabels/),
    });
    for (const bad of [
      [],
      'red',
      ['red', 7],
      ['red', ''],
      ['  '],
      ['red', 'red'],
      Array(65)
        .fill('x')
        .map((x, i) => x + i),
      ['x'.repeat(201)],
    ])
      expect(() => normalizeOptions({ candidateLabels: bad }, 'run'), JSON.stringify(bad).slice(0, 40)).toThrow(
        expect.objectContaining({ name: 'DataError', message: expect.stringMatching(/candidateLabels/) }),
      );
    expect(() => normalizeOptions({ candidate_labels: [1] }, 'run')).toThrow(/candidate_labels\[0\]/);
    for (const bad of ['no placeholder', 5, `{}${'x'.repeat(200)}`])
      expect(() => normalizeOptions({ hypothesisTemplate: bad }, 'run')).toThrow(/hypothesisTemplate/);
    expect(() => normalizeOptions({ candidateLabels: ['a'] }, 'load')).toThrow(/candidateLabels is a run option/);
    expect(normalizeOptions({ candidateLabels: ['a', 'b'], hypothesis_template: 'a {}' }, 'run')).toEqual({
      candidateLabels: ['a', 'b'],
      hypothesisTemplate: 'a {}',
    });
  });

  test('options of other tasks are refused, and its own refused by other tasks', () => {
    const zs = pipelineFor('zero-shot-image-classification');
    expect(() => checkOptions({ topK: 3 }, zs, true)).toThrow(
      /topK does not apply to task "zero-shot-image-classification"/,
    );
    expect(() => checkOptions({ candidateLabels: ['a'] }, pipelineFor('image-classification'), true)).toThrow(
      /candidateLabels does not apply/,
    );
    expect(() => checkOptions({ candidateLabels: ['a'] }, pipelineFor('image-feature-extraction'), true)).toThrow(
      /candidateLabels does not apply/,
    );
    expect(() => checkOptions({ candidateLabels: ['a'], hypothesisTemplate: '{}' }, zs, true)).not.toThrow();
  });

  test('text input is a DataError naming what it takes', async () => {
    await expect(
      runPipeline(
        zeroShotImageClassification,
        hub,
        { kind: 'text', text: ['red'], batched: false },
        {
          candidateLabels: ['red'],
        },
      ),
    ).rejects.toMatchObject({ name: 'DataError', message: expect.stringMatching(/takes an image/) });
  });
});

describe('image-feature-extraction', () => {
  test('the image tower only: image_embeds as computed by onnxruntime-node from hand-made pixels; normalize', async () => {
    expect(Object.values(imageFeatureExtraction.graphs)).toEqual(['onnx/vision_model.onnx']);
    const images = [solid(6, 4, CLIP_COLOURS.yellow!), halves()];
    const reference = (await runGraph('onnx/vision_model.onnx', { pixel_values: handPixels(images) })).image_embeds!;
    const { output } = await runPipeline(imageFeatureExtraction, hub, batch(...images));
    const { embeddings, dims } = output as { embeddings: Float32Array; dims: number[] };
    expect(dims).toEqual([2, CLIP_PROJECTION]);
    const ref = reference.data as Float32Array;
    for (let i = 0; i < ref.length; i++) expect(embeddings[i]).toBeCloseTo(ref[i]!, 5);
    // Channels 0..2 are the image's mean colour, normalised: by hand for the yellow one.
    [255, 255, 0].forEach((v, c) => expect(embeddings[c]).toBeCloseTo((v / 255 - MEAN[c]!) / STD[c]!, 4));

    const unit = await runPipeline(imageFeatureExtraction, hub, image(halves()), { normalize: true });
    const row = (unit.output as { embeddings: Float32Array; dims: number[] }).embeddings;
    expect((unit.output as { dims: number[] }).dims).toEqual([1, CLIP_PROJECTION]);
    expect(Math.hypot(...row)).toBeCloseTo(1, 5);
    expect(cosine(row, ref.subarray(CLIP_PROJECTION))).toBeCloseTo(1, 6);
  });

  test('options of other tasks are refused; text is refused', async () => {
    expect(() => checkOptions({ topK: 3 }, imageFeatureExtraction, true)).toThrow(/topK does not apply/);
    await expect(
      runPipeline(imageFeatureExtraction, hub, { kind: 'text', text: ['red'], batched: false }),
    ).rejects.toMatchObject({
      name: 'DataError',
      message: expect.stringMatching(/image-feature-extraction takes an image/),
    });
  });
});
