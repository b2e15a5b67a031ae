/** image-classification: ViT preprocessing against references, and the pipeline on the generated test ViT
 * (onnxruntime-node). */
import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { prepareModel } from '../../../extension/host/prepare';
import { makePolicy } from '../../../extension/onnx/index';
import type { WireInput } from '../../../extension/shared/protocol';
import {
  imageClassification,
  MAX_BATCH,
  type ImageClassificationOutput,
} from '../../../extension/tasks/image-classification';
import {
  parsePreprocessorConfig,
  pixelValues,
  RESAMPLE,
  resizeRgb,
  type Resample,
} from '../../../extension/tasks/image-preprocess';
import { VIT_COLOURS, VIT_LABELS, VIT_PREPROCESSOR_CONFIG, vitHubFiles } from '../../../tools/hub-models/vit';
import { filesFrom, nodeRunner, runPipeline, type HubFiles } from '../../support/node-pipeline';

type Rgba = { width: number; height: number; data: Uint8ClampedArray };

function solid(width: number, height: number, rgb: readonly number[]): Rgba {
  const data = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < width * height; i++) data.set([rgb[0]!, rgb[1]!, rgb[2]!, 255], i * 4);
  return { width, height, data };
}

function fromFunction(width: number, height: number, value: (x: number, y: number, c: number) => number): Rgba {
  const data = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) data[(y * width + x) * 4 + c] = value(x, y, c);
      data[(y * width + x) * 4 + 3] = 255;
    }
  return { width, height, data };
}

/** The test pattern of the PIL fixtures below (the same formula in their Python). */
const pattern = (x: number, y: number, c: number) => ((x * 37 + y * 91 + c * 53) ^ (x * y)) & 255;

const rgbOf = (image: Rgba) => image.data.filter((_, i) => i % 4 !== 3);
const image = (...images: Rgba[]): WireInput => ({ kind: 'image', images, batched: false });
const batch = (...images: Rgba[]): WireInput => ({ kind: 'image', images, batched: true });
const hub = vitHubFiles();

describe('resize', () => {
  /**
   * PIL 9.4.0's Image.resize of the pattern image, as sha256 of the RGB bytes. Made with:
   *   im = Image.new('RGB', (w, h)); im.putdata([tuple(((x*37 + y*91 + c*53) ^ (x*y)) & 255 for c in range(3))
   *        for y in range(h) for x in range(w)]); hashlib.sha256(im.resize((W, H), resample=r).tobytes()).hexdigest()
   */
  const PIL: [string, number, number, number, number, Resample, string][] = [
    [
      'bilinear down',
      13,
      7,
      5,
      3,
      RESAMPLE.bilinear,
      '25c60b0a925d05e5c5ebd864fd4f29793b29b0d15a3ecb4a6cc8f74bc3c9e3f8',
    ],
    [
      'bilinear up',
      13,
      7,
      29,
      11,
      RESAMPLE.bilinear,
      '4752770933225c71346fa1afeffcde31987470dbfbc1f0dd7fd5c986c06d1e3f',
    ],
    ['bicubic', 13, 7, 5, 3, RESAMPLE.bicubic, '139087225e6d2bdbb05aa3b52b95b196498626371d8a4f97362deef5cd7d7eeb'],
    [
      'lanczos, one side up',
      13,
      7,
      6,
      9,
      RESAMPLE.lanczos,
      '95cc8cb9bc2bd9d54d45b54e857c9bd804edd206c402bb14eafd82a12f0a1f98',
    ],
    ['box', 13, 7, 4, 4, RESAMPLE.box, 'b3c1b527efc49c1e319c3393f8698029757d3becaffb1e85b14002948b5510b8'],
    ['hamming', 13, 7, 5, 3, RESAMPLE.hamming, '89846ffac7de05a9593ff7e1e21adee36a96dcc6cc9bf6f2ee41f0f6184a6233'],
    ['nearest', 13, 7, 5, 3, RESAMPLE.nearest, '3f914033ccc04d24d9e2c4d1e3c92614597f683ab2def849424d418972488a67'],
    [
      'bilinear 640×480 to 224 (ViT)',
      640,
      480,
      224,
      224,
      RESAMPLE.bilinear,
      '5e9998f440c0148c7ecb295748ddc80e9fd7592e6e368f91068a0b8e7ffc9b5e',
    ],
    [
      'bicubic 300×1000 to 224',
      300,
      1000,
      224,
      224,
      RESAMPLE.bicubic,
      '43e8ec9a7e84f432d45f2ced6fd751e74f99dd650c04fc79e42b244e3e25775c',
    ],
    [
      'bilinear 97×61 up to 224',
      97,
      61,
      224,
      224,
      RESAMPLE.bilinear,
      'c5d5c35fc68fe82c80fca287a65da3d400db0b3d73eb6ff43bfc22bc3b75b1be',
    ],
  ];
  test.each(PIL)('%s equals PIL byte for byte', (_, w, h, W, H, resample, sha256) => {
    const out = resizeRgb(
      rgbOf(fromFunction(w, h, pattern)) as unknown as Uint8Array,
      { width: w, height: h },
      { width: W, height: H },
      resample,
    );
    expect(out.length).toBe(W * H * 3);
    expect(createHash('sha256').update(out).digest('hex')).toBe(sha256);
  });

  test('bilinear by hand: [0, 255] widened to 4 and narrowed to 1', () => {
    const row = Uint8Array.of(0, 0, 0, 255, 255, 255);
    // Half-pixel centres: output x samples source x' = (x + 0.5) / 2 − 0.5 = −0.25, 0.25, 0.75, 1.25 (clamped).
    expect(
      [...resizeRgb(row, { width: 2, height: 1 }, { width: 4, height: 1 }, RESAMPLE.bilinear)].filter(
        (_, i) => i % 3 === 0,
      ),
    ).toEqual([0, 64, 191, 255]);
    // Narrowing averages both (127.5 rounds half up, as PIL's fixed point does).
    expect([...resizeRgb(row, { width: 2, height: 1 }, { width: 1, height: 1 }, RESAMPLE.bilinear)]).toEqual([
      128, 128, 128,
    ]);
  });
});

/**
 * A straightforward reference of the ViT preprocessing: every output pixel is the triangle-weighted mean of the
 * source pixels, the triangle widened by the downscale factor (antialiasing), rounded to a byte as PIL does,
 * then rescaled and normalised, in NCHW. It is 2-D in one go, so it may differ from PIL's two rounded passes by 1.
 */
function referencePixelValues(img: Rgba, W: number, H: number, mean = 0.5, std = 0.5): Float32Array {
  const sx = img.width / W,
    sy = img.height / H,
    fx = Math.max(sx, 1),
    fy = Math.max(sy, 1);
  const out = new Float32Array(3 * H * W);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const cx = (x + 0.5) * sx,
        cy = (y + 0.5) * sy;
      const sum = [0, 0, 0];
      let total = 0;
      for (let j = 0; j < img.height; j++)
        for (let i = 0; i < img.width; i++) {
          const w = Math.max(0, 1 - Math.abs((i + 0.5 - cx) / fx)) * Math.max(0, 1 - Math.abs((j + 0.5 - cy) / fy));
          total += w;
          for (let c = 0; c < 3; c++) sum[c]! += w * img.data[(j * img.width + i) * 4 + c]!;
        }
      for (let c = 0; c < 3; c++) out[c * H * W + y * W + x] = (Math.round(sum[c]! / total) / 255 - mean) / std;
    }
  return out;
}

const ONE_BYTE = (1 / 255 / 0.5) * 1.001;
const fallback = { height: 224, width: 224 };

describe('pixel values', () => {
  test('the ViT config gives the reference values, NCHW [1, 3, H, W], on a non-square size', () => {
    const img = fromFunction(37, 23, pattern);
    const pre = parsePreprocessorConfig({ ...VIT_PREPROCESSOR_CONFIG, size: { height: 12, width: 16 } });
    const { data, dims } = pixelValues([img], pre, fallback);
    expect(dims).toEqual([1, 3, 12, 16]);
    const ref = referencePixelValues(img, 16, 12);
    let worst = 0;
    for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(data[i]! - ref[i]!));
    expect(worst).toBeLessThanOrEqual(ONE_BYTE);
  });

  test('an exact case: a uniform colour becomes (v / 255 − 0.5) / 0.5 everywhere, alpha ignored', () => {
    const img = solid(50, 30, [255, 0, 51]);
    img.data.forEach((_, i) => {
      if (i % 4 === 3) img.data[i] = i % 8 === 3 ? 0 : 128;
    });
    const { data } = pixelValues([img], parsePreprocessorConfig(VIT_PREPROCESSOR_CONFIG), fallback);
    const plane = 224 * 224;
    for (const [c, v] of [
      [0, 1],
      [1, -1],
      [2, -0.6],
    ] as const) {
      const channel = data.subarray(c * plane, (c + 1) * plane);
      expect(Math.min(...channel)).toBeCloseTo(v, 6);
      expect(Math.max(...channel)).toBeCloseTo(v, 6);
    }
  });

  test('a wide image is stretched to the square: left half red, right half blue stays left and right', () => {
    const img = fromFunction(60, 20, (x, _, c) => (x < 30 ? [255, 0, 0] : [0, 0, 255])[c]!);
    const { data, dims } = pixelValues([img], parsePreprocessorConfig(VIT_PREPROCESSOR_CONFIG), fallback);
    expect(dims).toEqual([1, 3, 224, 224]);
    const at = (c: number, y: number, x: number) => data[c * 224 * 224 + y * 224 + x]!;
    for (const y of [0, 100, 223]) {
      expect([at(0, y, 0), at(2, y, 0)]).toEqual([1, -1]);
      expect([at(0, y, 223), at(2, y, 223)]).toEqual([-1, 1]);
      // The edge falls at the middle column (x = 111.5 in output pixels).
      expect(at(0, y, 105)).toBeGreaterThan(0.9);
      expect(at(0, y, 118)).toBeLessThan(-0.9);
    }
    expect(referencePixelValues(img, 224, 224).every((v, i) => Math.abs(v - data[i]!) <= ONE_BYTE)).toBe(true);
  });

  test('a batch is laid out image after image', () => {
    const images = [solid(10, 10, [255, 0, 0]), solid(30, 7, [0, 255, 0])];
    const { data, dims } = pixelValues(images, parsePreprocessorConfig({ size: { height: 2, width: 2 } }), fallback);
    expect(dims).toEqual([2, 3, 2, 2]);
    expect([...data]).toEqual([1, 1, 1, 1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 1, 1, 1, 1, -1, -1, -1, -1]);
  });

  test('shortest_edge then centre crop keeps the middle; a crop larger than the image pads with black', () => {
    // 40×20, shortest edge 10 → 20×10, crop 10×10 → columns 5..14 of the resized image.
    const img = fromFunction(40, 20, pattern);
    const raw = {
      do_rescale: false,
      do_normalize: false,
      size: { shortest_edge: 10 },
      do_center_crop: true,
      crop_size: { height: 10, width: 10 },
    };
    const { data, dims } = pixelValues([img], parsePreprocessorConfig(raw), fallback);
    expect(dims).toEqual([1, 3, 10, 10]);
    const resized = resizeRgb(
      rgbOf(img) as unknown as Uint8Array,
      { width: 40, height: 20 },
      { width: 20, height: 10 },
      RESAMPLE.bilinear,
    );
    for (let y = 0; y < 10; y++)
      for (let x = 0; x < 10; x++)
        for (let c = 0; c < 3; c++) {
          expect(data[c * 100 + y * 10 + x]).toBe(resized[(y * 20 + x + 5) * 3 + c]);
        }
    const padded = pixelValues(
      [solid(2, 2, [255, 255, 255])],
      parsePreprocessorConfig({ do_resize: false, do_center_crop: true, crop_size: { height: 4, width: 4 } }),
      fallback,
    );
    // Rows/columns 1..2 hold the image (⌊(2 − 4) / 2⌋ = −1), the rest is black: −1 after normalising.
    expect([...padded.data.subarray(0, 16)]).toEqual([-1, -1, -1, -1, -1, 1, 1, -1, -1, 1, 1, -1, -1, -1, -1, -1]);
  });

  test("without do_rescale and do_normalize the values are the bytes; the file's mean and std are used", () => {
    const img = solid(4, 4, [10, 20, 30]);
    expect([
      ...pixelValues([img], parsePreprocessorConfig({ do_rescale: false, do_normalize: false, size: 1 }), fallback)
        .data,
    ]).toEqual([10, 20, 30]);
    const custom = parsePreprocessorConfig({
      size: 1,
      rescale_factor: 0.1,
      image_mean: [1, 2, 3],
      image_std: [2, 4, 0.5],
    });
    const values = [...pixelValues([img], custom, fallback).data];
    expect(values[0]).toBeCloseTo((1 - 1) / 2, 6);
    expect(values[1]).toBeCloseTo((2 - 2) / 4, 6);
    expect(values[2]).toBeCloseTo((3 - 3) / 0.5, 6);
  });

  test("defaults: ViT's when fields are absent; a file without size takes the given fallback", () => {
    const pre = parsePreprocessorConfig({});
    expect(pre).toEqual({
      doResize: true,
      resample: RESAMPLE.bilinear,
      rescaleFactor: 1 / 255,
      normalize: { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
    });
    expect(pixelValues([solid(3, 3, [0, 0, 0])], pre, { height: 5, width: 7 }).dims).toEqual([1, 3, 5, 7]);
    expect(parsePreprocessorConfig({ size: 384 }).size).toEqual({ height: 384, width: 384 });
  });

  test.each([
    [{ size: 'big' }, /preprocessor_config\.json size must be/],
    [{ size: { height: 0, width: 224 } }, /preprocessor_config\.json size\.height must be an integer/],
    [{ size: { shortest_edge: 224, longest_edge: 1333 } }, /size\.longest_edge is not supported/],
    [{ resample: 9 }, /preprocessor_config\.json resample must be a PIL filter code/],
    [{ image_mean: [0.5, 0.5] }, /preprocessor_config\.json image_mean must be three numbers/],
    [{ image_std: [0.5, 0, 0.5] }, /preprocessor_config\.json image_std must be three positive numbers/],
    [{ rescale_factor: -1 }, /preprocessor_config\.json rescale_factor must be a positive number/],
    [{ do_resize: 'yes' }, /preprocessor_config\.json do_resize must be true or false/],
    [{ do_center_crop: true }, /preprocessor_config\.json do_center_crop is true but crop_size is missing/],
    [[1, 2], /preprocessor_config\.json must be a JSON object/],
  ])('bad config %j → DataError naming the file and field', (raw, message) => {
    expect(() => parsePreprocessorConfig(raw)).toThrow(message);
    try {
      parsePreprocessorConfig(raw);
    } catch (e) {
      expect((e as Error).name).toBe('DataError');
    }
  });
});

const labelsOf = (output: unknown) => (output as ImageClassificationOutput).labels;

describe('pipeline on the test ViT', () => {
  test('declares the hub layout and its run option', () => {
    expect(imageClassification.task).toBe('image-classification');
    expect(imageClassification.modality).toBe('vision');
    expect(imageClassification.graphs).toEqual({ model: 'onnx/model.onnx' });
    expect(imageClassification.runOptions).toEqual(['topK']);
  });

  test.each(Object.entries(VIT_COLOURS))('a uniformly %s image is classified as that colour', async (name, rgb) => {
    const { output, calls } = await runPipeline(imageClassification, hub, image(solid(64, 48, rgb)));
    const labels = labelsOf(output);
    expect(calls).toEqual({ model: 1 });
    expect(labels).toHaveLength(5);
    expect(labels[0]!.label).toBe(name);
    expect(labels[0]!.score).toBeGreaterThan(0.9);
    for (let i = 1; i < labels.length; i++) expect(labels[i]!.score).toBeLessThanOrEqual(labels[i - 1]!.score);
    expect(labels.reduce((s, l) => s + l.score, 0)).toBeLessThanOrEqual(1 + 1e-9);
    expect(new Set(labels.map((l) => l.label)).size).toBe(5);
  });

  test('topK: fewer on request; more than the model has gives every label, summing to 1', async () => {
    expect(
      labelsOf((await runPipeline(imageClassification, hub, image(solid(8, 8, [0, 0, 255])), { topK: 2 })).output).map(
        (l) => l.label,
      )[0],
    ).toBe('blue');
    expect(
      labelsOf((await runPipeline(imageClassification, hub, image(solid(8, 8, [0, 0, 255])), { top_k: 1 })).output),
    ).toHaveLength(1);
    const all = labelsOf(
      (await runPipeline(imageClassification, hub, image(solid(8, 8, [0, 0, 255])), { topK: 1000 })).output,
    );
    expect(all.map((l) => l.label).sort()).toEqual([...VIT_LABELS].sort());
    expect(all.reduce((s, l) => s + l.score, 0)).toBeCloseTo(1, 6);
    await expect(runPipeline(imageClassification, hub, image(solid(8, 8, [0, 0, 255])), { topK: 0 })).rejects.toThrow(
      /topK must be an integer from 1/,
    );
  });

  test('a batch of 3 images of different sizes gives 3 results in order, in one run', async () => {
    const { output, calls } = await runPipeline(
      imageClassification,
      hub,
      batch(solid(64, 48, [255, 0, 0]), solid(30, 30, [0, 255, 0]), solid(300, 200, [0, 0, 255])),
      { topK: 3 },
    );
    expect(Array.isArray(output)).toBe(true);
    const results = output as ImageClassificationOutput[];
    expect(results.map((r) => r.labels[0]!.label)).toEqual(['red', 'green', 'blue']);
    expect(results.every((r) => r.labels.length === 3)).toBe(true);
    expect(calls).toEqual({ model: 1 });
    // A batch of one is still an array.
    expect(Array.isArray((await runPipeline(imageClassification, hub, batch(solid(5, 5, [0, 0, 0])))).output)).toBe(
      true,
    );
  });

  test('a graph with a fixed batch of 1 classifies a batch one image per run', async () => {
    const fixed = vitHubFiles({ staticBatch: 1 });
    const { output, calls } = await runPipeline(
      imageClassification,
      fixed,
      batch(solid(9, 9, [255, 255, 0]), solid(9, 9, [0, 255, 255])),
    );
    expect((output as ImageClassificationOutput[]).map((r) => r.labels[0]!.label)).toEqual(['yellow', 'cyan']);
    expect(calls).toEqual({ model: 2 });
  });

  test('a half-red, half-blue image scores both above the rest', async () => {
    const img = fromFunction(64, 48, (x, _, c) => (x < 32 ? [255, 0, 0] : [0, 0, 255])[c]!);
    const top = labelsOf((await runPipeline(imageClassification, hub, image(img), { topK: 10 })).output).map(
      (l) => l.label,
    );
    // Mean colour (0, −1, 0) in normalised units: red, blue, magenta and black all score 1·gain, the rest less.
    expect(top.slice(0, 4).sort()).toEqual(['black', 'blue', 'magenta', 'red']);
  });

  test('labels fall back to LABEL_i without config.json; an id2label of the wrong length is refused', async () => {
    const noConfig: HubFiles = { ...hub };
    delete noConfig['config.json'];
    expect(
      labelsOf((await runPipeline(imageClassification, noConfig, image(solid(8, 8, [0, 255, 0])))).output)[0]!.label,
    ).toBe('LABEL_1');
    const short = { ...hub, 'config.json': JSON.stringify({ id2label: { 0: 'a', 1: 'b' } }) };
    await expect(runPipeline(imageClassification, short, image(solid(8, 8, [0, 255, 0])))).rejects.toThrow(
      /config\.json id2label names 2 labels but the model scores 10/,
    );
  });

  test.each([
    [{ id2label: [1, 2] }, /config\.json id2label must be an object/],
    [{ id2label: { 0: 'a', 2: 'b' } }, /config\.json id2label key "2" must be an index from 0 to 1/],
    [{ id2label: { 0: 'a', x: 'b' } }, /config\.json id2label key "x"/],
    [{ id2label: { 0: 7 } }, /config\.json id2label\[0\] must be a string/],
  ])('config.json %j → DataError at prepare', async (config, message) => {
    await expect(
      imageClassification.prepare(filesFrom({ ...hub, 'config.json': JSON.stringify(config) })),
    ).rejects.toThrow(message);
  });

  test('preprocessor_config.json is required, and its errors surface at prepare', async () => {
    const none: HubFiles = { ...hub };
    delete none['preprocessor_config.json'];
    await expect(imageClassification.prepare(filesFrom(none))).rejects.toMatchObject({ name: 'NotFoundError' });
    await expect(
      imageClassification.prepare(filesFrom({ ...hub, 'preprocessor_config.json': '{"image_std": 0}' })),
    ).rejects.toMatchObject({ name: 'DataError', message: expect.stringMatching(/image_std/) });
  });

  test('a config size the graph cannot take is refused naming both', async () => {
    const wrong = {
      ...hub,
      'preprocessor_config.json': JSON.stringify({ ...VIT_PREPROCESSOR_CONFIG, size: { height: 256, width: 256 } }),
    };
    await expect(runPipeline(imageClassification, wrong, image(solid(8, 8, [0, 0, 0])))).rejects.toThrow(
      /preprocessor_config\.json size is 256×256 but the model takes 224×224/,
    );
  });

  const rejects = async (input: unknown, message: RegExp) => {
    const err = await runPipeline(imageClassification, hub, input as WireInput).then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.name).toBe('DataError');
    expect(err?.message).toMatch(message);
  };

  test('input errors are DataErrors that say what is wrong', async () => {
    await rejects({ kind: 'text', text: ['a cat'], batched: false }, /image-classification takes an image .*not text/);
    await rejects({ kind: 'audio', audio: new Float32Array(8), sampleRate: 16000 }, /takes an image/);
    await rejects(
      image({ width: 4, height: 4, data: new Uint8ClampedArray(4 * 4 * 3) }),
      /image 0 must have width·height·4 = 64 RGBA bytes, got 48/,
    );
    await rejects(image({ width: 0, height: 4, data: new Uint8ClampedArray(0) }), /image 0 has invalid dimensions 0×4/);
    await rejects(image({ width: 2.5, height: 4, data: new Uint8ClampedArray(40) }), /invalid dimensions/);
    await rejects(
      image({ width: 2, height: 2, data: new Float32Array(16) as unknown as Uint8ClampedArray }),
      /RGBA bytes/,
    );
    await rejects(
      batch(...Array.from({ length: MAX_BATCH + 1 }, () => solid(2, 2, [0, 0, 0]))),
      new RegExp(`${MAX_BATCH + 1} images; .* at most ${MAX_BATCH}`),
    );
    // Refused on the declared sizes, before the (here absent) pixels are read.
    await rejects(
      batch(
        { width: 8000, height: 8000, data: new Uint8ClampedArray(4) },
        { width: 1, height: 1, data: new Uint8ClampedArray(4) },
      ),
      /64000001 pixels in all; .* at most 64 million/,
    );
    await rejects(
      { kind: 'image', images: [solid(2, 2, [0, 0, 0]), solid(2, 2, [0, 0, 0])], batched: false },
      /single-image input carries 2 images/,
    );
  });

  test('an aborted request stops with AbortError', async () => {
    const controller = new AbortController();
    const runner = await nodeRunner(imageClassification, hub, {}, controller.signal);
    try {
      const assets = await imageClassification.prepare(filesFrom(hub));
      controller.abort();
      await expect(imageClassification.run(assets, image(solid(8, 8, [0, 0, 0])), {}, runner)).rejects.toMatchObject({
        name: 'AbortError',
      });
      expect(runner.calls).toEqual({});
    } finally {
      await runner.release();
    }
  });

  test("rewritten to 8 bits by webq's quantizer, every colour keeps its label", async () => {
    const prepared = prepareModel(hub['onnx/model.onnx'] as Uint8Array, makePolicy({ bits: 8 }));
    const byName = new Map(prepared.report.weights.map((w) => [w.name, w]));
    for (const name of [
      'q.weight',
      'k.weight',
      'v.weight',
      'o.weight',
      'fc1.weight',
      'fc2.weight',
      'classifier.weight',
    ]) {
      expect(byName.get(name)).toMatchObject({ op: 'MatMulNBits', precision: 8 });
    }
    expect(byName.get('patch.weight')).toMatchObject({ precision: 8 });
    const images = Object.values(VIT_COLOURS).map((rgb) => solid(20, 12, rgb));
    const fp32 = (await runPipeline(imageClassification, hub, batch(...images))).output as ImageClassificationOutput[];
    const q8 = (await runPipeline(imageClassification, hub, batch(...images), {}, { model: prepared.bytes }))
      .output as ImageClassificationOutput[];
    expect(q8.map((r) => r.labels[0]!.label)).toEqual(Object.keys(VIT_COLOURS));
    q8.forEach((r, i) => {
      expect(r.labels[0]!.score).toBeGreaterThan(0.9);
      // Quantized, but not unchanged: the scores moved a little.
      expect(Math.abs(r.labels[0]!.score - fp32[i]!.labels[0]!.score)).toBeLessThan(0.01);
    });
    expect(q8.some((r, i) => r.labels[0]!.score !== fp32[i]!.labels[0]!.score)).toBe(true);
  });
});
