/**
 * image-feature-extraction (SPEC §5, `clip-vit-base-patch32`): images → their embeddings from the image tower,
 * `{ embeddings: Float32Array, dims: [images, width] }` (CLIP ViT-B/32: 512 wide), each row of unit length with the
 * `normalize` run option. Only the image tower runs, so only `onnx/vision_model.onnx` is fetched (about half the
 * bytes of the joint graph that zero-shot classification uses).
 */
import { WebqError } from '../shared/errors';
import { clipPreprocessing, matrixOutput, pixelFeed } from './clip';
import { normalizeRows } from './feature-extraction';
import { toFloats } from './image-classification';
import type { ImagePreprocessing } from './image-preprocess';
import type { TaskPipeline } from './types';

export interface ImageFeatureExtractionOutput {
  embeddings: Float32Array;
  dims: [number, number];
}

export const imageFeatureExtraction: TaskPipeline<{ pre: ImagePreprocessing }> = {
  task: 'image-feature-extraction',
  modality: 'vision',
  graphs: Object.freeze({ model: 'onnx/vision_model.onnx' }),
  runOptions: Object.freeze(['normalize'] as const),

  async prepare(files) {
    return { pre: await clipPreprocessing(files) };
  },

  async run({ pre }, input, options, graphs) {
    const images = pixelFeed(input, pre, graphs, 'model', 'image-feature-extraction');
    const outputs = await graphs.run('model', { [images.name]: images.feed });
    // The projected embedding by the name transformers exports (CLIPVisionModelWithProjection), else the pooled one.
    const name = ['image_embeds', 'pooler_output'].find((n) => outputs[n]);
    if (!name)
      throw new WebqError(
        'OperationError',
        `the model has no image_embeds output; its outputs: ${Object.keys(outputs).join(', ')}`,
      );
    const t = matrixOutput(outputs, name, images.count);
    // A copy: the runner's buffer may be a view of something larger, and normalize writes in place.
    const embeddings = Float32Array.from(toFloats(t));
    const width = t.dims[1]!;
    if (options.normalize) normalizeRows(embeddings, width);
    const output: ImageFeatureExtractionOutput = { embeddings, dims: [images.count, width] };
    return output;
  },
};
