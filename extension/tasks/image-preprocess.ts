/**
 * Image preprocessing of the Hugging Face image processors (ViTImageProcessor and its kin) for RGBA pixels:
 * resize → centre crop → rescale → normalise, into one NCHW float32 batch. `parsePreprocessorConfig` reads
 * `preprocessor_config.json`; `pixelValues` applies it.
 *
 * Resizing reproduces PIL's `Image.resize` on 8-bit images (what transformers' ViTImageProcessor calls), down to
 * its fixed-point arithmetic: the checkpoints were trained and evaluated on PIL-resized inputs, so matching PIL
 * keeps the model's inputs in distribution. PIL's filters are convolutions whose support widens with the
 * downscale factor, which is also the antialiasing we want: a 4-tap bilinear from a 1000-pixel photo to 224 would
 * skip most pixels and alias fine texture into the patches.
 *
 * The sizes come from a file a page's model may supply, so they are capped before anything is allocated (issue 13):
 * each side at MAX_SIDE, a batch's float output at MAX_BATCH_VALUES, a resize's 8-bit intermediate at
 * MAX_RESIZE_PIXELS; past a cap the call is a DataError naming the config field that asked for it.
 */
import { dataError, WebqError } from '../shared/errors';

export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8ClampedArray | Uint8Array;
}
export interface Size {
  height: number;
  width: number;
}

/** PIL's resample codes, as stored in `preprocessor_config.json`. */
export const RESAMPLE = Object.freeze({ nearest: 0, lanczos: 1, bilinear: 2, bicubic: 3, box: 4, hamming: 5 } as const);
export type Resample = (typeof RESAMPLE)[keyof typeof RESAMPLE];

export interface ImagePreprocessing {
  /** false: pixels go in at their own size (after any crop). */
  doResize: boolean;
  /** undefined when the file gives none: the graph's static dims decide (or 224×224). */
  size?: Size | { shortestEdge: number };
  resample: Resample;
  /** Present when do_center_crop is on. */
  crop?: Size;
  /** Absent when do_rescale is off. */
  rescaleFactor?: number;
  /** Absent when do_normalize is off. */
  normalize?: { mean: [number, number, number]; std: [number, number, number] };
}

const FILE = 'preprocessor_config.json';
/** Longest side of a resized or cropped image. */
export const MAX_SIDE = 4096;
/** Float values of one preprocessed batch, N × 3 × H × W (64 MiB of float32): 16 M. */
export const MAX_BATCH_VALUES = 16 * 2 ** 20;
/** Pixels of the resize's intermediate (source height × target width, 8-bit RGB): 64 M. */
export const MAX_RESIZE_PIXELS = 64 * 2 ** 20;

/** ViT's defaults (transformers' ViTImageProcessor): bilinear, rescale by 1/255, mean and std 0.5. */
const DEFAULTS = Object.freeze({ resample: RESAMPLE.bilinear, rescaleFactor: 1 / 255, mean: 0.5, std: 0.5 });

function flag(o: Record<string, unknown>, field: string, fallback: boolean): boolean {
  const v = o[field];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean') throw dataError(`${FILE} ${field} must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

function side(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_SIDE) {
    throw dataError(`${FILE} ${field} must be an integer from 1 to ${MAX_SIDE}, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** `{height, width}`, or a bare number meaning a square (ViT's legacy `"size": 224`). */
function size(v: unknown, field: string, allowShortestEdge: boolean): Size | { shortestEdge: number } {
  if (typeof v === 'number') return { height: side(v, field), width: side(v, field) };
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    if (o.longest_edge !== undefined)
      throw dataError(
        `${FILE} ${field}.longest_edge is not supported (only { "height", "width" } or { "shortest_edge" })`,
      );
    if (o.height !== undefined || o.width !== undefined)
      return { height: side(o.height, `${field}.height`), width: side(o.width, `${field}.width`) };
    if (allowShortestEdge && o.shortest_edge !== undefined)
      return { shortestEdge: side(o.shortest_edge, `${field}.shortest_edge`) };
  }
  const forms = allowShortestEdge
    ? '{ "height", "width" }, { "shortest_edge" } or a number'
    : '{ "height", "width" } or a number';
  throw dataError(`${FILE} ${field} must be ${forms}, got ${JSON.stringify(v)?.slice(0, 80)}`);
}

function triple(v: unknown, field: string, fallback: number, positive: boolean): [number, number, number] {
  const values = v === undefined || v === null ? [fallback, fallback, fallback] : typeof v === 'number' ? [v, v, v] : v;
  if (
    !Array.isArray(values) ||
    values.length !== 3 ||
    !values.every((x) => typeof x === 'number' && Number.isFinite(x) && (!positive || x > 0))
  ) {
    throw dataError(
      `${FILE} ${field} must be three ${positive ? 'positive ' : ''}numbers (R, G, B), got ${JSON.stringify(v)?.slice(0, 80)}`,
    );
  }
  return values as [number, number, number];
}

/** Reads the fields of a Hugging Face image processor config that decide the pixels; others are not used. */
export function parsePreprocessorConfig(json: unknown): ImagePreprocessing {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw dataError(`${FILE} must be a JSON object`);
  const o = json as Record<string, unknown>;
  const out: ImagePreprocessing = { doResize: flag(o, 'do_resize', true), resample: DEFAULTS.resample };
  if (o.size !== undefined && o.size !== null) out.size = size(o.size, 'size', true);
  if (o.resample !== undefined && o.resample !== null) {
    if (!(Object.values(RESAMPLE) as unknown[]).includes(o.resample))
      throw dataError(`${FILE} resample must be a PIL filter code 0 to 5, got ${JSON.stringify(o.resample)}`);
    out.resample = o.resample as Resample;
  }
  if (flag(o, 'do_center_crop', false)) {
    if (o.crop_size === undefined || o.crop_size === null)
      throw dataError(`${FILE} do_center_crop is true but crop_size is missing`);
    out.crop = size(o.crop_size, 'crop_size', false) as Size;
  }
  if (flag(o, 'do_rescale', true)) {
    const f = o.rescale_factor ?? DEFAULTS.rescaleFactor;
    if (typeof f !== 'number' || !Number.isFinite(f) || f <= 0)
      throw dataError(`${FILE} rescale_factor must be a positive number, got ${JSON.stringify(f)}`);
    out.rescaleFactor = f;
  }
  if (flag(o, 'do_normalize', true)) {
    out.normalize = {
      mean: triple(o.image_mean, 'image_mean', DEFAULTS.mean, false),
      std: triple(o.image_std, 'image_std', DEFAULTS.std, true),
    };
  }
  // A fixed output size too big for even one image is refused now, not at the first run.
  const fixed = out.crop ?? (out.doResize && out.size && !('shortestEdge' in out.size) ? out.size : undefined);
  if (fixed) checkBatchValues(1, fixed, out);
  return out;
}

/** The config field that decides the size images reach the graph at (for the errors of the caps). */
function sizeField(pre: ImagePreprocessing): string {
  return pre.crop ? 'crop_size' : resizeField(pre);
}

/** The config field that decides the size images are resized to. */
function resizeField(pre: ImagePreprocessing): string {
  if (!pre.doResize) return 'do_resize (false: each image keeps its own size)';
  if (!pre.size) return "size (absent: the model's own input size)";
  return 'shortestEdge' in pre.size ? 'size.shortest_edge' : 'size';
}

function checkBatchValues(images: number, size: Size, pre: ImagePreprocessing): void {
  const perImage = 3 * size.height * size.width;
  if (images * perImage <= MAX_BATCH_VALUES) return;
  const what = images === 1 ? 'one image' : `${images} images`;
  throw dataError(
    `${FILE} ${sizeField(pre)} gives ${size.width}×${size.height} pixels, ${images * perImage} values` +
      ` for ${what}; webq preprocesses at most ${MAX_BATCH_VALUES} per call${images > 1 ? ' (pass fewer images)' : ''}`,
  );
}

/** Checks every size a batch reaches before any of it is allocated: sides, the resize's intermediate, the total. */
function checkSizes(images: readonly RgbaImage[], pre: ImagePreprocessing, fallback: Size): Size {
  const first = outputSize(pre, images[0]!, fallback);
  images.forEach((image, n) => {
    const resized = resizedSize(pre, image, fallback);
    const field = resizeField(pre);
    if (pre.doResize && (resized.width > MAX_SIDE || resized.height > MAX_SIDE)) {
      throw dataError(
        `image ${n} (${image.width}×${image.height}) becomes ${resized.width}×${resized.height}` +
          ` by ${FILE} ${field}; webq resizes to at most ${MAX_SIDE} pixels a side`,
      );
    }
    if (resized.width !== image.width && image.height * resized.width > MAX_RESIZE_PIXELS) {
      throw dataError(
        `image ${n} (${image.width}×${image.height}) is too tall to resize to ${resized.width} wide` +
          ` (${FILE} ${field}): the resize would hold ${image.height * resized.width} pixels,` +
          ` at most ${MAX_RESIZE_PIXELS}; scale it down first`,
      );
    }
    const size = outputSize(pre, image, fallback);
    if (size.height !== first.height || size.width !== first.width) {
      throw dataError(
        `image ${n} becomes ${size.width}×${size.height} after preprocessing but image 0 becomes ${first.width}×${first.height}; a batch needs one size (pass images of one size, or one at a time)`,
      );
    }
  });
  if (first.width > MAX_SIDE || first.height > MAX_SIDE) {
    throw dataError(
      `the images reach ${first.width}×${first.height} by ${FILE} ${sizeField(pre)};` +
        ` webq takes at most ${MAX_SIDE} pixels a side`,
    );
  }
  checkBatchValues(images.length, first, pre);
  return first;
}

/** The size an image of `width`×`height` reaches the graph at. `fallback` stands in for a size the file lacks. */
export function outputSize(pre: ImagePreprocessing, image: Size, fallback: Size): Size {
  if (pre.crop) return pre.crop;
  return resizedSize(pre, image, fallback);
}

function resizedSize(pre: ImagePreprocessing, image: Size, fallback: Size): Size {
  if (!pre.doResize) return { height: image.height, width: image.width };
  const target = pre.size ?? fallback;
  if (!('shortestEdge' in target)) return target;
  // transformers' get_resize_output_image_size: the short side becomes the edge, the long one keeps the
  // aspect ratio, truncated.
  const edge = target.shortestEdge;
  if (image.width <= image.height) return { width: edge, height: Math.trunc((edge * image.height) / image.width) };
  return { height: edge, width: Math.trunc((edge * image.width) / image.height) };
}

/**
 * Preprocesses every image into one NCHW float32 batch [images.length, 3, H, W]. All images must reach the same
 * size (always true when the config resizes to a fixed size or crops).
 */
export function pixelValues(
  images: readonly RgbaImage[],
  pre: ImagePreprocessing,
  fallback: Size,
  signal?: AbortSignal,
): { data: Float32Array; dims: [number, number, number, number] } {
  const { height, width } = checkSizes(images, pre, fallback);
  const plane = height * width;
  const data = new Float32Array(images.length * 3 * plane);
  images.forEach((image, n) => {
    // Resizing a large batch takes a while on the host: a cancelled request stops between images.
    if (signal?.aborted) throw new WebqError('AbortError', 'the request was aborted');
    let rgb = dropAlpha(image);
    let at: Size = image;
    const resized = resizedSize(pre, image, fallback);
    if (resized.width !== image.width || resized.height !== image.height) {
      rgb = resizeRgb(rgb, image, resized, pre.resample);
      at = resized;
    }
    if (pre.crop) rgb = centerCrop(rgb, at, pre.crop);
    const factor = pre.rescaleFactor ?? 1;
    const mean = pre.normalize?.mean ?? [0, 0, 0];
    const std = pre.normalize?.std ?? [1, 1, 1];
    for (let c = 0; c < 3; c++) {
      // Folded into one multiply-add per pixel: ((p · factor) − mean) / std.
      const scale = factor / std[c]!,
        shift = -mean[c]! / std[c]!;
      const base = (n * 3 + c) * plane;
      for (let i = 0; i < plane; i++) data[base + i] = rgb[i * 3 + c]! * scale + shift;
    }
  });
  return { data, dims: [images.length, 3, height, width] };
}

/** RGB without alpha, as PIL's convert('RGB') does: alpha is dropped, not composited onto a background. */
function dropAlpha(image: RgbaImage): Uint8Array {
  const n = image.width * image.height;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    out[i * 3] = image.data[i * 4]!;
    out[i * 3 + 1] = image.data[i * 4 + 1]!;
    out[i * 3 + 2] = image.data[i * 4 + 2]!;
  }
  return out;
}

/** transformers' center_crop: the window starts at ⌊(size − crop) / 2⌋; where it leaves the image, zeros. */
function centerCrop(rgb: Uint8Array, from: Size, crop: Size): Uint8Array {
  const out = new Uint8Array(crop.height * crop.width * 3);
  const top = Math.floor((from.height - crop.height) / 2),
    left = Math.floor((from.width - crop.width) / 2);
  for (let y = 0; y < crop.height; y++) {
    const sy = y + top;
    if (sy < 0 || sy >= from.height) continue;
    for (let x = 0; x < crop.width; x++) {
      const sx = x + left;
      if (sx < 0 || sx >= from.width) continue;
      for (let c = 0; c < 3; c++) out[(y * crop.width + x) * 3 + c] = rgb[(sy * from.width + sx) * 3 + c]!;
    }
  }
  return out;
}

// ---- PIL's resampling (libImaging/Resample.c), 8 bits per channel ----

interface Filter {
  support: number;
  at(x: number): number;
}
const sinc = (x: number) => (x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x));
const FILTERS: Readonly<Record<Exclude<Resample, 0>, Filter>> = Object.freeze({
  [RESAMPLE.box]: { support: 0.5, at: (x: number) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  [RESAMPLE.bilinear]: { support: 1, at: (x: number) => Math.max(0, 1 - Math.abs(x)) },
  [RESAMPLE.hamming]: {
    support: 1,
    at: (x: number) => {
      const a = Math.abs(x);
      if (a === 0) return 1;
      if (a >= 1) return 0;
      return (Math.sin(Math.PI * a) / (Math.PI * a)) * (0.54 + 0.46 * Math.cos(Math.PI * a));
    },
  },
  [RESAMPLE.bicubic]: {
    support: 2,
    at: (x: number) => {
      const a = -0.5,
        t = Math.abs(x);
      if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
      if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
      return 0;
    },
  },
  [RESAMPLE.lanczos]: { support: 3, at: (x: number) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
});

/** PIL keeps 22 fraction bits in its 8-bit coefficients (32 − 8 − 2, so sums cannot overflow an int32). */
const PRECISION_BITS = 22;
const ONE = 2 ** PRECISION_BITS;

/** Per output pixel: the first source pixel and the fixed-point weights of the source pixels it reads. */
interface Taps {
  first: Int32Array;
  count: Int32Array;
  weights: Float64Array;
  stride: number;
}

function taps(inSize: number, outSize: number, filter: Filter): Taps {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filter.support * filterScale;
  const stride = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize),
    count = new Int32Array(outSize),
    weights = new Float64Array(outSize * stride);
  const k = new Float64Array(stride);
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    // C's (int) truncates toward zero; PIL relies on that for the rounding of both ends.
    const lo = Math.max(0, Math.trunc(center - support + 0.5));
    const hi = Math.min(inSize, Math.trunc(center + support + 0.5));
    let sum = 0;
    for (let i = 0; i < hi - lo; i++) {
      k[i] = filter.at((i + lo - center + 0.5) / filterScale);
      sum += k[i]!;
    }
    first[o] = lo;
    count[o] = hi - lo;
    for (let i = 0; i < hi - lo; i++) {
      const w = sum !== 0 ? k[i]! / sum : 0;
      weights[o * stride + i] = Math.trunc(w * ONE + (w < 0 ? -0.5 : 0.5));
    }
  }
  return { first, count, weights, stride };
}

/** PIL's clip8: the sum carries +0.5 (ONE/2) already, so flooring rounds half up. */
const clip8 = (v: number) => (v >= 255 * ONE ? 255 : v <= 0 ? 0 : Math.floor(v / ONE));

/**
 * Resizes packed RGB like PIL: horizontal pass first into 8-bit rows, then vertical (PIL rounds between passes
 * too, which is why its output is reproduced exactly and a float resize would differ by ±1 here and there).
 */
export function resizeRgb(rgb: Uint8Array, from: Size, to: Size, resample: Resample): Uint8Array {
  if (resample === RESAMPLE.nearest) return nearest(rgb, from, to);
  const filter = FILTERS[resample];
  let rows = rgb;
  if (to.width !== from.width) {
    const t = taps(from.width, to.width, filter);
    rows = new Uint8Array(from.height * to.width * 3);
    for (let y = 0; y < from.height; y++) {
      for (let x = 0; x < to.width; x++) {
        const lo = t.first[x]!,
          n = t.count[x]!,
          w = x * t.stride;
        let r = ONE / 2,
          g = ONE / 2,
          b = ONE / 2;
        for (let i = 0; i < n; i++) {
          const s = (y * from.width + lo + i) * 3,
            k = t.weights[w + i]!;
          r += rgb[s]! * k;
          g += rgb[s + 1]! * k;
          b += rgb[s + 2]! * k;
        }
        const d = (y * to.width + x) * 3;
        rows[d] = clip8(r);
        rows[d + 1] = clip8(g);
        rows[d + 2] = clip8(b);
      }
    }
  }
  if (to.height === from.height) return rows;
  const t = taps(from.height, to.height, filter);
  const out = new Uint8Array(to.height * to.width * 3);
  const rowLength = to.width * 3;
  for (let y = 0; y < to.height; y++) {
    const lo = t.first[y]!,
      n = t.count[y]!,
      w = y * t.stride;
    for (let j = 0; j < rowLength; j++) {
      let v = ONE / 2;
      for (let i = 0; i < n; i++) v += rows[(lo + i) * rowLength + j]! * t.weights[w + i]!;
      out[y * rowLength + j] = clip8(v);
    }
  }
  return out;
}

/** PIL's NEAREST: the source pixel under each output pixel's centre (up to PIL's 16.16 fixed-point rounding). */
function nearest(rgb: Uint8Array, from: Size, to: Size): Uint8Array {
  const out = new Uint8Array(to.height * to.width * 3);
  const sx = from.width / to.width,
    sy = from.height / to.height;
  for (let y = 0; y < to.height; y++) {
    const y0 = Math.min(from.height - 1, Math.floor((y + 0.5) * sy));
    for (let x = 0; x < to.width; x++) {
      const x0 = Math.min(from.width - 1, Math.floor((x + 0.5) * sx));
      for (let c = 0; c < 3; c++) out[(y * to.width + x) * 3 + c] = rgb[(y0 * from.width + x0) * 3 + c]!;
    }
  }
  return out;
}
