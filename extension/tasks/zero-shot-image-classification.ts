/**
 * zero-shot-image-classification (SPEC §5, `clip-vit-base-patch32`): an image and candidate texts → each candidate's
 * probability, `{ labels: { label, score }[] }` sorted by score (a batch of images gives one per image).
 *
 * Each candidate is put in `hypothesisTemplate` (default 'This is a photo of {}.', as transformers.js does),
 * tokenised with the model's CLIP BPE tokenizer (start and end tokens, at most 77, padded to the longest), and
 * the joint graph `onnx/model.onnx` scores every image against every text in one run: `logits_per_image` [images,
 * texts] = the learned logit scale × the cosine of the two towers' embeddings; a softmax over the texts gives the
 * scores. The joint graph rather than the two tower graphs because the learned logit scale lives only in it
 * (config.json carries its initial value, not the trained one), and it holds both towers in one file, so the task
 * downloads one graph. (image-feature-extraction needs only the image tower: it fetches vision_model.onnx.)
 */
import { dataError } from '../shared/errors';
import { readObject } from './model-files';
import { clipPreprocessing, matrixOutput, pixelFeed } from './clip';
import { batchFeeds, encode, makeTokenizer, maxLengthOf, type FeatureExtractionAssets } from './feature-extraction';
import { toFloats, type ImageClassificationOutput, type ScoredLabel } from './image-classification';
import type { ImagePreprocessing } from './image-preprocess';
import type { TaskPipeline } from './types';

export const DEFAULT_HYPOTHESIS_TEMPLATE = 'This is a photo of {}.';

export interface ZeroShotAssets {
  pre: ImagePreprocessing;
  text: FeatureExtractionAssets;
}

/** The pad token's id: tokenizer_config.json's pad_token (a string or `{ content }`), else CLIP's end token. */
async function padId(text: Omit<FeatureExtractionAssets, 'padId'>, config: Record<string, unknown>): Promise<number> {
  const named = config.pad_token;
  const pad =
    typeof named === 'string'
      ? named
      : typeof (named as { content?: unknown } | null)?.content === 'string'
        ? (named as { content: string }).content
        : undefined;
  const [id, end] = await text.tokenizer.tokenToId([pad ?? '<|endoftext|>', '<|endoftext|>']);
  return id ?? end ?? 0;
}

/** Softmax of one row of logits (float64, max subtracted), as labels sorted by score, ties in candidate order. */
function scored(logits: Float32Array, labels: readonly string[]): ScoredLabel[] {
  const max = Math.max(...logits);
  const exps = Array.from(logits, (v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps
    .map((e, i) => ({ label: labels[i]!, score: e / sum }))
    .sort((a, b) => b.score - a.score || labels.indexOf(a.label) - labels.indexOf(b.label));
}

export const zeroShotImageClassification: TaskPipeline<ZeroShotAssets> = {
  task: 'zero-shot-image-classification',
  // Its input is an image: the profile's vision defaults apply (8-bit, shaders compiled at load).
  modality: 'vision',
  graphs: Object.freeze({ model: 'onnx/model.onnx' }),
  runOptions: Object.freeze(['candidateLabels', 'hypothesisTemplate'] as const),

  async prepare(files) {
    const pre = await clipPreprocessing(files);
    const tokenizerJson = await readObject(files, 'tokenizer.json', true);
    const tokenizerConfig = (await readObject(files, 'tokenizer_config.json', false)) ?? {};
    const modelConfig = (await readObject(files, 'config.json', false)) ?? {};
    const textConfig = modelConfig.text_config;
    const tokenizer = await makeTokenizer(tokenizerJson, tokenizerConfig);
    const maxLength = maxLengthOf(
      tokenizerConfig,
      typeof textConfig === 'object' && textConfig !== null ? (textConfig as Record<string, unknown>) : {},
    );
    return { pre, text: { tokenizer, maxLength, padId: await padId({ tokenizer, maxLength }, tokenizerConfig) } };
  },

  async run({ pre, text }, input, options, graphs) {
    const labels = options.candidateLabels;
    if (!labels)
      throw dataError(
        "zero-shot-image-classification needs option candidateLabels: the texts to score the image against, e.g. ['cat', 'dog']",
      );
    const template = options.hypothesisTemplate ?? DEFAULT_HYPOTHESIS_TEMPLATE;
    const images = pixelFeed(input, pre, graphs, 'model', 'zero-shot-image-classification');
    const sequences = await encode(
      text,
      labels.map((label) => template.replace('{}', label)),
    );
    const io = graphs.io('model');
    const textInputs = io.inputs.filter((i) => i.name !== images.name);
    const { feeds } = batchFeeds(sequences, text.padId, textInputs);
    const outputs = await graphs.run('model', { ...feeds, [images.name]: images.feed });
    const logits = matrixOutput(outputs, 'logits_per_image', images.count);
    if (logits.dims[1] !== labels.length)
      throw dataError(`the model scored ${logits.dims[1]} texts for ${labels.length} candidate labels`);
    const values = toFloats(logits);
    const results: ImageClassificationOutput[] = Array.from({ length: images.count }, (_, i) => ({
      labels: scored(values.subarray(i * labels.length, (i + 1) * labels.length), labels),
    }));
    return images.batched ? results : results[0]!;
  },
};
