/**
 * What CLIP's two tasks share (`clip-vit-base-patch32`, hub repo Xenova/clip-vit-base-patch32): reading the
 * CLIPImageProcessor's preprocessor_config.json and turning a page's images into the `pixel_values` feed of a graph.
 *
 * CLIPImageProcessor: resize so the shortest edge is 224 (bicubic), centre crop 224×224, rescale by 1/255,
 * normalise with CLIP's own mean and std. Its files give the size as `{ "shortest_edge": 224 }`; older ones as a bare
 * `224`, which for CLIP (unlike ViT, where it means a square) also means the shortest edge.
 */
import { dataError, WebqError } from '../shared/errors';
import type { WireInput } from '../shared/protocol';
import type { Tensor } from '../shared/tensor';
import { float32ToFloat16Bits } from '../quant/fp16';
import { checkImages } from './image-classification';
import { parsePreprocessorConfig, pixelValues, type ImagePreprocessing, type Size } from './image-preprocess';
import type { GraphRunner, ModelFiles } from './types';

/** CLIP ViT-B/32's input size, for a config and a graph that give none. */
const DEFAULT_SIZE: Size = Object.freeze({ height: 224, width: 224 });

export async function clipPreprocessing(files: ModelFiles): Promise<ImagePreprocessing> {
  const json = await files.json('preprocessor_config.json');
  if (typeof json === 'object' && json !== null && !Array.isArray(json)) {
    const o = json as Record<string, unknown>;
    const kind = String(o.image_processor_type ?? o.feature_extractor_type ?? '');
    if (typeof o.size === 'number' && kind.startsWith('CLIP'))
      return parsePreprocessorConfig({ ...o, size: { shortest_edge: o.size } });
  }
  return parsePreprocessorConfig(json);
}

/**
 * The images of `input` as the `pixel_values` feed of graph `role`, checked against the graph's declared input
 * (float32 or float16, [batch, 3, H, W], a static size if it has one). `task` names the caller in errors.
 */
export function pixelFeed(
  input: WireInput,
  pre: ImagePreprocessing,
  graphs: GraphRunner,
  role: string,
  task: string,
): { name: string; feed: Tensor; count: number; batched: boolean } {
  if (input.kind !== 'image')
    throw dataError(
      `${task} takes an image (ImageData, ImageBitmap, Blob, HTMLImageElement or HTMLCanvasElement), not ${input.kind}`,
    );
  const { images, batched } = input;
  checkImages(images);
  if (!batched && images.length !== 1)
    throw dataError(`a single-image input carries ${images.length} images; pass an array for a batch`);
  const io = graphs.io(role);
  const pixel = io.inputs.find((i) => i.name === 'pixel_values');
  if (!pixel)
    throw dataError(
      `the model's graph has no pixel_values input (its inputs: ${io.inputs.map((i) => i.name).join(', ')})`,
    );
  if ((pixel.type !== 'float32' && pixel.type !== 'float16') || pixel.dims.length !== 4)
    throw dataError(
      `the model's pixel_values is ${pixel.type} [${pixel.dims.join(', ')}]; ${task} feeds float [batch, 3, H, W]`,
    );
  const [, , h, w] = pixel.dims;
  const staticSize = typeof h === 'number' && typeof w === 'number' ? { height: h, width: w } : undefined;
  const pixels = pixelValues(images, pre, staticSize ?? DEFAULT_SIZE, graphs.signal);
  const dims = pixels.dims;
  if (staticSize && (dims[2] !== staticSize.height || dims[3] !== staticSize.width))
    throw dataError(
      `the images become ${dims[3]}×${dims[2]} after preprocessing but the model takes ${staticSize.width}×${staticSize.height}`,
    );
  const feed: Tensor =
    pixel.type === 'float16'
      ? { type: 'float16', dims, data: Uint16Array.from(pixels.data, float32ToFloat16Bits) }
      : { type: 'float32', dims, data: pixels.data };
  return { name: pixel.name, feed, count: images.length, batched };
}

/** A float output of `outputs` with two dims [rows, width], by name. */
export function matrixOutput(outputs: Record<string, Tensor>, name: string, rows: number): Tensor {
  const t = outputs[name];
  if (!t) throw new WebqError('OperationError', `the model returned no ${name}`);
  if (t.dims.length !== 2 || t.dims[0] !== rows)
    throw new WebqError('OperationError', `the model's ${name} has dims [${t.dims.join(', ')}]; expected [${rows}, n]`);
  return t;
}
