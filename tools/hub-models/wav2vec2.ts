/**
 * A small CTC speech model in the hub layout of Xenova/wav2vec2-base-960h, generated (nothing downloaded):
 * onnx/model.onnx with the real input and output (`input_values` float32 [batch, samples] → `logits` float32
 * [batch, frames, 32], one frame per 320 samples = 20 ms at 16 kHz, as wav2vec2's feature encoder strides), and
 * config.json, preprocessor_config.json, vocab.json, tokenizer_config.json and tokenizer.json in the real formats
 * with the real 32-token character vocabulary (`<pad>` 0, `<s>`, `</s>`, `<unk>`, `|` 4, letters by frequency, `'`).
 *
 *   input_values [b, n] → Unsqueeze [b, 1, n] → Conv (64 channels, kernel 320, stride 320, no padding)
 *   → Transpose [b, frames, 64] → square (Mul) → MatMul [64, 32] + bias → logits
 *
 * What it says is designed so a test can know it: token id i has a tone, (i + 2) × 100 Hz (a whole number of cycles
 * in a 20 ms frame, so the tones of different ids are orthogonal over a frame). Conv channels 2i and 2i + 1 correlate
 * a frame with that tone's sine and cosine (scaled by 1/160), so their squares add up to the tone's amplitude²
 * whatever its phase; the head adds each id's pair into its logit. The blank `<pad>` has no tone: its logit is the
 * bias BLANK_LEVEL, so a silent frame decodes to the blank. wav2vec2TestAudio(text) plays each character's tone for
 * TONE_FRAMES frames with SILENT_FRAMES of silence after it (a blank, which CTC needs between repeated letters), at
 * amplitude 0.1: quiet enough (amplitude² 0.01 < BLANK_LEVEL) that without the feature extractor's zero-mean
 * unit-variance normalisation every frame is blank and the text is empty — so the text also checks do_normalize.
 * Small seeded noise on the head (mulberry32) keeps it from being exactly 0/1, before and after quantization;
 * it is far below the margins.
 */
import { onnx } from 'onnx-proto';
import { makeNode, serializeModel } from '../../extension/onnx/model';
import { DataType, floatTensor, rawTensor } from '../../extension/onnx/tensor';
import { mulberry32 } from '../../extension/shared/random';
import type { HubFiles } from '../hub-mirror';

/** The vocabulary of facebook/wav2vec2-base-960h (vocab.json), in id order. */
export const WAV2VEC2_VOCAB = Object.freeze([
  '<pad>',
  '<s>',
  '</s>',
  '<unk>',
  '|',
  ...'ETAONIHSRDLUMWCFGYPBVK'.split(''),
  "'",
  'X',
  'J',
  'Q',
  'Z',
]);

export const WAV2VEC2_SAMPLE_RATE = 16000;
/** Samples per frame (the stride of wav2vec2's feature encoder): 20 ms. */
export const WAV2VEC2_FRAME = 320;
const CHANNELS = 2 * WAV2VEC2_VOCAB.length;
const BLANK_LEVEL = 0.1;
const TONE_FRAMES = 3;
const SILENT_FRAMES = 2;
const AMPLITUDE = 0.1;

/** Texts the test model is asked to say (upper case, as the real model writes). */
export const WAV2VEC2_TEXTS = Object.freeze({
  hello: 'HELLO WORLD',
  quote: "IT'S A QUIZ",
} as const);

/** The tone of a token id, in Hz. */
export function wav2vec2ToneHz(id: number): number {
  return (id + 2) * 100;
}

/** The token ids of a text (a space is the word delimiter `|`). */
export function wav2vec2TextIds(text: string): number[] {
  return [...text].map((c) => {
    const id = WAV2VEC2_VOCAB.indexOf(c === ' ' ? '|' : c);
    if (id < 0) throw new Error(`${JSON.stringify(c)} is not in the wav2vec2 vocabulary`);
    return id;
  });
}

/**
 * Audio that the test model hears as `text`: one silent frame, then per character its tone for TONE_FRAMES frames
 * and SILENT_FRAMES frames of silence, all at `sampleRate` (the frame timing is in seconds, so resampling to 16 kHz
 * keeps it). `amplitude` defaults to one the model only hears after normalisation.
 */
export function wav2vec2TestAudio(
  text: string,
  sampleRate = WAV2VEC2_SAMPLE_RATE,
  amplitude = AMPLITUDE,
): Float32Array {
  const frame = (WAV2VEC2_FRAME * sampleRate) / WAV2VEC2_SAMPLE_RATE;
  const ids = wav2vec2TextIds(text);
  const length = Math.round(frame * (1 + ids.length * (TONE_FRAMES + SILENT_FRAMES)));
  const out = new Float32Array(length);
  ids.forEach((id, k) => {
    const start = Math.round(frame * (1 + k * (TONE_FRAMES + SILENT_FRAMES)));
    const end = Math.round(frame * (1 + k * (TONE_FRAMES + SILENT_FRAMES) + TONE_FRAMES));
    const w = (2 * Math.PI * wav2vec2ToneHz(id)) / sampleRate;
    for (let n = start; n < end; n++) out[n] = amplitude * Math.sin(w * (n - start));
  });
  return out;
}

/** config.json as transformers writes it for Wav2Vec2ForCTC, with the test model's sizes. */
export function wav2vec2ConfigJson(): Record<string, unknown> {
  return {
    architectures: ['Wav2Vec2ForCTC'],
    model_type: 'wav2vec2',
    conv_dim: [CHANNELS],
    conv_kernel: [WAV2VEC2_FRAME],
    conv_stride: [WAV2VEC2_FRAME],
    conv_bias: false,
    num_feat_extract_layers: 1,
    hidden_size: CHANNELS,
    num_hidden_layers: 0,
    feat_extract_norm: 'group',
    ctc_loss_reduction: 'sum',
    vocab_size: WAV2VEC2_VOCAB.length,
    pad_token_id: 0,
    bos_token_id: 1,
    eos_token_id: 2,
  };
}

/** preprocessor_config.json of Xenova/wav2vec2-base-960h, field for field. */
export const WAV2VEC2_PREPROCESSOR_CONFIG = Object.freeze({
  do_normalize: true,
  feature_extractor_type: 'Wav2Vec2FeatureExtractor',
  feature_size: 1,
  padding_side: 'right',
  padding_value: 0.0,
  return_attention_mask: false,
  sampling_rate: 16000,
});

export const WAV2VEC2_TOKENIZER_CONFIG = Object.freeze({
  bos_token: '<s>',
  do_lower_case: false,
  eos_token: '</s>',
  pad_token: '<pad>',
  tokenizer_class: 'Wav2Vec2CTCTokenizer',
  unk_token: '<unk>',
  word_delimiter_token: '|',
});

/** tokenizer.json in the `tokenizers` format (a character-level vocabulary and the CTC decoder). */
function tokenizerJson(): Record<string, unknown> {
  const vocab = Object.fromEntries(WAV2VEC2_VOCAB.map((t, i) => [t, i]));
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: WAV2VEC2_VOCAB.slice(0, 4).map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: true,
      rstrip: true,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: { type: 'Split', pattern: { Regex: '' }, behavior: 'Isolated', invert: false },
    post_processor: null,
    decoder: { type: 'CTC', pad_token: '<pad>', word_delimiter_token: '|', cleanup: true },
    model: { type: 'WordLevel', vocab, unk_token: '<unk>' },
  };
}

/** The hub files of the test wav2vec2: repo-relative path → contents. Same seed, same bytes. */
export function wav2vec2HubFiles(seed = 4321): HubFiles {
  return {
    'config.json': JSON.stringify(wav2vec2ConfigJson(), null, 2),
    'preprocessor_config.json': JSON.stringify(WAV2VEC2_PREPROCESSOR_CONFIG, null, 2),
    'vocab.json': JSON.stringify(Object.fromEntries(WAV2VEC2_VOCAB.map((t, i) => [t, i]))),
    'tokenizer_config.json': JSON.stringify(WAV2VEC2_TOKENIZER_CONFIG, null, 2),
    'tokenizer.json': JSON.stringify(tokenizerJson()),
    'onnx/model.onnx': wav2vec2Model(seed),
  };
}

function wav2vec2Model(seed: number): Uint8Array {
  const V = WAV2VEC2_VOCAB.length;
  // Channels 2i, 2i + 1: the sine and cosine of id i's tone over one frame, / 160 (Σ sin² over a frame).
  const conv = new Float32Array(CHANNELS * WAV2VEC2_FRAME);
  for (let id = 0; id < V; id++) {
    const w = (2 * Math.PI * wav2vec2ToneHz(id)) / WAV2VEC2_SAMPLE_RATE;
    for (let n = 0; n < WAV2VEC2_FRAME; n++) {
      conv[2 * id * WAV2VEC2_FRAME + n] = Math.sin(w * n) / (WAV2VEC2_FRAME / 2);
      conv[(2 * id + 1) * WAV2VEC2_FRAME + n] = Math.cos(w * n) / (WAV2VEC2_FRAME / 2);
    }
  }
  const next = mulberry32(seed);
  const head = Float32Array.from({ length: CHANNELS * V }, () => (next() * 2 - 1) * 0.01);
  for (let id = 1; id < V; id++) {
    head[2 * id * V + id] = 1;
    head[(2 * id + 1) * V + id] = 1;
  }
  const bias = new Float32Array(V);
  bias[0] = BLANK_LEVEL;

  const info = (name: string, dims: ({ dimValue: number } | { dimParam: string })[]) =>
    onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: dims } } } });
  const ints = (name: string, values: number[]) =>
    onnx.AttributeProto.create({ name, ints: values, type: onnx.AttributeProto.AttributeType.INTS });
  const n = makeNode;
  const graph: onnx.IGraphProto = {
    name: 'tiny_wav2vec2_ctc',
    input: [info('input_values', [{ dimParam: 'batch_size' }, { dimParam: 'sequence_length' }])],
    output: [info('logits', [{ dimParam: 'batch_size' }, { dimParam: 'frames' }, { dimValue: V }])],
    initializer: [
      rawTensor('channel_axis', DataType.INT64, [1], new Uint8Array(BigInt64Array.of(1n).buffer)),
      floatTensor('feature_extractor.conv.weight', [CHANNELS, 1, WAV2VEC2_FRAME], conv),
      floatTensor('lm_head.weight', [CHANNELS, V], head),
      floatTensor('lm_head.bias', [V], bias),
    ],
    node: [
      n('Unsqueeze', ['input_values', 'channel_axis'], ['samples'], 'unsqueeze'),
      n('Conv', ['samples', 'feature_extractor.conv.weight'], ['features'], 'feature_extractor.conv', [
        ints('kernel_shape', [WAV2VEC2_FRAME]),
        ints('strides', [WAV2VEC2_FRAME]),
      ]),
      n('Transpose', ['features'], ['frames'], 'to_frames', [ints('perm', [0, 2, 1])]),
      n('Mul', ['frames', 'frames'], ['energy'], 'square'),
      n('MatMul', ['energy', 'lm_head.weight'], ['lm_head.mm'], 'lm_head'),
      n('Add', ['lm_head.mm', 'lm_head.bias'], ['logits'], 'lm_head.add'),
    ],
  };
  return serializeModel(
    onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'webq-tests',
      opsetImport: [{ domain: '', version: 17 }],
      graph,
    }),
  );
}
