/**
 * A small Whisper in the hub layout of Xenova/whisper-tiny (Optimum export), generated (nothing downloaded): the
 * tokenizer files in the real Hugging Face format (byte-level BPE, a small vocab, Whisper's special tokens as added
 * tokens), generation_config.json, preprocessor_config.json, config.json, and the three graphs with the real names
 * and shapes — encoder input_features [b, 80, 3000] → last_hidden_state [b, 1500, 64]; decoder and
 * decoder_with_past with present.* / past_key_values.* for 2 layers of 2 heads — at hidden size 64.
 *
 * What it says is scripted, so a test can know the text, but it is read from what a pipeline must get right:
 *   - the sound: the encoder's channels 0 and 1 are the mean log-mel of the low (mel bins 0–29, up to ~1.1 kHz) and
 *     high (bins 50–79, from ~2.6 kHz) bands; the decoders read them back from the cross-attention cache (layer 0's
 *     encoder key, layer 1's encoder value) and pick silence / a low sound / a high sound (WHISPER_TEXTS);
 *   - the language: the token after <|startoftranscript|>, read back from layer 0's decoder value at position 1;
 * - the step: the position of the token, which decoder_with_past reads with Shape from past_key_values.1.decoder.key —
 *     a cache that does not grow, or a prompt of another length, gives another text;
 *   - the logits processors: at the first step the largest logit is <|endoftext|> (then the space token), both in
 *     begin_suppress_tokens; at the second step it is '#', in suppress_tokens. Only the next-largest is the text;
 *   - the task: with <|translate|> in the prompt it says the English text of the sound, whatever the language
 *     (Whisper translates into English);
 *   - timestamps: without <|notimestamps|> in the prompt it writes `<|0.00|> text <|end|>`, `end` being where the
 *     sound stops in the window (WHISPER_TIMESTAMPS), read from the cross-attention caches frame by frame (one
 *     encoder frame is one 0.02 s timestamp step). The tokens <|0.00|> … <|30.00|> follow <|notimestamps|> in the
 *     vocab, as in Whisper's; the flags are read from layer 0's decoder value over all positions (channel 0: 4 for
 *     <|translate|>, 5 for <|notimestamps|>).
 * Real attention over the self- and cross-attention caches adds a small term to the logits (every cache input is
 * used, q/k/v/o look like attention to the quantizer), and every projection is a MatMul with K ≥ 64.
 */
import { onnx } from 'onnx-proto';
import { intAttr, intsAttr, makeNode, valueInfo } from '../../extension/onnx/model';
import { DataType, floatTensor, rawTensor } from '../../extension/onnx/tensor';
import { hashName, mulberry32 } from '../../extension/shared/random';
import type { HubFiles } from '../hub-mirror';

export const WHISPER_CONFIG = Object.freeze({
  hidden: 64,
  heads: 2,
  layers: 2,
  mels: 80,
  frames: 3000,
  encoderFrames: 1500,
  maxTargetPositions: 448,
});

/**
 * The sizes a generated Whisper can take. The default is the test model's (WHISPER_CONFIG): an encoder that is one
 * projection of frame pairs, attention-only decoder layers, the vocab of the scripted texts — its files stay byte for
 * byte what they were. `blocks: true` adds what the real model spends its time in, around the same script:
 * `encoderLayers` pre-LayerNorm transformer layers in the encoder (self-attention over the 1500 frames, a 4×hidden
 * GELU MLP, a sinusoid-shaped position table), and per decoder layer a separate cross-attention output projection
 * and a LayerNorm + 4×hidden GELU MLP. None of them writes the channels the script reads (encoder channels 0 and 1;
 * decoder channel 0 at layer 0's input), so the text still follows the sound and the language at any size.
 * `vocabSize` pads the vocab with tokens no merge produces (`[filler<i>]`), so the embedding table, the output head
 * and the logits have the real width (Whisper tiny: 51,865). The benchmark builds WHISPER_TINY_SIZE.
 */
export interface WhisperSize {
  hidden: number;
  heads: number;
  encoderLayers: number;
  decoderLayers: number;
  /** tokens in all, the special tokens included; 0 = as many as the scripted texts need */
  vocabSize: number;
  blocks: boolean;
}

export const WHISPER_TEST_SIZE: Readonly<WhisperSize> = Object.freeze({
  hidden: WHISPER_CONFIG.hidden,
  heads: WHISPER_CONFIG.heads,
  encoderLayers: WHISPER_CONFIG.layers,
  decoderLayers: WHISPER_CONFIG.layers,
  vocabSize: 0,
  blocks: false,
});
/** openai/whisper-tiny's shapes: d_model 384, 6 heads, 4 + 4 layers, 51,865 tokens. */
export const WHISPER_TINY_SIZE: Readonly<WhisperSize> = Object.freeze({
  hidden: 384,
  heads: 6,
  encoderLayers: 4,
  decoderLayers: 4,
  vocabSize: 51865,
  blocks: true,
});

function sizeOf(size: Partial<WhisperSize>): WhisperSize {
  const s = { ...WHISPER_TEST_SIZE, ...size };
  if (s.hidden % s.heads !== 0) throw new RangeError(`hidden ${s.hidden} is not a multiple of heads ${s.heads}`);
  // The script reads layer 1's caches (the high band, the step); the decoder needs two layers at least.
  if (s.decoderLayers < 2) throw new RangeError(`decoderLayers ${s.decoderLayers}: the test Whisper needs 2 or more`);
  return s;
}

/** The sound classes the test model tells apart, in the order of its decision (0 = silence). */
export type WhisperSound = 'silence' | 'low' | 'high';
const SOUNDS: readonly WhisperSound[] = ['silence', 'low', 'high'];

/** The languages of the test model, in the order of their tokens (Whisper's own order for these three). */
export const WHISPER_LANGUAGES = Object.freeze(['en', 'de', 'fr'] as const);
export type WhisperLanguage = (typeof WHISPER_LANGUAGES)[number];

/** What the test model says, by language and sound: what a test (in Node or in a browser) asserts. */
export const WHISPER_TEXTS: Readonly<Record<WhisperLanguage, Readonly<Record<WhisperSound, string>>>> = Object.freeze({
  en: { silence: 'Nothing to hear.', low: 'A low hum.', high: 'A high whistle.' },
  de: { silence: 'Nichts zu hören.', low: 'Ein tiefes Brummen.', high: 'Ein hohes Pfeifen.' },
  fr: { silence: 'Rien à entendre.', low: 'Un bourdonnement grave.', high: 'Un sifflement aigu.' },
});

/**
 * Inputs that give each sound class: silence, a 440 Hz tone, a 5 kHz tone (amplitude 0.5, 10 ms fade in and out so
 * the edges do not click), at any sample rate. Any audio whose loudest low-band or high-band frame stands out of the
 * silence floor is a sound; which band is louder decides low or high.
 */
export function whisperTestAudio(sound: WhisperSound, sampleRate = 16000, seconds = 1): Float32Array {
  const frequency = sound === 'low' ? 440 : sound === 'high' ? 5000 : 0;
  const n = Math.round(sampleRate * seconds);
  const fade = Math.round(sampleRate * 0.01);
  return Float32Array.from({ length: n }, (_, i) => {
    if (!frequency) return 0;
    const edge = Math.min(i, n - 1 - i);
    const gain = edge >= fade ? 1 : 0.5 - 0.5 * Math.cos((Math.PI * edge) / fade);
    return 0.5 * gain * Math.sin((2 * Math.PI * frequency * i) / sampleRate);
  });
}

// ---- the tokenizer: byte-level BPE with a merge chain per word of the texts ----

/** GPT-2's bytes_to_unicode: the printable bytes stand for themselves, the others for characters from U+0100 on. */
interface ByteTable {
  byId: string[];
  byByte: string[];
}
let cachedBytes: ByteTable | undefined;

function byteTable(): ByteTable {
  if (cachedBytes) return cachedBytes;
  const bytes: number[] = [];
  for (let b = 33; b <= 126; b++) bytes.push(b);
  for (let b = 161; b <= 172; b++) bytes.push(b);
  for (let b = 174; b <= 255; b++) bytes.push(b);
  const byId = bytes.map((b) => String.fromCharCode(b));
  for (let b = 0, extra = 0; b < 256; b++) {
    if (bytes.includes(b)) continue;
    bytes.push(b);
    byId.push(String.fromCharCode(256 + extra++));
  }
  // Ids 0..255 in GPT-2's order (the printable bytes first), as in every GPT-2-derived vocab.json.
  const byByte: string[] = new Array(256);
  bytes.forEach((b, id) => {
    byByte[b] = byId[id]!;
  });
  return (cachedBytes = { byId, byByte });
}

/** ' hören' → ['Ġ', 'h', 'Ã', '¶', 'r', 'e', 'n']: the text's UTF-8 bytes as byte-level characters. */
const byteLevel = (text: string): string[] => [...new TextEncoder().encode(text)].map((b) => byteTable().byByte[b]!);

/** The pieces GPT-2's pre-tokenizer splits a Whisper text into: words with their leading space, punctuation. */
const pieces = (text: string): string[] => text.match(/ ?[\p{L}\p{N}]+| ?[^\s\p{L}\p{N}]+/gu) ?? [];

const SPECIAL_TOKENS = [
  '<|endoftext|>',
  '<|startoftranscript|>',
  ...WHISPER_LANGUAGES.map((l) => `<|${l}|>`),
  '<|translate|>',
  '<|transcribe|>',
  '<|startoflm|>',
  '<|startofprev|>',
  '<|nocaptions|>',
  '<|notimestamps|>',
  // Whisper's timestamp tokens, one per 0.02 s of a 30 s window.
  ...Array.from({ length: 1501 }, (_, i) => `<|${(i * 0.02).toFixed(2)}|>`),
];

interface Vocabulary {
  vocab: Map<string, number>;
  merges: string[];
  /** Size including the added (special) tokens: the logits' last dimension. */
  size: number;
  special: Record<string, number>;
}

const cachedVocabularies = new Map<number, Vocabulary>();

/** The scripted texts' vocab; `padTo` (tokens in all, specials included) adds never-produced fillers before the
 * specials. */
function vocabulary(padTo = 0): Vocabulary {
  const cached = cachedVocabularies.get(padTo);
  if (cached) return cached;
  const vocab = new Map<string, number>(byteTable().byId.map((c, i) => [c, i]));
  const merges: string[] = [];
  for (const texts of Object.values(WHISPER_TEXTS)) {
    for (const text of Object.values(texts)) {
      for (const piece of pieces(` ${text}`)) {
        // A chain of merges from the left makes each word one token: (Ġ h) → Ġh, (Ġh e) → Ġhe, …
        const symbols = byteLevel(piece);
        let token = symbols[0]!;
        for (const next of symbols.slice(1)) {
          const merged = token + next;
          if (!vocab.has(merged)) {
            merges.push(`${token} ${next}`);
            vocab.set(merged, vocab.size);
          }
          token = merged;
        }
      }
    }
  }
  if (padTo) {
    const regular = padTo - SPECIAL_TOKENS.length;
    if (regular < vocab.size)
      throw new RangeError(
        `vocabSize ${padTo} is below the ${vocab.size + SPECIAL_TOKENS.length} tokens the texts need`,
      );
    for (let i = 0; vocab.size < regular; i++) vocab.set(`[filler${i}]`, vocab.size);
  }
  const special: Record<string, number> = {};
  SPECIAL_TOKENS.forEach((t, i) => {
    special[t] = vocab.size + i;
  });
  const v = { vocab, merges, size: vocab.size + SPECIAL_TOKENS.length, special };
  cachedVocabularies.set(padTo, v);
  return v;
}

function idIn(v: Vocabulary, token: string): number {
  const id = v.vocab.get(token) ?? v.special[token];
  if (id === undefined) throw new Error(`${token} is not in the test Whisper vocab`);
  return id;
}

/** The id of a token of the test vocab ('Ġhum', '#', '<|en|>'). */
export function whisperTokenId(token: string): number {
  return idIn(vocabulary(), token);
}

/** The ids the test model generates for a text of WHISPER_TEXTS (each word one token, with its leading space). */
export function whisperTextIds(text: string): number[] {
  return pieces(` ${text}`).map((piece) => whisperTokenId(byteLevel(piece).join('')));
}

export function whisperTokenizerJson(size: Partial<WhisperSize> = {}): Record<string, unknown> {
  const { vocab, merges, special } = vocabulary(sizeOf(size).vocabSize);
  const byteLevelOptions = { add_prefix_space: false, trim_offsets: true, use_regex: true };
  const sot = {
    id: '<|startoftranscript|>',
    ids: [special['<|startoftranscript|>']],
    tokens: ['<|startoftranscript|>'],
  };
  const notimestamps = { id: '<|notimestamps|>', ids: [special['<|notimestamps|>']], tokens: ['<|notimestamps|>'] };
  const eot = { id: '<|endoftext|>', ids: [special['<|endoftext|>']], tokens: ['<|endoftext|>'] };
  const token = (id: string) => ({ SpecialToken: { id, type_id: 0 } });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((content) => ({
      id: special[content],
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      // As in openai/whisper-*'s tokenizer.json: the timestamps are added tokens but not special ones.
      special: !/^<\|\d+\.\d\d\|>$/.test(content),
    })),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', ...byteLevelOptions },
    post_processor: {
      type: 'TemplateProcessing',
      single: [
        token('<|startoftranscript|>'),
        token('<|notimestamps|>'),
        { Sequence: { id: 'A', type_id: 0 } },
        token('<|endoftext|>'),
      ],
      pair: [
        token('<|startoftranscript|>'),
        token('<|notimestamps|>'),
        { Sequence: { id: 'A', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        token('<|endoftext|>'),
      ],
      special_tokens: { '<|startoftranscript|>': sot, '<|notimestamps|>': notimestamps, '<|endoftext|>': eot },
    },
    decoder: { type: 'ByteLevel', ...byteLevelOptions, add_prefix_space: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      vocab: Object.fromEntries(vocab),
      merges,
    },
  };
}

export function whisperTokenizerConfig(): Record<string, unknown> {
  return {
    add_prefix_space: false,
    bos_token: '<|endoftext|>',
    clean_up_tokenization_spaces: true,
    eos_token: '<|endoftext|>',
    errors: 'replace',
    model_max_length: 1024,
    pad_token: '<|endoftext|>',
    processor_class: 'WhisperProcessor',
    return_attention_mask: false,
    tokenizer_class: 'WhisperTokenizer',
    unk_token: '<|endoftext|>',
  };
}

/** Symbols Whisper never writes; '#' is the one the test model prefers at the second step. */
const SUPPRESSED_SYMBOLS = [
  '"',
  '#',
  '(',
  ')',
  '*',
  '+',
  '/',
  '<',
  '=',
  '>',
  '@',
  '[',
  ']',
  '^',
  '_',
  '{',
  '|',
  '}',
  '~',
];

export function whisperGenerationConfig(size: Partial<WhisperSize> = {}): Record<string, unknown> {
  const v = vocabulary(sizeOf(size).vocabSize);
  const id = (t: string) => v.special[t]!;
  return {
    begin_suppress_tokens: [idIn(v, 'Ġ'), id('<|endoftext|>')],
    bos_token_id: id('<|endoftext|>'),
    decoder_start_token_id: id('<|startoftranscript|>'),
    eos_token_id: id('<|endoftext|>'),
    forced_decoder_ids: [
      [1, null],
      [2, id('<|transcribe|>')],
    ],
    is_multilingual: true,
    lang_to_id: Object.fromEntries(WHISPER_LANGUAGES.map((l) => [`<|${l}|>`, id(`<|${l}|>`)])),
    max_initial_timestamp_index: 1,
    max_length: WHISPER_CONFIG.maxTargetPositions,
    no_timestamps_token_id: id('<|notimestamps|>'),
    pad_token_id: id('<|endoftext|>'),
    return_timestamps: false,
    suppress_tokens: [
      ...SUPPRESSED_SYMBOLS.map((t) => idIn(v, t)),
      id('<|translate|>'),
      id('<|transcribe|>'),
      id('<|startoflm|>'),
      id('<|startofprev|>'),
      id('<|nocaptions|>'),
    ],
    task_to_id: { translate: id('<|translate|>'), transcribe: id('<|transcribe|>') },
    transformers_version: '4.31.0.dev0',
  };
}

/** Xenova/whisper-tiny's preprocessor_config.json, without mel_filters (the pipeline computes the Slaney bank). */
export function whisperPreprocessorConfig(): Record<string, unknown> {
  return {
    chunk_length: 30,
    feature_extractor_type: 'WhisperFeatureExtractor',
    feature_size: WHISPER_CONFIG.mels,
    hop_length: 160,
    n_fft: 400,
    n_samples: 480000,
    nb_max_frames: WHISPER_CONFIG.frames,
    padding_side: 'right',
    padding_value: 0,
    processor_class: 'WhisperProcessor',
    return_attention_mask: false,
    sampling_rate: 16000,
  };
}

export function whisperConfigJson(size: Partial<WhisperSize> = {}): Record<string, unknown> {
  const c = WHISPER_CONFIG;
  const s = sizeOf(size);
  const g = whisperGenerationConfig(size);
  return {
    architectures: ['WhisperForConditionalGeneration'],
    model_type: 'whisper',
    activation_function: 'gelu',
    d_model: s.hidden,
    encoder_layers: s.encoderLayers,
    decoder_layers: s.decoderLayers,
    encoder_attention_heads: s.heads,
    decoder_attention_heads: s.heads,
    encoder_ffn_dim: 4 * s.hidden,
    decoder_ffn_dim: 4 * s.hidden,
    num_mel_bins: c.mels,
    max_source_positions: c.encoderFrames,
    max_target_positions: c.maxTargetPositions,
    vocab_size: vocabulary(s.vocabSize).size,
    bos_token_id: g.bos_token_id,
    decoder_start_token_id: g.decoder_start_token_id,
    eos_token_id: g.eos_token_id,
    pad_token_id: g.pad_token_id,
    begin_suppress_tokens: g.begin_suppress_tokens,
    suppress_tokens: g.suppress_tokens,
    use_cache: true,
    is_encoder_decoder: true,
  };
}

/** The hub files of the test Whisper (or one of `size`): repo-relative path → contents. Same seed, same bytes. */
export function whisperHubFiles(seed = 1234, size: Partial<WhisperSize> = {}): HubFiles {
  return {
    'tokenizer.json': JSON.stringify(whisperTokenizerJson(size)),
    'tokenizer_config.json': JSON.stringify(whisperTokenizerConfig()),
    'generation_config.json': JSON.stringify(whisperGenerationConfig(size)),
    'preprocessor_config.json': JSON.stringify(whisperPreprocessorConfig()),
    'config.json': JSON.stringify(whisperConfigJson(size)),
    'onnx/encoder_model.onnx': whisperEncoderModel(seed, size),
    'onnx/decoder_model.onnx': whisperDecoderModel(seed, false, size),
    'onnx/decoder_with_past_model.onnx': whisperDecoderModel(seed, true, size),
  };
}

// ---- graphs ----

class GraphBuilder {
  readonly nodes: onnx.NodeProto[] = [];
  readonly initializers: onnx.TensorProto[] = [];
  private count = 0;

  constructor(private readonly seed: number) {}

  node(op: string, inputs: string[], output: string, attrs: onnx.AttributeProto[] = []): string {
    this.nodes.push(makeNode(op, inputs, [output], `${output}/${op}_${this.count++}`, attrs));
    return output;
  }

  /**
   * A normal(0, std) weight seeded by the model seed and its name, so both decoders hold the same weights whatever
   * else each builds; `fix` then sets the entries the script reads.
   */
  weight(name: string, dims: number[], std: number, fix?: (values: Float32Array) => void): string {
    const random = mulberry32(this.seed ^ hashName(name));
    const values = new Float32Array(dims.reduce((a, b) => a * b, 1));
    for (let i = 0; i < values.length; i++) values[i] = normal(random) * std;
    fix?.(values);
    this.initializers.push(floatTensor(name, dims, values));
    return name;
  }

  floats(name: string, dims: number[], values: Float32Array): string {
    this.initializers.push(floatTensor(name, dims, values));
    return name;
  }

  ints(name: string, dims: number[], values: number[]): string {
    const data = BigInt64Array.from(values, (v) => BigInt(v));
    this.initializers.push(rawTensor(name, DataType.INT64, dims, new Uint8Array(data.buffer)));
    return name;
  }
}

/** Box–Muller on the shared seeded uniform generator. */
function normal(random: () => number): number {
  const u = Math.max(random(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

function encode(
  g: GraphBuilder,
  name: string,
  inputs: onnx.ValueInfoProto[],
  outputs: onnx.ValueInfoProto[],
): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'webq-tests',
    opsetImport: [{ domain: '', version: 17 }],
    graph: { name, node: g.nodes, initializer: g.initializers, input: inputs, output: outputs },
  });
  return onnx.ModelProto.encode(model).finish();
}

const LOW_BINS = [0, 30] as const;
const HIGH_BINS = [50, 80] as const;
/** Mean normalised log-mel of a band, above which a frame is a sound: silence is exactly −1.5 ((−10 + 4) / 4). */
const SOUND_THRESHOLD = -1.2;

/** Zeroes output columns `[0, keep)` of a [rows, cols] weight or a [cols] bias: channels the script owns. */
const spare = (keep: number, cols: number) => (v: Float32Array) => {
  for (let r = 0; r < v.length / cols; r++) v.fill(0, r * cols, r * cols + keep);
};

/** LayerNorm over the last axis with seeded gain and bias near 1 and 0. */
function layerNorm(g: GraphBuilder, x: string, prefix: string, hidden: number): string {
  const gamma = g.weight(`${prefix}.weight`, [hidden], 0.05, (v) => {
    for (let i = 0; i < v.length; i++) v[i]! += 1;
  });
  const beta = g.weight(`${prefix}.bias`, [hidden], 0.02);
  return g.node('LayerNormalization', [x, gamma, beta], `/${prefix}/LayerNormalization`, [intAttr('axis', -1)]);
}

/** x·W + b with W [in, out] of spread 1/√in; `keep` output columns left at zero. */
function linear(g: GraphBuilder, x: string, prefix: string, inDim: number, outDim: number, keep = 0): string {
  const w = g.weight(`${prefix}.weight`, [inDim, outDim], 1 / Math.sqrt(inDim), keep ? spare(keep, outDim) : undefined);
  const b = g.weight(`${prefix}.bias`, [outDim], 0.02, keep ? spare(keep, outDim) : undefined);
  return g.node('Add', [g.node('MatMul', [x, w], `/${prefix}/MatMul`), b], `/${prefix}/Add`);
}

/** LayerNorm, fc1, GELU as exported (x · ½ · (1 + erf(x / √2))), fc2 (4 × hidden wide), added to x. */
function mlp(g: GraphBuilder, s: WhisperSize, x: string, p: string, normName: string, keep: number): string {
  const up = linear(g, layerNorm(g, x, `${p}.${normName}`, s.hidden), `${p}.fc1`, s.hidden, 4 * s.hidden);
  const erf = g.node(
    'Erf',
    [g.node('Div', [up, g.floats(`/${p}/gelu/sqrt2`, [], Float32Array.of(Math.SQRT2))], `/${p}/gelu/Div`)],
    `/${p}/gelu/Erf`,
  );
  const onePlus = g.node('Add', [erf, g.floats(`/${p}/gelu/one`, [], Float32Array.of(1))], `/${p}/gelu/Add`);
  const gelu = g.node(
    'Mul',
    [g.node('Mul', [up, onePlus], `/${p}/gelu/Mul`), g.floats(`/${p}/gelu/half`, [], Float32Array.of(0.5))],
    `/${p}/gelu/Mul_1`,
  );
  return g.node('Add', [x, linear(g, gelu, `${p}.fc2`, 4 * s.hidden, s.hidden, keep)], `/${p}/mlp/residual`);
}

/** One pre-LayerNorm encoder layer: self-attention over the frames, then the MLP; channels 0 and 1 pass untouched. */
function encoderLayer(g: GraphBuilder, s: WhisperSize, x: string, i: number): string {
  const { hidden, heads } = s;
  const headDim = hidden / heads;
  const p = `model.encoder.layers.${i}`;
  const h = layerNorm(g, x, `${p}.self_attn_layer_norm`, hidden);
  const split = g.ints(`/${p}/split_heads`, [4], [0, 0, heads, headDim]);
  const heads4 = (name: string, perm: number[]) =>
    g.node(
      'Transpose',
      [
        g.node(
          'Reshape',
          [linear(g, h, `${p}.self_attn.${name}`, hidden, hidden), split],
          `/${p}/self_attn/${name}/Reshape`,
        ),
      ],
      `/${p}/self_attn/${name}/Transpose`,
      [intsAttr('perm', perm)],
    );
  const q = heads4('q_proj', [0, 2, 1, 3]);
  const k = heads4('k_proj', [0, 2, 3, 1]);
  const v = heads4('v_proj', [0, 2, 1, 3]);
  const scores = g.node(
    'Mul',
    [
      g.node('MatMul', [q, k], `/${p}/self_attn/scores`),
      g.floats(`/${p}/self_attn/scale`, [], Float32Array.of(1 / Math.sqrt(headDim))),
    ],
    `/${p}/self_attn/scaled`,
  );
  const context = g.node(
    'MatMul',
    [g.node('Softmax', [scores], `/${p}/self_attn/Softmax`, [intAttr('axis', -1)]), v],
    `/${p}/self_attn/context`,
  );
  const merged = g.node(
    'Reshape',
    [
      g.node('Transpose', [context], `/${p}/self_attn/context/Transpose`, [intsAttr('perm', [0, 2, 1, 3])]),
      g.ints(`/${p}/merge_heads`, [3], [0, 0, hidden]),
    ],
    `/${p}/self_attn/merged`,
  );
  const attended = g.node(
    'Add',
    [x, linear(g, merged, `${p}.self_attn.out_proj`, hidden, hidden, 2)],
    `/${p}/self_attn/residual`,
  );
  return mlp(g, s, attended, p, 'final_layer_norm', 2);
}

/**
 * input_features [b, 80, 3000] → pairs of frames [b, 1500, 160] → MatMul [160, 64] + bias → last_hidden_state.
 * Columns 0 and 1 average the low and high mel bands of both frames; the others are seeded random projections.
 * With `blocks` (WhisperSize), the projection (standing for the real model's two convolutions, which hold 1.5 % of
 * its weights) is followed by a position table and `encoderLayers` transformer layers that leave columns 0 and 1 be.
 */
export function whisperEncoderModel(seed = 1234, size: Partial<WhisperSize> = {}): Uint8Array {
  const { mels, frames, encoderFrames } = WHISPER_CONFIG;
  const s = sizeOf(size);
  const { hidden } = s;
  const g = new GraphBuilder(seed);
  const band = (values: Float32Array, column: number, [from, to]: readonly [number, number]) => {
    for (let row = 0; row < 2 * mels; row++) {
      const bin = row % mels;
      values[row * hidden + column] = bin >= from && bin < to ? 1 / (2 * (to - from)) : 0;
    }
  };
  const w = g.weight('encoder.proj.weight', [2 * mels, hidden], 0.1, (v) => {
    band(v, 0, LOW_BINS);
    band(v, 1, HIGH_BINS);
  });
  const b = g.weight('encoder.proj.bias', [hidden], 0.05, (v) => {
    v[0] = 0;
    v[1] = 0;
  });
  const t = g.node('Transpose', ['input_features'], '/encoder/Transpose', [intsAttr('perm', [0, 2, 1])]);
  const pairs = g.node(
    'Reshape',
    [t, g.ints('/encoder/pairs_shape', [3], [0, encoderFrames, 2 * mels])],
    '/encoder/Reshape',
  );
  if (!s.blocks) {
    g.node('Add', [g.node('MatMul', [pairs, w], '/encoder/proj/MatMul'), b], 'last_hidden_state');
  } else {
    let x = g.node('Add', [g.node('MatMul', [pairs, w], '/encoder/proj/MatMul'), b], '/encoder/proj/Add');
    const positions = new Float32Array(encoderFrames * hidden);
    for (let i = 0; i < encoderFrames; i++) {
      for (let c = 2; c < hidden; c++)
        positions[i * hidden + c] = Math.sin(i / 10000 ** ((c - 2) / hidden) + (c % 2) * (Math.PI / 2));
    }
    x = g.node(
      'Add',
      [x, g.floats('model.encoder.embed_positions.weight', [encoderFrames, hidden], positions)],
      '/encoder/embed_positions/Add',
    );
    for (let i = 0; i < s.encoderLayers; i++) x = encoderLayer(g, s, x, i);
    g.node('Identity', [x], 'last_hidden_state');
  }
  return encode(
    g,
    'whisper_encoder',
    [valueInfo('input_features', DataType.FLOAT, ['batch_size', mels, frames])],
    [valueInfo('last_hidden_state', DataType.FLOAT, ['batch_size', encoderFrames, hidden])],
  );
}

/** Channel 0 of the embeddings of <|translate|> and <|notimestamps|> (the languages take 1 … 3). */
const TRANSLATE_MARK = 4;
const NO_TIMESTAMPS_MARK = 5;
/** The logit of a scripted timestamp, above the text's 8 and the <|endoftext|> after it; other timestamps get −10. */
const TIMESTAMP_LOGIT = 12;
const OTHER_TIMESTAMPS = -10;
/**
 * Where the sound stops in a window, in encoder frames: the last frame louder than the window's quietest by this
 * much (the log-mel is normalised per window, so silence after a sound is not at a fixed level, but it is the
 * quietest); when none is, the window is all one sound (or all silence) and it ends at the window's end. The last
 * frame, not the loudest: a window cut out of a longer sound starts with a click.
 */
const ABOVE_QUIETEST = 0.1;

/** Steps the script knows; from here on the model says <|endoftext|>. Row 0 of each block is for prompt positions. */
const SCRIPT_STEPS = 6;
/** Where the text starts: <|startoftranscript|> <|lang|> <|transcribe|> <|notimestamps|>. */
const PROMPT_LENGTH = 4;

/**
 * The scripted logits [rows, V]: one row per (sound, language slot, step + 1), language slot 0 meaning "no language
 * token at position 1" (it says <|endoftext|> only, as does row 0 of each block, the prompt positions).
 */
function scriptTable(v: Vocabulary): Float32Array {
  const { size } = v;
  const eos = idIn(v, '<|endoftext|>');
  const rowsPerBlock = SCRIPT_STEPS + 1;
  const slots = WHISPER_LANGUAGES.length + 1;
  const table = new Float32Array(SOUNDS.length * slots * rowsPerBlock * size);
  SOUNDS.forEach((sound, s) => {
    for (let slot = 0; slot < slots; slot++) {
      const ids = slot === 0 ? [] : whisperTextIds(WHISPER_TEXTS[WHISPER_LANGUAGES[slot - 1]!][sound]);
      for (let r = 0; r < rowsPerBlock; r++) {
        const row = table.subarray(
          ((s * slots + slot) * rowsPerBlock + r) * size,
          ((s * slots + slot) * rowsPerBlock + r + 1) * size,
        );
        const step = r - 1;
        const id = step >= 0 && step < ids.length ? ids[step]! : eos;
        row.fill(OTHER_TIMESTAMPS, idIn(v, '<|0.00|>'));
        row[id] = 8;
        if (id === eos) continue;
        // The largest logits are ones Whisper's logits processors remove.
        if (step === 0) {
          row[eos] = 10;
          row[idIn(v, 'Ġ')] = 9;
        }
        if (step === 1) row[idIn(v, '#')] = 10;
      }
    }
  });
  return table;
}

/**
 * The timestamp part of the logits [b, s, V], zero without timestamps. With them: <|0.00|> at position 2 (the last
 * of the 3-token prompt), the end timestamp right after the block's text (position 3 + its length), and at position
 * 3 the first step's distractors (<|endoftext|>, the space) pushed below the text, since the timestamp before it
 * takes Whisper's first step.
 */
function timestampTerm(
  g: GraphBuilder,
  vocab: Vocabulary,
  s: { positions: string; block: string; withTimestamps: string; loudness: string },
): string {
  const { encoderFrames } = WHISPER_CONFIG;
  const begin = idIn(vocab, '<|0.00|>');
  const lengths = SOUNDS.flatMap((sound) => [
    0,
    ...WHISPER_LANGUAGES.map((l) => whisperTextIds(WHISPER_TEXTS[l][sound]).length),
  ]);
  const textLength = g.node(
    'Gather',
    [g.ints('/ts/text_lengths', [lengths.length], lengths), s.block],
    '/ts/text_length',
  );
  const axis = (a: number, name: string) => g.ints(name, [1], [a]);
  // The end: the last frame above the window's quietest, counted from 1, or the window's end.
  const reduce = (op: string, x: string, name: string) =>
    g.node(op, [x], name, [intsAttr('axes', [1]), intAttr('keepdims', 1)]);
  const quietest = reduce('ReduceMin', s.loudness, '/ts/quietest');
  const floor = g.node('Add', [quietest, g.floats('/ts/margin', [], Float32Array.of(ABOVE_QUIETEST))], '/ts/floor');
  const above = g.node('Cast', [g.node('Greater', [s.loudness, floor], '/ts/above_floor')], '/ts/above', [
    intAttr('to', DataType.FLOAT),
  ]);
  const ramp = g.floats(
    '/ts/frame_numbers',
    [encoderFrames],
    Float32Array.from({ length: encoderFrames }, (_, i) => i + 1),
  );
  const lastAbove = g.node('ReduceMax', [g.node('Mul', [above, ramp], '/ts/numbered')], '/ts/last_above', [
    intsAttr('axes', [1]),
    intAttr('keepdims', 1),
  ]);
  const varied = g.node('Greater', [lastAbove, g.floats('/ts/zero_f', [], Float32Array.of(0))], '/ts/varied');
  const endFrame = g.node(
    'Cast',
    [g.node('Where', [varied, lastAbove, g.floats('/ts/window_end', [], Float32Array.of(encoderFrames))], '/ts/end_f')],
    '/ts/end_frame',
    [intAttr('to', DataType.INT64)],
  );
  // Which timestamp each position says ([b, s]; −1: none).
  const at = (k: string | number, name: string) =>
    g.node('Equal', [s.positions, typeof k === 'number' ? g.ints(`${name}/position`, [], [k]) : k], name);
  const endPosition = g.node(
    'Unsqueeze',
    [g.node('Add', [textLength, g.ints('/ts/three', [], [3])], '/ts/end_position_flat'), axis(1, '/ts/axis1')],
    '/ts/end_position',
  );
  const target = g.node(
    'Where',
    [
      at(2, '/ts/at_start'),
      g.ints('/ts/begin', [], [begin]),
      g.node(
        'Where',
        [
          at(endPosition, '/ts/at_end'),
          g.node('Add', [endFrame, g.ints('/ts/begin_end', [], [begin])], '/ts/end_id'),
          g.ints('/ts/none', [], [-1]),
        ],
        '/ts/end_target',
      ),
    ],
    '/ts/target',
  );
  const columns = g.ints(
    '/ts/columns',
    [vocab.size],
    Array.from({ length: vocab.size }, (_, i) => i),
  );
  const said = g.node(
    'Cast',
    [g.node('Equal', [g.node('Unsqueeze', [target, axis(2, '/ts/axis2')], '/ts/target3'), columns], '/ts/onehot')],
    '/ts/said',
    [intAttr('to', DataType.FLOAT)],
  );
  const lift = g.floats('/ts/lift', [], Float32Array.of(TIMESTAMP_LOGIT - OTHER_TIMESTAMPS));
  const distractors = new Float32Array(vocab.size);
  distractors[idIn(vocab, '<|endoftext|>')] = -5;
  distractors[idIn(vocab, 'Ġ')] = -5;
  const firstText = g.node(
    'Mul',
    [
      g.node(
        'Unsqueeze',
        [
          g.node('Cast', [at(3, '/ts/at_first_text')], '/ts/first_text_f', [intAttr('to', DataType.FLOAT)]),
          axis(1, '/ts/axis1b'),
        ],
        '/ts/first_text',
      ),
      g.floats('/ts/distractors', [vocab.size], distractors),
    ],
    '/ts/first_text_term',
  );
  const mode = g.node('Unsqueeze', [s.withTimestamps, g.ints('/ts/axes12', [2], [1, 2])], '/ts/mode');
  return g.node(
    'Mul',
    [g.node('Add', [g.node('Mul', [said, lift], '/ts/lifted'), firstText], '/ts/term'), mode],
    '/ts/logits',
  );
}

/**
 * decoder_model (withPast = false): input_ids [b, s] + encoder_hidden_states → logits [b, s, V] and present.* of
 * both caches. decoder_with_past_model (withPast = true): input_ids [b, 1] + past_key_values.* → logits and the
 * grown present.{i}.decoder.*, as Optimum exports Whisper. Same seed, same weights in both.
 */
export function whisperDecoderModel(seed = 1234, withPast = false, size: Partial<WhisperSize> = {}): Uint8Array {
  const s = sizeOf(size);
  const { hidden, heads } = s;
  const layers = s.decoderLayers;
  const headDim = hidden / heads;
  const vocab = vocabulary(s.vocabSize);
  const { size: vocabSize } = vocab;
  /** Spreads of the test size, narrowed as 1/√hidden at other widths (exactly the test's at 64). */
  const narrow = Math.sqrt(WHISPER_CONFIG.hidden / hidden);
  const g = new GraphBuilder(seed);
  const inputs: onnx.ValueInfoProto[] = [
    valueInfo('input_ids', DataType.INT64, ['batch_size', 'decoder_sequence_length']),
  ];
  const outputs: onnx.ValueInfoProto[] = [
    valueInfo('logits', DataType.FLOAT, ['batch_size', 'decoder_sequence_length', vocabSize]),
  ];
  const cacheDims = (length: string) => ['batch_size', heads, length, headDim];
  if (!withPast)
    inputs.push(
      valueInfo('encoder_hidden_states', DataType.FLOAT, ['batch_size', 'encoder_sequence_length_out', hidden]),
    );
  for (let i = 0; i < layers && withPast; i++) {
    for (const kind of ['decoder', 'encoder'])
      for (const part of ['key', 'value']) {
        inputs.push(
          valueInfo(
            `past_key_values.${i}.${kind}.${part}`,
            DataType.FLOAT,
            cacheDims(kind === 'decoder' ? 'past_decoder_sequence_length' : 'encoder_sequence_length_out'),
          ),
        );
      }
  }

  const zero = g.ints('/const/zero', [], [0]);
  const one = g.ints('/const/one', [], [1]);
  const splitShape = g.ints('/const/split_heads', [4], [0, 0, heads, headDim]);
  const mergeShape = g.ints('/const/merge_heads', [3], [0, 0, hidden]);
  const scale = g.floats('/const/scale', [], Float32Array.of(1 / Math.sqrt(headDim)));
  const heads4 = (x: string, name: string) =>
    g.node('Transpose', [g.node('Reshape', [x, splitShape], `${name}/Reshape`)], name, [
      intsAttr('perm', [0, 2, 1, 3]),
    ]);
  const project = (x: string, name: string, fix?: (v: Float32Array) => void) =>
    g.node('MatMul', [x, g.weight(`${name}.weight`, [hidden, hidden], 0.1 * narrow, fix)], `/${name}/MatMul`);
  /** Column `column` of a [64, 64] weight := unit vector e_row: that output channel copies input channel `row`. */
  const copyChannel = (row: number, column: number) => (v: Float32Array) => {
    for (let r = 0; r < hidden; r++) v[r * hidden + column] = r === row ? 1 : 0;
  };

  // Token embeddings: column 0 is the language number (1, 2, 3 for <|en|>, <|de|>, <|fr|>), the translate flag (4) or
  // the no-timestamps flag (5); 0 for every other token.
  const embedTable = g.weight('model.decoder.embed_tokens.weight', [vocabSize, hidden], 0.3, (v) => {
    for (let id = 0; id < vocabSize; id++) v[id * hidden] = 0;
    WHISPER_LANGUAGES.forEach((l, k) => {
      v[idIn(vocab, `<|${l}|>`) * hidden] = k + 1;
    });
    v[idIn(vocab, '<|translate|>') * hidden] = TRANSLATE_MARK;
    v[idIn(vocab, '<|notimestamps|>') * hidden] = NO_TIMESTAMPS_MARK;
  });
  let x = g.node('Gather', [embedTable, 'input_ids'], '/embed_tokens/Gather');

  const selfKeys: string[] = [],
    selfValues: string[] = [],
    crossKeys: string[] = [],
    crossValues: string[] = [];
  for (let i = 0; i < layers; i++) {
    const p = `model.decoder.layers.${i}`;
    const newKey = heads4(project(x, `${p}.self_attn.k_proj`), `/${p}/self_attn/key`);
    // Layer 0's value keeps the language number in channel 0 of head 0 (the language is read back from the cache).
    const newValue = heads4(
      project(x, `${p}.self_attn.v_proj`, i === 0 ? copyChannel(0, 0) : undefined),
      `/${p}/self_attn/value`,
    );
    const selfKey = withPast
      ? g.node('Concat', [`past_key_values.${i}.decoder.key`, newKey], `present.${i}.decoder.key`, [intAttr('axis', 2)])
      : g.node('Identity', [newKey], `present.${i}.decoder.key`);
    const selfValue = withPast
      ? g.node('Concat', [`past_key_values.${i}.decoder.value`, newValue], `present.${i}.decoder.value`, [
          intAttr('axis', 2),
        ])
      : g.node('Identity', [newValue], `present.${i}.decoder.value`);
    let crossKey: string, crossValue: string;
    if (withPast) {
      crossKey = `past_key_values.${i}.encoder.key`;
      crossValue = `past_key_values.${i}.encoder.value`;
    } else {
      // Layer 0's encoder key carries the low band, layer 1's encoder value the high band (channel 0 of head 0).
      crossKey = heads4(
        project('encoder_hidden_states', `${p}.encoder_attn.k_proj`, i === 0 ? copyChannel(0, 0) : undefined),
        `present.${i}.encoder.key`,
      );
      crossValue = heads4(
        project('encoder_hidden_states', `${p}.encoder_attn.v_proj`, i === 1 ? copyChannel(1, 0) : undefined),
        `present.${i}.encoder.value`,
      );
    }
    selfKeys.push(selfKey);
    selfValues.push(selfValue);
    crossKeys.push(crossKey);
    crossValues.push(crossValue);

    // Attention over both caches (no causal mask: only the scripted logits below decide the text).
    const attend = (q: string, k: string, v: string, name: string) => {
      const keysT = g.node('Transpose', [k], `${name}/keysT`, [intsAttr('perm', [0, 1, 3, 2])]);
      const scores = g.node('Mul', [g.node('MatMul', [q, keysT], `${name}/scores`), scale], `${name}/scaled`);
      return g.node(
        'MatMul',
        [g.node('Softmax', [scores], `${name}/Softmax`, [intAttr('axis', -1)]), v],
        `${name}/context`,
      );
    };
    const selfQuery = heads4(project(x, `${p}.self_attn.q_proj`), `/${p}/self_attn/query`);
    const mergeHeads = (context: string, name: string) =>
      g.node(
        'Reshape',
        [g.node('Transpose', [context], `${name}/Transpose`, [intsAttr('perm', [0, 2, 1, 3])]), mergeShape],
        `${name}/merged`,
      );
    if (!s.blocks) {
      const crossQuery = heads4(project(x, `${p}.encoder_attn.q_proj`), `/${p}/encoder_attn/query`);
      const context = g.node(
        'Add',
        [
          attend(selfQuery, selfKey, selfValue, `/${p}/self_attn`),
          attend(crossQuery, crossKey, crossValue, `/${p}/encoder_attn`),
        ],
        `/${p}/context`,
      );
      x = g.node(
        'Add',
        [x, project(mergeHeads(context, `/${p}/context`), `${p}.self_attn.out_proj`)],
        `/${p}/residual`,
      );
    } else {
      // As Whisper's decoder layer orders it: self-attention, cross-attention (each with its own output projection),
      // MLP.
      const selfContext = mergeHeads(
        attend(selfQuery, selfKey, selfValue, `/${p}/self_attn`),
        `/${p}/self_attn/context`,
      );
      x = g.node('Add', [x, project(selfContext, `${p}.self_attn.out_proj`)], `/${p}/self_attn/residual`);
      const crossQuery = heads4(project(x, `${p}.encoder_attn.q_proj`), `/${p}/encoder_attn/query`);
      const crossContext = mergeHeads(
        attend(crossQuery, crossKey, crossValue, `/${p}/encoder_attn`),
        `/${p}/encoder_attn/context`,
      );
      x = g.node('Add', [x, project(crossContext, `${p}.encoder_attn.out_proj`)], `/${p}/encoder_attn/residual`);
      x = mlp(g, s, x, p, 'final_layer_norm', 0);
    }
  }
  // A small learned-looking term: the attention output through the output head (tied weights are not needed here).
  const headTerm = g.node(
    'MatMul',
    [x, g.weight('proj_out.weight', [hidden, vocabSize], 0.02 * narrow)],
    '/proj_out/MatMul',
  );

  // ---- the script: which row of the table this position reads ----
  const length = g.node('Gather', [g.node('Shape', ['input_ids'], '/script/ids_shape'), one], '/script/new_tokens');
  let positions = g.node('Range', [zero, length, one], '/script/Range');
  if (withPast) {
    const pastLength = g.node(
      'Gather',
      [g.node('Shape', ['past_key_values.1.decoder.key'], '/script/past_shape'), g.ints('/script/axis2', [], [2])],
      '/script/past_length',
    );
    positions = g.node('Add', [positions, pastLength], '/script/positions');
  }
  // Row within a block: 0 for the prompt's first three positions, then step + 1 (step 0 = the last prompt position).
  const stepRow = g.node(
    'Min',
    [
      g.node(
        'Max',
        [g.node('Sub', [positions, g.ints('/script/offset', [], [PROMPT_LENGTH - 2])], '/script/step_plus_one'), zero],
        '/script/step_floor',
      ),
      g.ints('/script/last_row', [], [SCRIPT_STEPS]),
    ],
    '/script/step_row',
  );
  // The language number: channel 0 of head 0 of layer 0's decoder value at position 1.
  const pick = (t: string, index: string, axis: number, name: string) =>
    g.node('Gather', [t, index], name, [intAttr('axis', axis)]);
  const languageValue = pick(
    pick(pick(selfValues[0]!, one, 2, '/script/lang_position'), zero, 1, '/script/lang_head'),
    zero,
    1,
    '/script/lang_channel',
  );
  const language = g.node(
    'Min',
    [
      g.node(
        'Max',
        [
          g.node('Cast', [g.node('Round', [languageValue], '/script/lang_round')], '/script/lang_int', [
            intAttr('to', DataType.INT64),
          ]),
          zero,
        ],
        '/script/lang_floor',
      ),
      g.ints('/script/lang_last', [], [WHISPER_LANGUAGES.length]),
    ],
    '/script/language',
  );
  // The flags: channel 0 of head 0 of layer 0's decoder value, at any position ([b, positions]).
  const marks = g.node(
    'Cast',
    [
      g.node(
        'Round',
        [pick(pick(selfValues[0]!, zero, 1, '/script/marks_head'), zero, 2, '/script/marks_channel')],
        '/script/marks_round',
      ),
    ],
    '/script/marks',
    [intAttr('to', DataType.INT64)],
  );
  const flag = (mark: number, name: string) =>
    g.node(
      'ReduceMax',
      [
        g.node(
          'Cast',
          [g.node('Equal', [marks, g.ints(`${name}/mark`, [], [mark])], `${name}/equal`)],
          `${name}/float`,
          [intAttr('to', DataType.FLOAT)],
        ),
      ],
      name,
      [intsAttr('axes', [1]), intAttr('keepdims', 0)],
    );
  const translating = flag(TRANSLATE_MARK, '/script/translate');
  const withTimestamps = g.node(
    'Sub',
    [g.floats('/script/one_ts', [], Float32Array.of(1)), flag(NO_TIMESTAMPS_MARK, '/script/no_timestamps')],
    '/script/timestamps',
  );
  // Translating, a multilingual prompt reads the English block (slot 1).
  const spoken = g.node(
    'Where',
    [
      g.node(
        'And',
        [
          g.node('Greater', [translating, g.floats('/script/half', [], Float32Array.of(0.5))], '/script/is_translate'),
          g.node('Greater', [language, zero], '/script/has_language'),
        ],
        '/script/translates',
      ),
      one,
      language,
    ],
    '/script/spoken',
  );
  // The sound: the loudest frame of each band, from the cross-attention caches ([b, frames] per band).
  const bandFrames = (cache: string, name: string) =>
    pick(pick(cache, zero, 1, `${name}/head`), zero, 2, `${name}/channel`);
  const bandMax = (frames: string, name: string) =>
    g.node('ReduceMax', [frames], name, [intsAttr('axes', [1]), intAttr('keepdims', 0)]);
  const lowFrames = bandFrames(crossKeys[0]!, '/script/low_frames');
  const highFrames = bandFrames(crossValues[1]!, '/script/high_frames');
  const low = bandMax(lowFrames, '/script/low_band');
  const high = bandMax(highFrames, '/script/high_band');
  const toFloat = (v: string, name: string) => g.node('Cast', [v], name, [intAttr('to', DataType.FLOAT)]);
  const loud = toFloat(
    g.node(
      'Greater',
      [
        g.node('Max', [low, high], '/script/loudest'),
        g.floats('/script/threshold', [], Float32Array.of(SOUND_THRESHOLD)),
      ],
      '/script/is_sound',
    ),
    '/script/loud',
  );
  const highWins = toFloat(g.node('Greater', [high, low], '/script/is_high'), '/script/high_wins');
  const sound = g.node(
    'Cast',
    [
      g.node(
        'Mul',
        [loud, g.node('Add', [highWins, g.floats('/script/one_f', [], Float32Array.of(1))], '/script/class_plus')],
        '/script/class_f',
      ),
    ],
    '/script/sound',
    [intAttr('to', DataType.INT64)],
  );
  const block = g.node(
    'Add',
    [
      g.node('Mul', [sound, g.ints('/script/slots', [], [WHISPER_LANGUAGES.length + 1])], '/script/sound_block'),
      spoken,
    ],
    '/script/block',
  );
  const base = g.node(
    'Unsqueeze',
    [
      g.node('Mul', [block, g.ints('/script/rows_per_block', [], [SCRIPT_STEPS + 1])], '/script/base_flat'),
      g.ints('/script/axis1', [1], [1]),
    ],
    '/script/base',
  );
  const rows = g.node('Add', [base, stepRow], '/script/rows');
  const table = scriptTable(vocab);
  const scripted = g.node(
    'Gather',
    [g.floats('script.logits', [table.length / vocabSize, vocabSize], table), rows],
    '/script/logits',
  );
  const timestamps = timestampTerm(g, vocab, {
    positions,
    block,
    withTimestamps,
    loudness: g.node('Max', [lowFrames, highFrames], '/script/loudness'),
  });
  g.node('Add', [g.node('Add', [scripted, headTerm], '/script/text_logits'), timestamps], 'logits');

  for (let i = 0; i < layers; i++) {
    outputs.push(valueInfo(`present.${i}.decoder.key`, DataType.FLOAT, cacheDims('present_decoder_sequence_length')));
    outputs.push(valueInfo(`present.${i}.decoder.value`, DataType.FLOAT, cacheDims('present_decoder_sequence_length')));
    if (!withPast) {
      outputs.push(valueInfo(`present.${i}.encoder.key`, DataType.FLOAT, cacheDims('encoder_sequence_length_out')));
      outputs.push(valueInfo(`present.${i}.encoder.value`, DataType.FLOAT, cacheDims('encoder_sequence_length_out')));
    }
  }
  return encode(g, withPast ? 'whisper_decoder_with_past' : 'whisper_decoder', inputs, outputs);
}

/**
 * onnx/decoder_model_merged.onnx, as Optimum merges Whisper's two decoders: one graph whose inputs are those of both
 * (input_ids, encoder_hidden_states, every past_key_values.*) and a bool `use_cache_branch` [1], and one If node on
 * it: the then-branch is decoder_with_past, the else-branch decoder_model (the past inputs unused; a pipeline feeds
 * them empty). decoder_with_past gives no cross-attention presents, so, as Optimum's merge does (`_unify_onnx_outputs`
 * with strict=False), its branch outputs empty placeholders there: a Constant of the output's dims with its first
 * free dimension 0 and the others 1 ([0, heads, 1, head size]). A pipeline keeps the first step's. The weights sit in
 * the outer graph, shared by the branches; values made inside a branch carry the branch's prefix (ONNX wants every
 * name once in a model).
 */
export function whisperMergedDecoderModel(seed = 1234, size: Partial<WhisperSize> = {}): Uint8Array {
  const noPast = onnx.ModelProto.decode(whisperDecoderModel(seed, false, size)).graph!;
  const withPast = onnx.ModelProto.decode(whisperDecoderModel(seed, true, size)).graph!;
  const weights = new Map<string, onnx.ITensorProto>();
  const encoded = (t: onnx.ITensorProto) => onnx.TensorProto.encode(t).finish().join(',');
  for (const t of [...noPast.initializer!, ...withPast.initializer!]) {
    const held = weights.get(t.name!);
    if (held && encoded(held) !== encoded(t)) throw new Error(`the decoders differ in initializer ${t.name}`);
    weights.set(t.name!, t);
  }
  const branch = (graph: onnx.IGraphProto, prefix: string): onnx.GraphProto => {
    const made = new Set(graph.node!.flatMap((n) => n.output!));
    const local = (name: string) => (made.has(name) ? `${prefix}${name}` : name);
    const node = graph.node!.map((n) =>
      makeNode(n.opType!, n.input!.map(local), n.output!.map(local), `${prefix}${n.name}`, [
        ...(n.attribute as onnx.AttributeProto[]),
      ]),
    );
    const output = noPast.output!.map((o) => {
      if (!made.has(o.name!)) {
        // An output this branch does not make (decoder_with_past's cross-attention presents): Optimum's placeholder.
        const free = o.type!.tensorType!.shape!.dim!.map((d) => (d.dimParam ? undefined : Number(d.dimValue)));
        const first = free.indexOf(undefined);
        const dims = free.map((d, i) => d ?? (i === first ? 0 : 1));
        const value = onnx.TensorProto.create({ name: 'const_tensor', dataType: DataType.FLOAT, dims });
        const attr = onnx.AttributeProto.create({
          name: 'value',
          t: value,
          type: onnx.AttributeProto.AttributeType.TENSOR,
        });
        node.push(makeNode('Constant', [], [`${prefix}${o.name}`], `${prefix}${o.name}/Constant`, [attr]));
      }
      return onnx.ValueInfoProto.create({ ...o, name: `${prefix}${o.name}` });
    });
    return onnx.GraphProto.create({ name: `${prefix}branch`, node, output });
  };
  const graphAttr = (name: string, g: onnx.GraphProto) =>
    onnx.AttributeProto.create({ name, g, type: onnx.AttributeProto.AttributeType.GRAPH });
  const ifNode = makeNode(
    'If',
    ['use_cache_branch'],
    noPast.output!.map((o) => o.name!),
    'optimum::if',
    [graphAttr('then_branch', branch(withPast, 'with_past/')), graphAttr('else_branch', branch(noPast, 'no_past/'))],
  );
  const inputs = [
    ...noPast.input!,
    ...withPast.input!.filter((i) => i.name !== 'input_ids'),
    valueInfo('use_cache_branch', DataType.BOOL, [1]),
  ] as onnx.ValueInfoProto[];
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'webq-tests',
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'whisper_decoder_merged',
      node: [ifNode],
      initializer: [...weights.values()],
      input: inputs,
      output: noPast.output,
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** The hub files of a repo exported with the merged decoder only (no decoder_model / decoder_with_past_model). */
export function whisperMergedHubFiles(seed = 1234, size: Partial<WhisperSize> = {}): HubFiles {
  const files = whisperHubFiles(seed, size);
  delete files['onnx/decoder_model.onnx'];
  delete files['onnx/decoder_with_past_model.onnx'];
  return { ...files, 'onnx/decoder_model_merged.onnx': whisperMergedDecoderModel(seed, size) };
}
