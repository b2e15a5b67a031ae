/**
 * automatic-speech-recognition (SPEC §5, `whisper-tiny`): audio → 16 kHz → Whisper log-mel → encoder → greedy
 * decoding with a KV cache → `{ text, tokens }`. Files in the layout of the hub repo Xenova/whisper-tiny (Optimum
 * export): onnx/encoder_model.onnx, onnx/decoder_model.onnx, onnx/decoder_with_past_model.onnx, tokenizer.json,
 * tokenizer_config.json, generation_config.json, preprocessor_config.json, config.json.
 *
 * Decoding: the prompt <|startoftranscript|> <|lang|> <|transcribe|> <|notimestamps|> goes through `decoder` once
 * (it returns the self-attention cache of the prompt and the cross-attention cache of the audio); every later token
 * goes alone through `decoderWithPast` with the cache. `task: 'translate'` puts <|translate|> in the prompt;
 * `returnTimestamps` leaves <|notimestamps|> out and constrains the timestamps (whisper-timestamps.ts).
 *
 * Audio longer than one window (30 s) runs as overlapping windows, each encoded and decoded on its own (so
 * `maxNewTokens` counts per window), their tokens joined at the overlaps (whisper-long-form.ts); at most
 * MAX_AUDIO_SECONDS per run.
 */
import { dataError, WebqError } from '../shared/errors';
import type { NormalizedOptions } from '../shared/options';
import type { WireInput } from '../shared/protocol';
import type { Tensor } from '../shared/tensor';
import { fromFloat16, toFloat16 } from '../quant/fp16';
import { whisperLogMel, slaneyMelFilters, type LogMelConfig } from './audio/log-mel';
import { audioAtRate, checkedAudio, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE } from './audio/input';
import { disposeDevice, keepPresents, presentOutputs } from './held-tensors';
import { readObject } from './model-files';
import { audioWindows, groupBySegment, joinWindows, type TimedToken } from './whisper-long-form';
import { segmentsOf, timestampRules, type TimestampConfig } from './whisper-timestamps';
import { tokenizers, type TextTokenizer } from './tokenizer';
import { isDeviceTensor, type GraphRunner, type HeldTensor, type TaskPipeline } from './types';

export interface WhisperGeneration {
  decoderStartId: number;
  eosIds: number[];
  /** Language code ("en") → its token id; empty for English-only models (whisper-tiny.en), which take no language
   * token. */
  languages: Map<string, number>;
  transcribeId: number | undefined;
  /** task_to_id.translate, when the model can translate (multilingual checkpoints). */
  translateId: number | undefined;
  noTimestampsId: number;
  /** max_initial_timestamp_index: how late (in timestamp steps) a window's first timestamp may be. */
  maxInitialTimestampIndex: number | undefined;
  suppress: number[];
  beginSuppress: number[];
  /** Prompt plus generated tokens, at most (generation_config max_length and config max_target_positions). */
  maxLength: number;
}

export interface SpeechRecognitionAssets {
  /** In the engine host, in a worker with a time budget (tokenizer.ts): its decoder may run the file's regexes. */
  tokenizer: TextTokenizer;
  generation: WhisperGeneration;
  features: LogMelConfig & { sampleRate: number };
}

export interface SpeechRecognitionOutput {
  text: string;
  /** Generated text token ids, the windows' joined: neither the prompt, the timestamps nor the end-of-text token. */
  tokens: number[];
  /** With `returnTimestamps`: the segments, each's time in seconds from the audio's start (transformers.js' shape). */
  chunks?: { text: string; timestamp: [number, number] }[];
}

export { MIN_SAMPLE_RATE, MAX_SAMPLE_RATE };
/** Whisper's decoder has 448 positions; the option's own range (1..448) says the same. */
export const MAX_TARGET_POSITIONS = 448;
/**
 * Longest audio per run: 10 windows' worth of new audio at the default 20 s step, a run of a few seconds on a GPU
 * (each window is an encoder pass and up to 448 decoder steps), and at most 115 MB of float samples at 48 kHz.
 */
export const MAX_AUDIO_SECONDS = 300;
/** Overlap on each side of a window, as a fraction of it: transformers.js' default stride_length_s (window / 6). */
export const STRIDE_FRACTION = 1 / 6;
/**
 * Caps on what preprocessor_config.json may size (issue 13: the file may come from a page's model), each far above
 * Whisper's own (480 000 samples, n_fft 400, 80 or 128 × 3000 features, 3000 × 400 windowed samples): the window
 * (held as float64 with its padding), the FFT length (the mel bank is n_mels × (n_fft/2 + 1)), the features
 * (float64 while computed), and the work of the transform (frames × n_fft).
 */
export const MAX_WINDOW_SAMPLES = 8 * 2 ** 20;
export const MAX_N_FFT = 16_384;
export const MAX_FEATURE_VALUES = 4 * 2 ** 20;
export const MAX_FFT_SAMPLES = 64 * 2 ** 20;

const ROLES = { encoder: 'encoder', decoder: 'decoder', withPast: 'decoderWithPast' } as const;
/** The bool [1] input of Optimum's merged decoder: true takes the with-past branch. */
const USE_CACHE_BRANCH = 'use_cache_branch';

export const speechRecognition: TaskPipeline<SpeechRecognitionAssets> = {
  task: 'automatic-speech-recognition',
  modality: 'audio',
  graphs: {
    encoder: 'onnx/encoder_model.onnx',
    decoder: 'onnx/decoder_model.onnx',
    decoderWithPast: 'onnx/decoder_with_past_model.onnx',
  },
  runOptions: ['maxNewTokens', 'language', 'returnTimestamps'],
  decodingTasks: ['transcribe', 'translate'],

  async prepare(files) {
    const tokenizerJson = await readObject(files, 'tokenizer.json', true);
    const tokenizerConfig = (await readObject(files, 'tokenizer_config.json', false)) ?? {};
    const generationConfig = await readObject(files, 'generation_config.json', true);
    const preprocessorConfig = await readObject(files, 'preprocessor_config.json', true);
    const modelConfig = (await readObject(files, 'config.json', false)) ?? {};
    // The configs first: they are cheap to check, and a bad one should not cost a tokenizer worker.
    const generation = parseGeneration(generationConfig, modelConfig);
    const features = parsePreprocessor(preprocessorConfig);
    const tokenizer = await tokenizers().load(tokenizerJson, tokenizerConfig);
    return { tokenizer, generation, features };
  },

  async run(assets, input, options, graphs) {
    const { generation, features: config } = assets;
    const audio = audioOf(input, config);
    const timestamps = options.returnTimestamps === true ? timestampConfigOf(generation) : undefined;
    const prompt = promptOf(generation, options, timestamps !== undefined);
    const maxNew = maxNewTokensOf(generation, prompt.length, options);
    const windows = audioWindows(audio.length, config.nSamples, Math.round(config.nSamples * STRIDE_FRACTION));
    const heard: TimedToken[][] = [];
    for (const window of windows) {
      checkAborted(graphs);
      const features = whisperLogMel(audio.subarray(window.start, window.start + window.length), config);
      checkAborted(graphs);
      const encoderHidden = await encode(graphs, features, config);
      const ids = await generate(graphs, generation, prompt, encoderHidden, maxNew, timestamps);
      const [start, end] = [window.start / config.sampleRate, (window.start + window.length) / config.sampleRate];
      if (timestamps) {
        heard.push(segmentsOf(ids, timestamps.timestampBegin, start, end));
      } else {
        const segment = { start, end };
        heard.push(ids.map((id) => ({ id, segment })));
      }
    }
    const joined = joinWindows(heard);
    const tokens = joined.map((t) => t.id);
    const output: SpeechRecognitionOutput = { text: await decodeText(assets.tokenizer, tokens), tokens };
    if (timestamps) {
      output.chunks = [];
      for (const { segment, ids } of groupBySegment(joined))
        output.chunks.push({ text: await decodeText(assets.tokenizer, ids), timestamp: [segment.start, segment.end] });
    }
    return output;
  },
};

async function decodeText(tokenizer: TextTokenizer, ids: number[]): Promise<string> {
  // The library refuses an empty list; a model that ends at once said nothing.
  return ids.length === 0 ? '' : (await tokenizer.decode(ids, { skipSpecialTokens: true })).trim();
}

/**
 * The same pipeline on an export with the merged decoder only (Optimum's `onnx/decoder_model_merged.onnx`, an If on
 * use_cache_branch between the two decoders): model type 'whisper-merged' (tasks/index.ts). Its main graph is the
 * merged decoder, so a page's `{ url, task }` names that file (model-type.ts) and the encoder is found beside it.
 */
export const speechRecognitionMerged: TaskPipeline<SpeechRecognitionAssets> = {
  ...speechRecognition,
  graphs: { decoder: 'onnx/decoder_model_merged.onnx', encoder: 'onnx/encoder_model.onnx' },
};

// ---- prepare ----

const isId = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

function idField(config: Record<string, unknown>, file: string, field: string): number {
  const v = config[field];
  if (!isId(v))
    throw dataError(`the model's ${file} has no token id ${field} (got ${JSON.stringify(v)?.slice(0, 40)})`);
  return v;
}

function idList(config: Record<string, unknown>, file: string, field: string): number[] {
  const v = config[field];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every(isId))
    throw dataError(`the model's ${file} ${field} must be an array of token ids`);
  return v;
}

function parseGeneration(config: Record<string, unknown>, modelConfig: Record<string, unknown>): WhisperGeneration {
  const file = 'generation_config.json';
  const eos = config.eos_token_id;
  const eosIds = isId(eos) ? [eos] : Array.isArray(eos) && eos.length > 0 && eos.every(isId) ? eos : undefined;
  if (!eosIds) throw dataError(`the model's ${file} has no eos_token_id`);
  const languages = new Map<string, number>();
  const langToId = config.lang_to_id;
  if (langToId !== undefined && langToId !== null) {
    if (typeof langToId !== 'object' || Array.isArray(langToId))
      throw dataError(`the model's ${file} lang_to_id must map "<|en|>" to a token id`);
    for (const [key, id] of Object.entries(langToId)) {
      const code =
        /^<\|([a-z]{2,3}(?:-[A-Za-z]{2,4})?)\|>$/.exec(key)?.[1] ?? (/^[a-z]{2,3}$/.test(key) ? key : undefined);
      if (!code || !isId(id))
        throw dataError(`the model's ${file} lang_to_id has a bad entry ${JSON.stringify(key).slice(0, 40)}`);
      languages.set(code, id);
    }
  }
  const taskToId = config.task_to_id;
  let transcribeId: number | undefined;
  let translateId: number | undefined;
  if (languages.size > 0) {
    if (typeof taskToId !== 'object' || taskToId === null || !isId((taskToId as Record<string, unknown>).transcribe)) {
      throw dataError(`the model's ${file} has languages but no task_to_id.transcribe`);
    }
    transcribeId = (taskToId as Record<string, number>).transcribe;
    const translate = (taskToId as Record<string, unknown>).translate;
    if (translate !== undefined && translate !== null && !isId(translate))
      throw dataError(`the model's ${file} task_to_id.translate must be a token id`);
    translateId = isId(translate) ? translate : undefined;
  }
  const maxInitial = config.max_initial_timestamp_index;
  if (maxInitial !== undefined && maxInitial !== null && !isId(maxInitial))
    throw dataError(`the model's ${file} max_initial_timestamp_index must be an integer ≥ 0`);
  const limits = [config.max_length, modelConfig.max_target_positions, MAX_TARGET_POSITIONS].filter(
    (v): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0,
  );
  return {
    decoderStartId: idField(config, file, 'decoder_start_token_id'),
    eosIds,
    languages,
    transcribeId,
    translateId,
    noTimestampsId: idField(config, file, 'no_timestamps_token_id'),
    maxInitialTimestampIndex: isId(maxInitial) ? maxInitial : undefined,
    suppress: idList(config, file, 'suppress_tokens'),
    beginSuppress: idList(config, file, 'begin_suppress_tokens'),
    maxLength: Math.min(...limits),
  };
}

function parsePreprocessor(config: Record<string, unknown>): SpeechRecognitionAssets['features'] {
  const file = 'preprocessor_config.json';
  const int = (field: string, fallback: number | undefined, max: number): number => {
    const v = config[field] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max)
      throw dataError(`the model's ${file} ${field} must be an integer from 1 to ${max}, got ${JSON.stringify(v)}`);
    return v;
  };
  const nMels = int('feature_size', undefined, 512);
  const sampleRate = int('sampling_rate', 16000, MAX_SAMPLE_RATE);
  const hop = int('hop_length', 160, 1 << 16);
  const nFft = int('n_fft', 400, MAX_N_FFT);
  const chunkLength = int('chunk_length', 30, 600);
  if (chunkLength * sampleRate > MAX_WINDOW_SAMPLES) {
    throw dataError(
      `the model's ${file} chunk_length × sampling_rate is ${chunkLength * sampleRate} samples;` +
        ` webq takes windows of at most ${MAX_WINDOW_SAMPLES}`,
    );
  }
  const nSamples = int('n_samples', chunkLength * sampleRate, MAX_WINDOW_SAMPLES);
  if (nSamples !== chunkLength * sampleRate)
    throw dataError(
      `the model's ${file} n_samples ${nSamples} is not chunk_length × sampling_rate (${chunkLength * sampleRate})`,
    );
  const nFrames = int('nb_max_frames', Math.floor(nSamples / hop), nSamples);
  if (nFrames > Math.floor(nSamples / hop) + 1)
    throw dataError(
      `the model's ${file} nb_max_frames ${nFrames} is more than the ${Math.floor(nSamples / hop) + 1} frames of n_samples`,
    );
  if (nFft > nSamples) throw dataError(`the model's ${file} n_fft ${nFft} is longer than n_samples`);
  if (nMels * nFrames > MAX_FEATURE_VALUES) {
    throw dataError(
      `the model's ${file} feature_size × nb_max_frames is ${nMels} × ${nFrames} = ${nMels * nFrames}` +
        ` features; webq computes at most ${MAX_FEATURE_VALUES}`,
    );
  }
  if (nFrames * nFft > MAX_FFT_SAMPLES) {
    throw dataError(
      `the model's ${file} nb_max_frames × n_fft is ${nFrames} × ${nFft} = ${nFrames * nFft} windowed` +
        ` samples; webq transforms at most ${MAX_FFT_SAMPLES} per run (a larger hop_length gives fewer frames)`,
    );
  }
  const melFilters =
    config.mel_filters === undefined || config.mel_filters === null
      ? slaneyMelFilters(nMels, nFft, sampleRate)
      : melFiltersOf(config.mel_filters, nMels, (nFft >> 1) + 1);
  return { sampleRate, nFft, hop, nSamples, nFrames, nMels, melFilters };
}

/** The file's bank as [nMels, nFreqs]; transformers writes [nFreqs][nMels], older exports [nMels][nFreqs]. */
function melFiltersOf(value: unknown, nMels: number, nFreqs: number): Float32Array {
  const bad = () =>
    dataError(
      `the model's preprocessor_config.json mel_filters must be ${nMels} × ${nFreqs} (or ${nFreqs} × ${nMels}) finite numbers`,
    );
  if (
    !Array.isArray(value) ||
    !value.every((row) => Array.isArray(row) && row.every((v) => typeof v === 'number' && Number.isFinite(v)))
  )
    throw bad();
  const rows = value as number[][];
  const out = new Float32Array(nMels * nFreqs);
  if (rows.length === nMels && rows.every((r) => r.length === nFreqs)) {
    rows.forEach((r, m) => out.set(r, m * nFreqs));
  } else if (rows.length === nFreqs && rows.every((r) => r.length === nMels)) {
    rows.forEach((r, f) =>
      r.forEach((v, m) => {
        out[m * nFreqs + f] = v;
      }),
    );
  } else {
    throw bad();
  }
  return out;
}

// ---- run: input ----

function audioOf(input: WireInput, features: SpeechRecognitionAssets['features']): Float32Array {
  const { audio, sampleRate } = checkedAudio(input, 'automatic-speech-recognition');
  // Checked before resampling: the cap is on the duration, whatever the rate.
  const maxSamples = MAX_AUDIO_SECONDS * features.sampleRate;
  return audioAtRate(audio, sampleRate, features.sampleRate, maxSamples, 'automatic-speech-recognition');
}

/** The timestamp tokens' place, from the config: they follow <|notimestamps|> as in every Whisper vocab. */
function timestampConfigOf(generation: WhisperGeneration): TimestampConfig {
  return {
    timestampBegin: generation.noTimestampsId + 1,
    noTimestampsId: generation.noTimestampsId,
    eosIds: generation.eosIds,
    maxInitialIndex: generation.maxInitialTimestampIndex,
  };
}

function promptOf(generation: WhisperGeneration, options: NormalizedOptions, timestamps: boolean): number[] {
  const language = options.language ?? 'en';
  const { languages } = generation;
  // Without <|notimestamps|> Whisper writes timestamps.
  const tail = timestamps ? [] : [generation.noTimestampsId];
  if (languages.size === 0) {
    // An English-only checkpoint (whisper-*.en): no language or task token in its prompt.
    if (options.task === 'translate')
      throw new WebqError(
        'NotSupportedError',
        'option task "translate": this model is English-only and cannot translate',
      );
    if (language !== 'en')
      throw dataError(`option language: this model transcribes English only, got ${JSON.stringify(language)}`);
    return [generation.decoderStartId, ...tail];
  }
  const id = languages.get(language);
  if (id === undefined) {
    const known = [...languages.keys()];
    throw dataError(
      `option language ${JSON.stringify(language)} is not one this model knows; it knows ${known.slice(0, 12).join(', ')}${known.length > 12 ? ` and ${known.length - 12} more` : ''}`,
    );
  }
  let task = generation.transcribeId!;
  if (options.task === 'translate') {
    if (generation.translateId === undefined)
      throw new WebqError(
        'NotSupportedError',
        'option task "translate": the model\'s generation_config.json has no task_to_id.translate',
      );
    task = generation.translateId;
  }
  return [generation.decoderStartId, id, task, ...tail];
}

function maxNewTokensOf(generation: WhisperGeneration, promptLength: number, options: NormalizedOptions): number {
  const room = generation.maxLength - promptLength;
  if (options.maxNewTokens === undefined) return room;
  if (options.maxNewTokens > room) {
    throw dataError(
      `option maxNewTokens ${options.maxNewTokens} and the ${promptLength}-token prompt exceed the decoder's ${generation.maxLength} positions; at most ${room}`,
    );
  }
  return options.maxNewTokens;
}

function checkAborted(graphs: GraphRunner): void {
  if (graphs.signal.aborted) throw new WebqError('AbortError', 'the request was aborted');
}

// ---- run: graphs ----

async function encode(graphs: GraphRunner, features: Float32Array, config: LogMelConfig): Promise<Tensor> {
  const io = graphs.io(ROLES.encoder);
  const declared = io.inputs.find((i) => i.name === 'input_features');
  if (!declared)
    throw dataError(
      `the model's encoder has no input_features input (its inputs: ${io.inputs.map((i) => i.name).join(', ')})`,
    );
  const [, mels, frames] = declared.dims;
  if (
    (typeof mels === 'number' && mels !== config.nMels) ||
    (typeof frames === 'number' && frames !== config.nFrames)
  ) {
    throw dataError(
      `the model's encoder takes input_features [batch, ${mels}, ${frames}], but preprocessor_config.json gives ${config.nMels} × ${config.nFrames}`,
    );
  }
  const tensor = floatTensor(features, [1, config.nMels, config.nFrames], declared.type);
  const outputs = await graphs.run(ROLES.encoder, feedsFor(graphs, ROLES.encoder, { input_features: tensor }));
  const hidden = outputs.last_hidden_state ?? outputs[io.outputs[0]?.name ?? ''];
  if (!hidden)
    throw new WebqError(
      'OperationError',
      `the model's encoder gave no last_hidden_state (its outputs: ${Object.keys(outputs).join(', ')})`,
    );
  return hidden;
}

/**
 * Greedy decoding. The cache maps each `past_key_values.{i}.{decoder|encoder}.{key|value}` input to the tensor the
 * first step gave as `present.…` of the same name, the decoder (self-attention) halves replaced by each later step's.
 * The cross-attention (encoder) halves are the first step's for good: the with-past graph of the Optimum export
 * gives none, and a merged decoder's with-past branch gives placeholders there (Optimum's merge pads that branch's
 * outputs with constants), or at best the same values again.
 *
 * Where the runner keeps outputs on the GPU (`runKeeping`: WebGPU), the cache stays there between steps, so a step
 * uploads one token id instead of the whole cache (the cross-attention halves alone are ~18 MB for whisper-base's
 * 1500 audio positions). A GPU tensor goes back only to the session that made it: a merged decoder's cache stays
 * whole; with two graphs, the with-past graph's own decoder halves stay, and the first step's (another session's)
 * come back to the CPU once. Every GPU tensor is disposed when decoding ends, however it ends.
 */
async function generate(
  graphs: GraphRunner,
  generation: WhisperGeneration,
  prompt: number[],
  encoderHidden: Tensor,
  maxNew: number,
  timestamps: TimestampConfig | undefined,
): Promise<number[]> {
  const tokens: number[] = [];
  const cache = new Map<string, HeldTensor>();
  const decoderIo = graphs.io(ROLES.decoder);
  const idsType = decoderIo.inputs.find((i) => i.name === 'input_ids')?.type ?? 'int64';
  // A merged decoder (decoder_model_merged.onnx) takes both steps: its use_cache_branch picks the branch.
  const merged = decoderIo.inputs.some((i) => i.name === USE_CACHE_BRANCH);
  const stepRole = merged ? ROLES.decoder : ROLES.withPast;
  const branch = (useCache: boolean): Record<string, Tensor> =>
    merged ? { [USE_CACHE_BRANCH]: { type: 'bool', dims: [1], data: Uint8Array.of(useCache ? 1 : 0) } } : {};
  const pool = (ids: number[]): Record<string, HeldTensor> => ({
    input_ids: idsTensor(ids, idsType),
    encoder_hidden_states: encoderHidden,
    ...Object.fromEntries(cache),
  });
  const crossAttention = (name: string) => name.includes('.encoder.');
  // The first step's presents stay on the GPU only where the same session takes them back (a merged decoder). A
  // later step's cross-attention outputs are kept too, only to be disposed unread (keepPresents): not downloaded.
  const keepFirst = merged ? presentOutputs(graphs, ROLES.decoder) : [];
  const keepStep = presentOutputs(graphs, stepRole);
  const run = (role: string, feeds: Record<string, HeldTensor>, keep: string[]) =>
    graphs.runKeeping
      ? graphs.runKeeping(role, feedsFor(graphs, role, feeds), keep)
      : graphs.run(role, feedsFor(graphs, role, feeds) as Record<string, Tensor>);
  try {
    checkAborted(graphs);
    const first = { ...pool(prompt), ...branch(false), ...(merged ? emptyPast(decoderIo) : {}) };
    let outputs = await run(ROLES.decoder, first, keepFirst);
    for (let step = 0; ; step++) {
      keepPresents(outputs, cache, step === 0 ? () => true : (name) => !crossAttention(name));
      const logits = lastLogits(outputs);
      for (const id of generation.suppress) if (id < logits.length) logits[id] = -Infinity;
      if (step === 0) for (const id of generation.beginSuppress) if (id < logits.length) logits[id] = -Infinity;
      if (timestamps) {
        if (logits.length <= timestamps.timestampBegin)
          throw new WebqError(
            'NotSupportedError',
            `option returnTimestamps: the model's ${logits.length} tokens have no timestamp tokens after <|notimestamps|>`,
          );
        timestampRules(logits, tokens, timestamps);
      }
      const next = argmax(logits);
      if (generation.eosIds.includes(next)) break;
      tokens.push(next);
      if (tokens.length >= maxNew) break;
      checkAborted(graphs);
      outputs = await run(stepRole, { ...pool([next]), ...branch(true) }, keepStep);
    }
  } finally {
    disposeDevice(cache.values());
  }
  return tokens;
}

/**
 * The past a merged decoder's first step is fed, whose no-cache branch reads none of it: each past_key_values.*
 * input with no positions ([batch 1, heads, 0, head size], as transformers.js feeds it). Heads and head size come
 * from the declared dims, which Optimum's exports fix.
 */
function emptyPast(io: ReturnType<GraphRunner['io']>): Record<string, Tensor> {
  const past: Record<string, Tensor> = {};
  for (const input of io.inputs) {
    if (!input.name.startsWith('past_key_values.')) continue;
    const [, heads, , size] = input.dims;
    if (input.dims.length !== 4 || typeof heads !== 'number' || typeof size !== 'number')
      throw dataError(
        `the model's merged decoder declares ${input.name} as [${input.dims.join(', ')}]; webq needs [batch, heads, positions, head size] with fixed heads and head size`,
      );
    const dims = [1, heads, 0, size];
    past[input.name] =
      input.type === 'float16'
        ? { type: 'float16', dims, data: new Uint16Array(0) }
        : { type: 'float32', dims, data: new Float32Array(0) };
  }
  return past;
}

/** Exactly the inputs the graph declares, from what this pipeline has; anything else it declares is an error. */
function feedsFor<T extends HeldTensor>(
  graphs: GraphRunner,
  role: string,
  available: Record<string, T>,
): Record<string, T> {
  const feeds: Record<string, T> = {};
  for (const input of graphs.io(role).inputs) {
    const tensor = available[input.name];
    if (!tensor) {
      const hint = input.name.startsWith('past_key_values.')
        ? ` (the previous step gave no ${input.name.replace('past_key_values.', 'present.')})`
        : '';
      throw new WebqError(
        'DataError',
        `the model's ${role} graph takes an input ${JSON.stringify(input.name)} that automatic-speech-recognition cannot feed${hint}`,
      );
    }
    feeds[input.name] = tensor;
  }
  return feeds;
}

/** The logits of the last position, as float32 (a copy: suppression writes into it). */
function lastLogits(outputs: Record<string, HeldTensor>): Float32Array {
  const logits = outputs.logits;
  if (
    !logits ||
    isDeviceTensor(logits) ||
    logits.dims.length !== 3 ||
    (logits.type !== 'float32' && logits.type !== 'float16')
  ) {
    throw new WebqError(
      'OperationError',
      `the model's decoder gave no logits [batch, tokens, vocabulary] (its outputs: ${Object.keys(outputs).join(', ')})`,
    );
  }
  const [, positions, vocabulary] = logits.dims as [number, number, number];
  const start = (positions - 1) * vocabulary;
  return logits.type === 'float16'
    ? fromFloat16((logits.data as Uint16Array).subarray(start, start + vocabulary))
    : (logits.data as Float32Array).slice(start, start + vocabulary);
}

function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

function idsTensor(ids: number[], type: string): Tensor {
  if (type === 'int32') return { type: 'int32', dims: [1, ids.length], data: Int32Array.from(ids) };
  return { type: 'int64', dims: [1, ids.length], data: BigInt64Array.from(ids, (id) => BigInt(id)) };
}

function floatTensor(data: Float32Array, dims: number[], type: string): Tensor {
  return type === 'float16' ? { type: 'float16', dims, data: toFloat16(data) } : { type: 'float32', dims, data };
}
