/**
 * Page-side conversion of what a page passes to `run` into the wire input (SPEC §2 RunInput):
 * raw tensors, text, images (decoded to RGBA pixels here, where the DOM objects live) or audio.
 */
import { dataError } from '../shared/errors';
import { toTensor, type Tensor } from '../shared/tensor';
import type { WireInput } from '../shared/protocol';
import { checkMessages } from '../shared/messages';

type ImageLike = ImageData | ImageBitmap | Blob | HTMLImageElement | HTMLCanvasElement | OffscreenCanvas;

function isImageLike(v: unknown): v is ImageLike {
  const g = globalThis as Record<string, unknown>;
  const is = (name: string) => typeof g[name] === 'function' && v instanceof (g[name] as new () => unknown);
  return (
    is('ImageData') ||
    is('ImageBitmap') ||
    is('Blob') ||
    is('HTMLImageElement') ||
    is('HTMLCanvasElement') ||
    is('OffscreenCanvas')
  );
}

async function toPixels(
  image: ImageLike,
  where: string,
): Promise<{ width: number; height: number; data: Uint8ClampedArray }> {
  if (image instanceof ImageData) return { width: image.width, height: image.height, data: image.data };
  let source: CanvasImageSource | OffscreenCanvas;
  if (image instanceof Blob) {
    try {
      source = await createImageBitmap(image);
    } catch {
      throw dataError(`${where} is a Blob that is not a decodable image`);
    }
  } else if (typeof HTMLImageElement !== 'undefined' && image instanceof HTMLImageElement) {
    if (!image.complete || image.naturalWidth === 0) {
      try {
        await image.decode();
      } catch {
        throw dataError(`${where} is an <img> that has not loaded an image`);
      }
    }
    source = image;
  } else {
    source = image;
  }
  const width =
    (source as { naturalWidth?: number; width: number }).naturalWidth || (source as { width: number }).width;
  const height =
    (source as { naturalHeight?: number; height: number }).naturalHeight || (source as { height: number }).height;
  if (!width || !height) throw dataError(`${where} has no pixels`);
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d');
  if (!ctx) throw dataError(`${where}: could not read pixels (no 2d context)`);
  ctx.drawImage(source as CanvasImageSource, 0, 0);
  const data = ctx.getImageData(0, 0, width, height).data;
  return { width, height, data };
}

export async function toWireInput(input: unknown): Promise<WireInput> {
  if (typeof input === 'string') return { kind: 'text', text: [input], batched: false };
  if (Array.isArray(input) && input.length > 0 && input.every((s) => typeof s === 'string'))
    return { kind: 'text', text: input, batched: true };
  if (isImageLike(input)) return { kind: 'image', images: [await toPixels(input, 'input')], batched: false };
  if (Array.isArray(input) && input.length > 0 && input.every(isImageLike)) {
    const images = await Promise.all(input.map((img, i) => toPixels(img, `input[${i}]`)));
    return { kind: 'image', images, batched: true };
  }
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw dataError(
      'input must be tensors { name: { type, data, dims } }, text, an image, { audio, sampleRate } or { messages }',
    );
  }
  const o = input as Record<string, unknown>;
  if (Array.isArray(o.messages) && Object.keys(o).length === 1)
    return { kind: 'messages', messages: checkMessages(o.messages) };
  if (o.audio instanceof Float32Array) {
    return { kind: 'audio', audio: o.audio, sampleRate: o.sampleRate as number };
  }
  const tensors: Record<string, Tensor> = Object.create(null);
  for (const [name, value] of Object.entries(o)) tensors[name] = toTensor(value, `input[${JSON.stringify(name)}]`);
  return { kind: 'tensors', tensors };
}
