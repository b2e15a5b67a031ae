/**
 * Caps on what a model's preprocessor_config.json may make the engine allocate (issue 13): the file can come from
 * a page's own model, so image sizes and audio feature sizes are refused with a DataError naming the field before
 * any buffer of that size exists. Each case here would otherwise ask for gigabytes (or hours of FFTs).
 */
import { describe, expect, test } from 'vitest';
import {
  MAX_BATCH_VALUES,
  MAX_RESIZE_PIXELS,
  MAX_SIDE,
  parsePreprocessorConfig,
  pixelValues,
  type RgbaImage,
} from '../../../extension/tasks/image-preprocess';
import {
  MAX_FEATURE_VALUES,
  MAX_FFT_SAMPLES,
  MAX_N_FFT,
  MAX_WINDOW_SAMPLES,
  speechRecognition,
} from '../../../extension/tasks/speech-recognition';
import { whisperHubFiles, whisperPreprocessorConfig } from '../../../tools/hub-models/whisper';
import { filesFrom } from '../../support/node-pipeline';

const blank = (width: number, height: number): RgbaImage => ({
  width,
  height,
  data: new Uint8ClampedArray(width * height * 4),
});
const dataError = (message: RegExp) =>
  expect.objectContaining({ name: 'DataError', message: expect.stringMatching(message) });
const thrown = (f: () => unknown): unknown => {
  try {
    f();
  } catch (e) {
    return e;
  }
  return 'no error';
};
const fallback = { height: 224, width: 224 };

describe('image preprocessing caps', () => {
  test('the caps: 4096 a side, 16 M float values per batch, 64 M pixels in a resize', () => {
    expect([MAX_SIDE, MAX_BATCH_VALUES, MAX_RESIZE_PIXELS]).toEqual([4096, 16 * 2 ** 20, 64 * 2 ** 20]);
  });

  test.each([
    [
      { size: 4096 },
      /preprocessor_config\.json size gives 4096×4096 pixels, 50331648 values for one image; .* at most 16777216/,
    ],
    [{ size: { height: 4096, width: 2000 } }, /preprocessor_config\.json size gives 2000×4096 pixels/],
    [
      { size: 224, do_center_crop: true, crop_size: { height: 3000, width: 3000 } },
      /preprocessor_config\.json crop_size gives 3000×3000/,
    ],
    [{ size: 5000 }, /preprocessor_config\.json size must be an integer from 1 to 4096/],
  ])('a fixed size too big for one image is refused when the config is read: %j', (raw, message) => {
    expect(thrown(() => parsePreprocessorConfig(raw))).toEqual(dataError(message));
  });

  test('a size that fits one image but not the batch: refused naming the field, before the batch is allocated', () => {
    const pre = parsePreprocessorConfig({ size: 2048 }); // 12.6 M values: one image fits
    expect(pixelValues([blank(1, 1)], pre, fallback).dims).toEqual([1, 3, 2048, 2048]);
    expect(thrown(() => pixelValues([blank(1, 1), blank(1, 1)], pre, fallback))).toEqual(
      dataError(/size gives 2048×2048 pixels, 25165824 values for 2 images; .*16777216 per call \(pass fewer images\)/),
    );
  });

  test('shortest_edge on a thin image would reach millions of pixels a side: refused, naming size.shortest_edge', () => {
    const pre = parsePreprocessorConfig({ size: { shortest_edge: 224 } });
    // 224 × 13 440 000 × 3 bytes would be 9 GB; nothing of that size is allocated.
    expect(thrown(() => pixelValues([blank(1, 60_000)], pre, fallback))).toEqual(
      dataError(
        /image 0 \(1×60000\) becomes 224×13440000 by preprocessor_config\.json size\.shortest_edge; .*at most 4096/,
      ),
    );
    expect(pixelValues([blank(300, 200)], pre, fallback).dims).toEqual([1, 3, 224, 336]);
  });

  test("a graph's own huge input size, used when the config gives none, is refused naming size", () => {
    expect(
      thrown(() => pixelValues([blank(8, 8)], parsePreprocessorConfig({}), { height: 100_000, width: 100_000 })),
    ).toEqual(
      dataError(/becomes 100000×100000 by preprocessor_config\.json size \(absent: the model's own input size\)/),
    );
  });

  test('do_resize false: images keep their size, within the same caps', () => {
    const pre = parsePreprocessorConfig({ do_resize: false });
    expect(thrown(() => pixelValues([blank(5000, 2)], pre, fallback))).toEqual(
      dataError(/reach 5000×2 by preprocessor_config\.json do_resize/),
    );
    expect(thrown(() => pixelValues([blank(4000, 4000)], pre, fallback))).toEqual(
      dataError(/48000000 values for one image/),
    );
  });

  test('a resize whose intermediate (source height × target width) would exceed 64 M pixels is refused', () => {
    const pre = parsePreprocessorConfig({ size: { height: 224, width: 4096 } });
    expect(thrown(() => pixelValues([blank(1, 20_000)], pre, fallback))).toEqual(
      dataError(/image 0 \(1×20000\) is too tall to resize to 4096 wide \(preprocessor_config\.json size\)/),
    );
  });

  test("ViT's own batch of 32 at 224×224 is well inside", () => {
    const pre = parsePreprocessorConfig({ size: 224 });
    expect(
      pixelValues(
        Array.from({ length: 32 }, () => blank(2, 2)),
        pre,
        fallback,
      ).dims,
    ).toEqual([32, 3, 224, 224]);
  });
});

describe('audio feature caps', () => {
  const prepare = (change: Record<string, unknown>) =>
    speechRecognition.prepare(
      filesFrom({
        ...whisperHubFiles(),
        'preprocessor_config.json': JSON.stringify({ ...whisperPreprocessorConfig(), ...change }),
      }),
    );

  test('the caps sit far above Whisper (480 000 samples, n_fft 400, 80 × 3000 features, 3000 × 400 FFT samples)', () => {
    expect(MAX_WINDOW_SAMPLES).toBeGreaterThan(10 * 480_000);
    expect(MAX_N_FFT).toBeGreaterThan(10 * 400);
    expect(MAX_FEATURE_VALUES).toBeGreaterThan(10 * 128 * 3000);
    expect(MAX_FFT_SAMPLES).toBeGreaterThan(10 * 3000 * 400);
  });

  test.each<[string, Record<string, unknown>, RegExp]>([
    [
      'a 600 s window at 16 kHz',
      { chunk_length: 600, n_samples: undefined, nb_max_frames: undefined },
      /chunk_length × sampling_rate is 9600000 samples; .*at most 8388608/,
    ],
    ['n_fft 65536', { n_fft: 65536 }, /n_fft must be an integer from 1 to 16384, got 65536/],
    [
      '512 mels × 30 000 frames',
      { feature_size: 512, chunk_length: 300, n_samples: undefined, nb_max_frames: undefined },
      /feature_size × nb_max_frames is 512 × 30000 = 15360000 features; .*at most 4194304/,
    ],
    [
      '30 000 frames of 4096 samples',
      {
        feature_size: 8,
        hop_length: 16,
        n_fft: 4096,
        n_samples: undefined,
        nb_max_frames: undefined,
        mel_filters: undefined,
      },
      /nb_max_frames × n_fft is 30000 × 4096 = 122880000 windowed samples; .*at most 67108864/,
    ],
  ])('%s: a DataError naming the fields, at prepare', async (_, change, message) => {
    await expect(prepare(change)).rejects.toEqual(dataError(message));
  });

  test("Whisper's own config passes", async () => {
    await expect(prepare({})).resolves.toMatchObject({ features: { nMels: 80, nFrames: 3000, nFft: 400 } });
  });
});
