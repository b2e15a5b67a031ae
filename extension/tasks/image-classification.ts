/**
 * image-classification (SPEC §5, `vit-base-patch16-224`): RGBA pixels → ViT preprocessing → logits → softmax →
 * the `topK` labels by score. Files in the layout of the hub repo Xenova/vit-base-patch16-224.
 */
import { dataError, WebqError } from '../shared/errors';
import { isTypedArrayOf, type Tensor } from '../shared/tensor';
import { float16BitsToFloat32, float32ToFloat16Bits } from '../quant/fp16';
import { parsePreprocessorConfig, pixelValues, type ImagePreprocessing, type Size } from './image-preprocess';
import type { GraphRunner, TaskPipeline } from './types';

export interface ImageClassificationAssets {
  pre: ImagePreprocessing;
  /** From config.json id2label; null when the model has none (labels are then LABEL_i, as transformers names them). */
  labels: string[] | null;
}

export interface ScoredLabel {
  label: string;
  score: number;
}
export interface ImageClassificationOutput {
  labels: ScoredLabel[];
}

/**
 * The whole batch goes through the graph as one run. ViT-base's largest activation is the MLP's [batch, 197, 3072]
 * float32 (2.4 MB per image); 32 images keep it under WebGPU's default 128 MiB storage-binding limit.
 */
export const MAX_BATCH = 32;
/** Source pixels of all images together: each is resampled on the host's CPU before the graph runs. */
export const MAX_PIXELS = 64e6;
export const DEFAULT_TOP_K = 5;
/** The size ViT-base was trained at, for a config that gives none and a graph without static dims. */
const DEFAULT_SIZE: Size = Object.freeze({ height: 224, width: 224 });

function parseLabels(config: unknown): string[] | null {
  if (config === undefined) return null;
  if (typeof config !== 'object' || config === null || Array.isArray(config))
    throw dataError('config.json must be a JSON object');
  const id2label = (config as Record<string, unknown>).id2label;
  if (id2label === undefined || id2label === null) return null;
  if (typeof id2label !== 'object' || Array.isArray(id2label))
    throw dataError('config.json id2label must be an object of index → label');
  const entries = Object.entries(id2label as Record<string, unknown>);
  const labels: string[] = new Array(entries.length);
  for (const [key, value] of entries) {
    // Keys are the logit indices as strings ("0", "1", …); each must name one of 0..n−1 so none is left unnamed.
    const i = /^(0|[1-9]\d*)$/.test(key) ? Number(key) : -1;
    if (i < 0 || i >= entries.length)
      throw dataError(
        `config.json id2label key ${JSON.stringify(key.slice(0, 40))} must be an index from 0 to ${entries.length - 1}`,
      );
    if (typeof value !== 'string') throw dataError(`config.json id2label[${key}] must be a string`);
    labels[i] = value;
  }
  return labels;
}

/** The graph's pixel input and logits output, by the names transformers exports, else the only one. */
function graphSignature(graphs: GraphRunner) {
  const io = graphs.io('model');
  const input = io.inputs.find((i) => i.name === 'pixel_values') ?? (io.inputs.length === 1 ? io.inputs[0] : undefined);
  const output = io.outputs.find((o) => o.name === 'logits') ?? (io.outputs.length === 1 ? io.outputs[0] : undefined);
  if (!input || io.inputs.length !== 1)
    throw dataError(
      `the model's inputs (${io.inputs.map((i) => i.name).join(', ')}) are not one image input such as pixel_values`,
    );
  if (!output)
    throw dataError(`the model has no logits output (its outputs: ${io.outputs.map((o) => o.name).join(', ')})`);
  if (input.type !== 'float32' && input.type !== 'float16')
    throw dataError(
      `the model's input ${input.name} is ${input.type}; image classification feeds float32 or float16 pixels`,
    );
  if (input.dims.length !== 4 || (typeof input.dims[1] === 'number' && input.dims[1] !== 3)) {
    throw dataError(
      `the model's input ${input.name} has dims [${input.dims.join(', ')}]; image classification feeds [batch, 3, height, width]`,
    );
  }
  const [batch, , h, w] = input.dims;
  const staticSize = typeof h === 'number' && typeof w === 'number' ? { height: h, width: w } : undefined;
  return { input, output, staticBatch: typeof batch === 'number' ? batch : undefined, staticSize };
}

export function checkImages(images: readonly { width: number; height: number; data: ArrayBufferView }[]): void {
  if (images.length === 0) throw dataError('input has no image');
  if (images.length > MAX_BATCH)
    throw dataError(`input has ${images.length} images; image classification takes at most ${MAX_BATCH} per call`);
  images.forEach(({ width, height }, i) => {
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1)
      throw dataError(`image ${i} has invalid dimensions ${width}×${height}`);
  });
  // Sizes first, bytes after: an oversized request is refused before anything reads its pixels.
  const pixels = images.reduce((n, { width, height }) => n + width * height, 0);
  if (pixels > MAX_PIXELS)
    throw dataError(
      `input has ${pixels} pixels in all; image classification takes at most ${MAX_PIXELS / 1e6} million per call (scale large images down first)`,
    );
  images.forEach(({ width, height, data }, i) => {
    // By tag, not instanceof: the pixels may come from another realm (see isTypedArrayOf).
    if (
      !(isTypedArrayOf(data, 'Uint8ClampedArray') || isTypedArrayOf(data, 'Uint8Array')) ||
      (data as Uint8Array).length !== width * height * 4
    ) {
      throw dataError(
        `image ${i} must have width·height·4 = ${width * height * 4} RGBA bytes, got ${(data as { length?: number }).length ?? 'none'}`,
      );
    }
  });
}

export function toFloats(t: Tensor): Float32Array {
  if (t.type === 'float32') return t.data as Float32Array;
  if (t.type === 'float16') return Float32Array.from(t.data as Uint16Array, float16BitsToFloat32);
  throw new WebqError('OperationError', `the model's logits are ${t.type}, not float`);
}

/** Scores of one row of logits, highest first; softmax in float64 after subtracting the maximum, so exp cannot
 * overflow. */
function topLabels(logits: Float32Array, labelOf: (i: number) => string, k: number): ScoredLabel[] {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  const exps = Array.from(logits, (v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  const order = exps.map((_, i) => i).sort((a, b) => exps[b]! - exps[a]! || a - b);
  return order.slice(0, k).map((i) => ({ label: labelOf(i), score: exps[i]! / sum }));
}

export const imageClassification: TaskPipeline<ImageClassificationAssets> = {
  task: 'image-classification',
  modality: 'vision',
  graphs: Object.freeze({ model: 'onnx/model.onnx' }),
  runOptions: Object.freeze(['topK'] as const),

  async prepare(files) {
    // Without preprocessor_config.json there is no saying how the model was trained to see; config.json only
    // names the labels, which have a fallback.
    const pre = parsePreprocessorConfig(await files.json('preprocessor_config.json'));
    const labels = parseLabels(await files.optionalJson('config.json'));
    return { pre, labels };
  },

  async run({ pre, labels }, input, options, graphs) {
    if (input.kind !== 'image')
      throw dataError(
        `image-classification takes an image (ImageData, ImageBitmap, Blob, HTMLImageElement or HTMLCanvasElement), not ${input.kind}`,
      );
    const { images, batched } = input;
    checkImages(images);
    if (!batched && images.length !== 1)
      throw dataError(`a single-image input carries ${images.length} images; pass an array to classify a batch`);
    const { input: pixelInput, output, staticBatch, staticSize } = graphSignature(graphs);
    if (
      staticSize &&
      pre.size &&
      !('shortestEdge' in pre.size) &&
      !pre.crop &&
      pre.doResize &&
      (pre.size.height !== staticSize.height || pre.size.width !== staticSize.width)
    ) {
      throw dataError(
        `preprocessor_config.json size is ${pre.size.width}×${pre.size.height} but the model takes ${staticSize.width}×${staticSize.height}`,
      );
    }
    const pixels = pixelValues(images, pre, staticSize ?? DEFAULT_SIZE, graphs.signal);
    const [, , height, width] = pixels.dims;
    if (staticSize && (height !== staticSize.height || width !== staticSize.width)) {
      throw dataError(
        `the images become ${width}×${height} after preprocessing but the model takes ${staticSize.width}×${staticSize.height}`,
      );
    }

    // A graph exported with a fixed batch of 1 still classifies a batch: one run per image.
    const perRun = staticBatch === 1 ? 1 : images.length;
    if (staticBatch !== undefined && staticBatch !== 1 && staticBatch !== images.length) {
      throw dataError(`the model takes exactly ${staticBatch} images per run; got ${images.length}`);
    }
    const plane = 3 * height * width;
    const rows: Float32Array[] = [];
    for (let start = 0; start < images.length; start += perRun) {
      if (graphs.signal.aborted) throw new WebqError('AbortError', 'the request was aborted');
      // A copy, not a view, when running part of the batch: a view would carry the whole batch's buffer across a
      // worker hop.
      const slice = perRun === images.length ? pixels.data : pixels.data.slice(start * plane, (start + perRun) * plane);
      const feed: Tensor =
        pixelInput.type === 'float16'
          ? { type: 'float16', dims: [perRun, 3, height, width], data: Uint16Array.from(slice, float32ToFloat16Bits) }
          : { type: 'float32', dims: [perRun, 3, height, width], data: slice };
      const result = (await graphs.run('model', { [pixelInput.name]: feed }))[output.name];
      if (!result) throw new WebqError('OperationError', `the model returned no ${output.name}`);
      if (result.dims.length !== 2 || result.dims[0] !== perRun) {
        throw new WebqError(
          'OperationError',
          `the model's ${output.name} has dims [${result.dims.join(', ')}]; image classification expects [${perRun}, labels]`,
        );
      }
      const logits = toFloats(result),
        n = result.dims[1]!;
      for (let i = 0; i < perRun; i++) rows.push(logits.subarray(i * n, (i + 1) * n));
    }

    const numLabels = rows[0]!.length;
    if (labels && labels.length !== numLabels)
      throw dataError(`config.json id2label names ${labels.length} labels but the model scores ${numLabels}`);
    const labelOf = (i: number) => labels?.[i] ?? `LABEL_${i}`;
    // A topK above the number of labels gives every label, as transformers' pipeline does: the caller asked for
    // "the best K", and all of them is that answer; refusing would make callers learn each model's label count.
    const k = Math.min(options.topK ?? DEFAULT_TOP_K, numLabels);
    const results: ImageClassificationOutput[] = rows.map((row) => ({ labels: topLabels(row, labelOf, k) }));
    return batched ? results : results[0]!;
  },
};
