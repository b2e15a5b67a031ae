/**
 * automatic-speech-recognition with a CTC model (SPEC §5, `wav2vec2-base-960h`): audio → 16 kHz mono → zero-mean,
 * unit-variance samples → one graph → a letter distribution per frame (20 ms) → greedy CTC decoding → `{ text,
 * tokens }`. Files in the layout of the hub repo Xenova/wav2vec2-base-960h: onnx/model.onnx (`input_values`
 * [batch, samples] → `logits` [batch, frames, vocabulary]), config.json, preprocessor_config.json (the
 * Wav2Vec2FeatureExtractor's), vocab.json and tokenizer_config.json (the Wav2Vec2CTCTokenizer's).
 *
 * Greedy CTC decoding: the most likely id of each frame; runs of the same id merged; the blank (`<pad>`) dropped.
 * Those ids are `tokens`; the text is their characters with the word delimiter (`|`) as a space and the special
 * tokens (`<s>`, `</s>`, `<unk>`) left out. The vocabulary is a table of single characters, so the text is read from
 * vocab.json here: no tokenizer library, no worker, nothing in the files that can run for long.
 */
import { dataError, WebqError } from '../shared/errors';
import type { Tensor } from '../shared/tensor';
import { fromFloat16, toFloat16 } from '../quant/fp16';
import { audioAtRate, checkedAudio, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE } from './audio/input';
import { readObject } from './model-files';
import type { GraphRunner, TaskPipeline } from './types';
import type { SpeechRecognitionOutput } from './speech-recognition';

export interface CtcAssets {
  sampleRate: number;
  /** Zero mean, unit variance over the clip (the feature extractor's do_normalize). */
  normalize: boolean;
  /** The fewest samples that give one frame (from config.json's conv_kernel and conv_stride; 1 without them). */
  minSamples: number;
  /** Token text by id (vocab.json); ids the file does not name are undefined. */
  vocabulary: (string | undefined)[];
  /** The CTC blank. */
  padId: number;
  /** Ids left out of the text (bos, eos, unk and pad): they stay in `tokens`, except pad, which CTC drops. */
  special: Set<number>;
  wordDelimiterId: number | undefined;
}

/**
 * Audio per run, in seconds. wav2vec2 has no fixed window, but its self-attention is quadratic in frames (50 a
 * second): 30 s is 1,500 frames, the attention of one layer already ≈ 100 MB at fp32. Longer audio is split by the
 * caller (at pauses, ideally), as with Whisper.
 */
export const MAX_CTC_AUDIO_SECONDS = 30;
/** vocab.json entries at most (wav2vec2-base-960h has 32; multilingual CTC models a few hundred). */
export const MAX_CTC_VOCABULARY = 65_536;
/** The feature extractor's variance epsilon (transformers' Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm). */
const NORM_EPSILON = 1e-7;

const TASK = 'automatic-speech-recognition';

export const speechRecognitionCtc: TaskPipeline<CtcAssets> = {
  task: 'automatic-speech-recognition',
  modality: 'audio',
  graphs: { model: 'onnx/model.onnx' },
  runOptions: [],

  async prepare(files) {
    const config = await readObject(files, 'config.json', true);
    const preprocessor = await readObject(files, 'preprocessor_config.json', true);
    const vocab = await readObject(files, 'vocab.json', true);
    const tokenizerConfig = (await readObject(files, 'tokenizer_config.json', false)) ?? {};
    if (config.model_type === 'whisper') {
      throw dataError(
        `the model's config.json says model_type "whisper": give the URL of its onnx/encoder_model.onnx for ${TASK} (the decoders are read beside it)`,
      );
    }
    const { sampleRate, normalize } = parsePreprocessor(preprocessor);
    const minSamples = minSamplesOf(config);
    if (minSamples > MAX_CTC_AUDIO_SECONDS * sampleRate)
      throw dataError(
        `the model's config.json conv_kernel and conv_stride need ${minSamples} samples for one frame, more than ${MAX_CTC_AUDIO_SECONDS} s at ${sampleRate} Hz`,
      );
    return {
      sampleRate,
      normalize,
      minSamples,
      ...parseVocabulary(vocab, tokenizerConfig, config),
    };
  },

  async run(assets, input, _options, graphs) {
    const checked = checkedAudio(input, TASK);
    const audio = audioAtRate(
      checked.audio,
      checked.sampleRate,
      assets.sampleRate,
      MAX_CTC_AUDIO_SECONDS * assets.sampleRate,
      TASK,
    );
    if (audio.length < assets.minSamples) {
      throw dataError(
        `input audio is ${(checked.audio.length / checked.sampleRate).toFixed(4)} s long; this model needs at least ${assets.minSamples} samples at ${assets.sampleRate} Hz (${((1000 * assets.minSamples) / assets.sampleRate).toFixed(1)} ms) for one frame`,
      );
    }
    checkAborted(graphs);
    const values = assets.normalize ? zeroMeanUnitVariance(audio) : audio;
    const logits = await runModel(graphs, values);
    const tokens = greedyCtc(logits, assets);
    const output: SpeechRecognitionOutput = { text: textOf(tokens, assets), tokens };
    return output;
  },
};

// ---- prepare ----

function parsePreprocessor(config: Record<string, unknown>): { sampleRate: number; normalize: boolean } {
  const file = 'preprocessor_config.json';
  const rate = config.sampling_rate ?? 16000;
  if (typeof rate !== 'number' || !Number.isInteger(rate) || rate < MIN_SAMPLE_RATE || rate > MAX_SAMPLE_RATE)
    throw dataError(
      `the model's ${file} sampling_rate must be an integer from ${MIN_SAMPLE_RATE} to ${MAX_SAMPLE_RATE}, got ${JSON.stringify(rate)}`,
    );
  const normalize = config.do_normalize ?? true;
  if (typeof normalize !== 'boolean')
    throw dataError(`the model's ${file} do_normalize must be true or false, got ${JSON.stringify(normalize)}`);
  const size = config.feature_size ?? 1;
  if (size !== 1)
    throw dataError(`the model's ${file} feature_size must be 1 (raw mono samples), got ${JSON.stringify(size)}`);
  return { sampleRate: rate, normalize };
}

/** From the convolutional feature encoder's kernels and strides: the shortest input with one output frame. */
function minSamplesOf(config: Record<string, unknown>): number {
  const kernels = config.conv_kernel;
  const strides = config.conv_stride;
  const ints = (v: unknown): v is number[] =>
    Array.isArray(v) && v.length <= 64 && v.every((x) => Number.isInteger(x) && x >= 1 && x <= 65_536);
  if (kernels === undefined && strides === undefined) return 1;
  if (!ints(kernels) || !ints(strides) || kernels.length !== strides.length)
    throw dataError(
      `the model's config.json conv_kernel and conv_stride must be lists of positive integers of one length`,
    );
  let need = 1;
  for (let i = kernels.length - 1; i >= 0; i--) need = (need - 1) * strides[i]! + kernels[i]!;
  return need;
}

type Vocabulary = Pick<CtcAssets, 'vocabulary' | 'padId' | 'special' | 'wordDelimiterId'>;

function parseVocabulary(
  vocab: Record<string, unknown>,
  tokenizerConfig: Record<string, unknown>,
  config: Record<string, unknown>,
): Vocabulary {
  const entries = Object.entries(vocab);
  if (entries.length === 0 || entries.length > MAX_CTC_VOCABULARY)
    throw dataError(`the model's vocab.json must map 1 to ${MAX_CTC_VOCABULARY} tokens to ids, got ${entries.length}`);
  const vocabulary: (string | undefined)[] = [];
  for (const [token, id] of entries) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= MAX_CTC_VOCABULARY)
      throw dataError(
        `the model's vocab.json gives ${JSON.stringify(token).slice(0, 40)} a bad id ${JSON.stringify(id)}`,
      );
    if (vocabulary[id] !== undefined) throw dataError(`the model's vocab.json gives id ${id} to two tokens`);
    vocabulary[id] = token;
  }
  const idOf = (field: string, fallback: string): number | undefined => {
    const token = tokenizerConfig[field] ?? fallback;
    // transformers also writes special tokens as { content: "<pad>", … }.
    const text = typeof token === 'object' && token !== null ? (token as { content?: unknown }).content : token;
    if (typeof text !== 'string')
      throw dataError(
        `the model's tokenizer_config.json ${field} must be a token, got ${JSON.stringify(token)?.slice(0, 40)}`,
      );
    const id = Object.hasOwn(vocab, text) ? vocab[text] : undefined;
    return typeof id === 'number' ? id : undefined;
  };
  const configPad = config.pad_token_id;
  const padId =
    typeof configPad === 'number' && Number.isInteger(configPad) && vocabulary[configPad] !== undefined
      ? configPad
      : idOf('pad_token', '<pad>');
  if (padId === undefined)
    throw dataError(`the model's vocab.json has no pad token (the CTC blank), and config.json no pad_token_id in it`);
  const special = new Set<number>([padId]);
  for (const [field, fallback] of [
    ['bos_token', '<s>'],
    ['eos_token', '</s>'],
    ['unk_token', '<unk>'],
  ] as const) {
    const id = idOf(field, fallback);
    if (id !== undefined) special.add(id);
  }
  return { vocabulary, padId, special, wordDelimiterId: idOf('word_delimiter_token', '|') };
}

// ---- run ----

function checkAborted(graphs: GraphRunner): void {
  if (graphs.signal.aborted) throw new WebqError('AbortError', 'the request was aborted');
}

/** (x − mean) / √(variance + 1e-7) over the clip, computed in float64 as the feature extractor does in numpy. */
export function zeroMeanUnitVariance(x: Float32Array): Float32Array {
  let sum = 0;
  for (const v of x) sum += v;
  const mean = sum / x.length;
  let squares = 0;
  for (const v of x) squares += (v - mean) * (v - mean);
  const scale = 1 / Math.sqrt(squares / x.length + NORM_EPSILON);
  return Float32Array.from(x, (v) => (v - mean) * scale);
}

async function runModel(graphs: GraphRunner, values: Float32Array): Promise<Tensor> {
  const io = graphs.io('model');
  const feeds: Record<string, Tensor> = {};
  for (const input of io.inputs) {
    if (input.name === 'input_values') {
      const dims = [1, values.length];
      feeds.input_values =
        input.type === 'float16'
          ? { type: 'float16', dims, data: toFloat16(values) }
          : { type: 'float32', dims, data: values };
    } else if (input.name === 'attention_mask') {
      // One clip, no padding: every sample counts.
      const dims = [1, values.length];
      feeds.attention_mask =
        input.type === 'int32'
          ? { type: 'int32', dims, data: new Int32Array(values.length).fill(1) }
          : { type: 'int64', dims, data: new BigInt64Array(values.length).fill(1n) };
    } else {
      throw dataError(
        `the model's graph takes an input ${JSON.stringify(input.name)} that ${TASK} cannot feed (a CTC model takes input_values)`,
      );
    }
  }
  if (!feeds.input_values)
    throw dataError(
      `the model's graph has no input_values input (its inputs: ${io.inputs.map((i) => i.name).join(', ')}); is it a CTC speech model?`,
    );
  const outputs = await graphs.run('model', feeds);
  const logits = outputs.logits ?? outputs[io.outputs[0]?.name ?? ''];
  if (
    !logits ||
    logits.dims.length !== 3 ||
    logits.dims[0] !== 1 ||
    (logits.type !== 'float32' && logits.type !== 'float16')
  )
    throw new WebqError(
      'OperationError',
      `the model gave no logits [1, frames, vocabulary] of floats (its outputs: ${Object.keys(outputs).join(', ')})`,
    );
  return logits;
}

/** The most likely id of each frame, repeats merged, blanks dropped. */
function greedyCtc(logits: Tensor, assets: CtcAssets): number[] {
  const [, frames, size] = logits.dims as [number, number, number];
  if (size > assets.vocabulary.length)
    throw dataError(
      `the model scores ${size} tokens per frame, but its vocab.json names ids up to ${assets.vocabulary.length - 1}`,
    );
  const data = logits.type === 'float16' ? fromFloat16(logits.data as Uint16Array) : (logits.data as Float32Array);
  const tokens: number[] = [];
  let previous = -1;
  for (let t = 0; t < frames; t++) {
    const row = t * size;
    let best = 0;
    for (let i = 1; i < size; i++) if (data[row + i]! > data[row + best]!) best = i;
    if (best !== previous && best !== assets.padId) tokens.push(best);
    previous = best;
  }
  return tokens;
}

function textOf(tokens: number[], assets: CtcAssets): string {
  let text = '';
  for (const id of tokens) {
    if (id === assets.wordDelimiterId) text += ' ';
    else if (!assets.special.has(id)) text += assets.vocabulary[id] ?? '';
  }
  return text.replace(/\s+/g, ' ').trim();
}
