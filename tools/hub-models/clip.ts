/**
 * A small CLIP in the layout of the hub repo Xenova/clip-vit-base-patch32, generated so its answers can be checked:
 * `onnx/text_model.onnx` (input_ids, attention_mask → text_embeds, last_hidden_state), `onnx/vision_model.onnx`
 * (pixel_values → image_embeds, last_hidden_state), `onnx/model.onnx` (both towers and the logit scale: input_ids,
 * pixel_values, attention_mask → logits_per_image, logits_per_text, text_embeds, image_embeds), config.json,
 * preprocessor_config.json (CLIPImageProcessor's, field for field) and a CLIP BPE tokenizer.json (byte-level, `</w>`
 * word ends, `<|startoftext|>` … `<|endoftext|>`) with a small vocab.
 *
 *   text:   Gather(token table) → x + x·Wt → last_hidden_state → mean over the attention mask → ·Pt → text_embeds
 *   vision: Conv 32×32 stride 32 → 49 tokens → x + x·Wv → last_hidden_state → mean over tokens → ·Pv → image_embeds
 *   joint:  logits_per_text = exp(logit_scale) · normalize(text_embeds) · normalize(image_embeds)ᵀ (scale 100, as
 *           trained CLIP's), logits_per_image its transpose; the embeds it returns are the normalised ones (CLIPModel)
 *
 * How the answer is designed: channels 0..2 of both towers carry colour and nothing else writes to them. An image's
 * pooled channels 0..2 are its mean normalised R, G, B (the Conv averages each patch's channel); a colour word's
 * table row has ±1 there, the sign pattern of its colour (red = +, −, −), and every other token 0. Both projections
 * copy channels 0..2 to embedding channels 0..2; every other weight is seeded pseudo-random and small. So an image
 * of one colour is closest to the candidate text naming that colour (cosine ≈ 1 against ≈ 1/3 for the next), and
 * CLIP's mean and std put 0 and 255 on either side of zero for each channel. (Real CLIP pools the end token through
 * causal attention; the mean over the mask keeps this one's answer computable by hand.)
 */
import { intAttr, makeNode, onnx, serializeModel } from '../../extension/onnx/model';
import { DataType, floatTensor, rawTensor } from '../../extension/onnx/tensor';
import { mulberry32 } from '../../extension/shared/random';
import type { HubFiles } from '../hub-mirror';

/** The colour words and the RGB a page paints to get each. */
export const CLIP_COLOURS: Readonly<Record<string, readonly [number, number, number]>> = Object.freeze({
  red: [255, 0, 0],
  green: [0, 255, 0],
  blue: [0, 0, 255],
  white: [255, 255, 255],
  black: [0, 0, 0],
  yellow: [255, 255, 0],
  cyan: [0, 255, 255],
  magenta: [255, 0, 255],
});
/** Whole words of the vocab besides the colours (the default hypothesis template's, and two that name no colour). */
const OTHER_WORDS = ['this', 'is', 'photo', 'of', 'cat', 'dog'];

export const CLIP_HIDDEN = 64;
export const CLIP_PROJECTION = 32;
export const CLIP_MAX_LENGTH = 77;
const IMAGE = 224,
  PATCH = 32,
  TOKENS = (IMAGE / PATCH) ** 2,
  LOGIT_SCALE = Math.log(100);

/** The real CLIP preprocessor_config.json (openai/clip-vit-base-patch32, as Xenova's repo has it), field for field. */
export const CLIP_PREPROCESSOR_CONFIG = Object.freeze({
  crop_size: { height: 224, width: 224 },
  do_center_crop: true,
  do_convert_rgb: true,
  do_normalize: true,
  do_rescale: true,
  do_resize: true,
  feature_extractor_type: 'CLIPFeatureExtractor',
  image_mean: [0.48145466, 0.4578275, 0.40821073],
  image_processor_type: 'CLIPImageProcessor',
  image_std: [0.26862954, 0.26130258, 0.27577711],
  resample: 3,
  rescale_factor: 0.00392156862745098,
  size: { shortest_edge: 224 },
});

// ---- tokenizer: CLIP's byte-level BPE with a small vocab ----

/** GPT-2's bytes_to_unicode (CLIP uses it too): printable bytes map to themselves, the rest to 256 + n. */
function byteAlphabet(): string[] {
  const printable = (a: string, b: string) =>
    Array.from({ length: b.charCodeAt(0) - a.charCodeAt(0) + 1 }, (_, i) => a.charCodeAt(0) + i);
  const bytes = [...printable('!', '~'), ...printable('¡', '¬'), ...printable('®', 'ÿ')];
  const chars = [...bytes];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (bytes.includes(b)) continue;
    bytes.push(b);
    chars.push(256 + n++);
  }
  return chars.map((c) => String.fromCharCode(c));
}

/** BPE as the tokenizer applies it: merge the pair of lowest rank, again, until no pair has a merge. */
function applyMerges(symbols: string[], ranks: Map<string, number>): string[] {
  for (;;) {
    let best = -1;
    for (let i = 0; i + 1 < symbols.length; i++) {
      const rank = ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
      if (rank !== undefined && (best < 0 || rank < ranks.get(`${symbols[best]} ${symbols[best + 1]}`)!)) best = i;
    }
    if (best < 0) return symbols;
    symbols = [...symbols.slice(0, best), symbols[best]! + symbols[best + 1]!, ...symbols.slice(best + 2)];
  }
}

/**
 * The vocab in CLIP's order (the 256 byte symbols, the same with `</w>`, then one token per merge, then the two
 * special tokens) and merges that make each whole word one token: a word is run through the merges so far and,
 * while it is still in pieces, its first two pieces get a new merge at the end (the lowest priority, so the words
 * before it keep their single tokens).
 */
function vocabAndMerges(): { vocab: string[]; merges: string[] } {
  const alphabet = byteAlphabet();
  const vocab = [...alphabet, ...alphabet.map((c) => `${c}</w>`)];
  const merges: string[] = [];
  const ranks = new Map<string, number>();
  for (const word of [...Object.keys(CLIP_COLOURS), ...OTHER_WORDS]) {
    let symbols = applyMerges([...word.slice(0, -1)].concat(`${word.at(-1)}</w>`), ranks);
    while (symbols.length > 1) {
      const merge = `${symbols[0]} ${symbols[1]}`;
      ranks.set(merge, merges.length);
      merges.push(merge);
      vocab.push(symbols[0]! + symbols[1]!);
      symbols = applyMerges(symbols, ranks);
    }
  }
  vocab.push('<|startoftext|>', '<|endoftext|>');
  return { vocab, merges };
}

const { vocab: VOCAB, merges: MERGES } = vocabAndMerges();
export const CLIP_VOCAB_SIZE = VOCAB.length;

/** The id of a vocab token: a whole word is `word</w>`; the special tokens by name. */
export function clipTokenId(token: string): number {
  const id = VOCAB.indexOf(token);
  if (id < 0) throw new Error(`${token} is not in the test CLIP vocab`);
  return id;
}
export const CLIP_BOS = clipTokenId('<|startoftext|>');
export const CLIP_EOS = clipTokenId('<|endoftext|>');

const special = (content: string) => ({
  id: clipTokenId(content),
  content,
  single_word: false,
  lstrip: false,
  rstrip: false,
  normalized: content !== '<|startoftext|>' && content !== '<|endoftext|>',
  special: true,
});

/** tokenizer.json in the format of openai/clip-vit-base-patch32's. */
export function clipTokenizerJson(): Record<string, unknown> {
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special('<|startoftext|>'), special('<|endoftext|>')],
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'NFC' },
        { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' },
        { type: 'Lowercase' },
      ],
    },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        {
          type: 'Split',
          pattern: {
            Regex:
              "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+",
          },
          behavior: 'Removed',
          invert: true,
        },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: {
      type: 'RobertaProcessing',
      sep: ['<|endoftext|>', CLIP_EOS],
      cls: ['<|startoftext|>', CLIP_BOS],
      trim_offsets: false,
      add_prefix_space: false,
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<|endoftext|>',
      continuing_subword_prefix: '',
      end_of_word_suffix: '</w>',
      fuse_unk: false,
      byte_fallback: false,
      vocab: Object.fromEntries(VOCAB.map((token, id) => [token, id])),
      merges: MERGES,
    },
  };
}

export function clipTokenizerConfig(): Record<string, unknown> {
  return {
    add_prefix_space: false,
    bos_token: '<|startoftext|>',
    clean_up_tokenization_spaces: true,
    do_lower_case: true,
    eos_token: '<|endoftext|>',
    errors: 'replace',
    model_max_length: CLIP_MAX_LENGTH,
    pad_token: '<|endoftext|>',
    tokenizer_class: 'CLIPTokenizer',
    unk_token: '<|endoftext|>',
  };
}

function clipConfig(): Record<string, unknown> {
  return {
    architectures: ['CLIPModel'],
    model_type: 'clip',
    projection_dim: CLIP_PROJECTION,
    logit_scale_init_value: 2.6592,
    text_config: {
      model_type: 'clip_text_model',
      hidden_size: CLIP_HIDDEN,
      max_position_embeddings: CLIP_MAX_LENGTH,
      vocab_size: VOCAB.length,
      bos_token_id: CLIP_BOS,
      eos_token_id: CLIP_EOS,
      pad_token_id: 1,
      projection_dim: CLIP_PROJECTION,
    },
    vision_config: {
      model_type: 'clip_vision_model',
      hidden_size: CLIP_HIDDEN,
      image_size: IMAGE,
      patch_size: PATCH,
      num_channels: 3,
      projection_dim: CLIP_PROJECTION,
    },
  };
}

/** The hub files of the test CLIP. Same call, same bytes. */
export function clipHubFiles(): HubFiles {
  return {
    'config.json': JSON.stringify(clipConfig(), null, 2),
    'preprocessor_config.json': JSON.stringify(CLIP_PREPROCESSOR_CONFIG, null, 2),
    'tokenizer.json': JSON.stringify(clipTokenizerJson()),
    'tokenizer_config.json': JSON.stringify(clipTokenizerConfig(), null, 2),
    'onnx/text_model.onnx': graphOf('clip_text', [...textTower()], ['text_embeds', 'last_hidden_state']),
    'onnx/vision_model.onnx': graphOf('clip_vision', [...visionTower()], ['image_embeds', 'last_hidden_state']),
    'onnx/model.onnx': graphOf(
      'clip',
      [...textTower(), ...visionTower(), ...joint()],
      ['logits_per_image', 'logits_per_text', 'text_embeds', 'image_embeds'],
    ),
  };
}

// ---- graphs ----

interface Part {
  inputs: onnx.IValueInfoProto[];
  initializer: onnx.ITensorProto[];
  node: onnx.INodeProto[];
  outputs: onnx.IValueInfoProto[];
}

const n = makeNode;
const ints = (name: string, values: number[]) =>
  onnx.AttributeProto.create({ name, ints: values, type: onnx.AttributeProto.AttributeType.INTS });
const int64s = (name: string, values: number[]) =>
  rawTensor(name, DataType.INT64, [values.length], new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer));
type Dim = { dimValue: number } | { dimParam: string };
const info = (name: string, elemType: number, dims: Dim[]) =>
  onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType, shape: { dim: dims } } } });

/** Uniform values in [−scale, scale) from one seed per tensor. */
function uniform(count: number, seed: number, scale: number): Float32Array {
  const next = mulberry32(seed);
  return Float32Array.from({ length: count }, () => (next() * 2 - 1) * scale);
}

/** A residual mixing matrix [D, D] that neither reads nor writes the colour channels 0..2. */
function colourFreeMix(seed: number): Float32Array {
  const w = uniform(CLIP_HIDDEN * CLIP_HIDDEN, seed, 0.05 / Math.sqrt(CLIP_HIDDEN));
  for (let r = 0; r < CLIP_HIDDEN; r++)
    for (let c = 0; c < CLIP_HIDDEN; c++) if (r < 3 || c < 3) w[r * CLIP_HIDDEN + c] = 0;
  return w;
}

/** A projection [D, P] that copies channels 0..2 and mixes the rest into the other embedding channels. */
function projection(seed: number): Float32Array {
  const w = uniform(CLIP_HIDDEN * CLIP_PROJECTION, seed, 0.02);
  for (let r = 0; r < CLIP_HIDDEN; r++)
    for (let c = 0; c < CLIP_PROJECTION; c++) if (r < 3 || c < 3) w[r * CLIP_PROJECTION + c] = r === c ? 1 : 0;
  return w;
}

function* textTower(): Generator<Part> {
  const D = CLIP_HIDDEN;
  const table = uniform(VOCAB.length * D, 31, 0.05);
  for (let id = 0; id < VOCAB.length; id++) table.fill(0, id * D, id * D + 3);
  for (const [word, rgb] of Object.entries(CLIP_COLOURS)) {
    const id = clipTokenId(`${word}</w>`);
    for (let c = 0; c < 3; c++) table[id * D + c] = rgb[c]! > 0 ? 1 : -1;
  }
  const ids: Dim[] = [{ dimParam: 'text_batch_size' }, { dimParam: 'sequence_length' }];
  yield {
    inputs: [info('input_ids', DataType.INT64, ids), info('attention_mask', DataType.INT64, ids)],
    initializer: [
      floatTensor('text.token_embedding', [VOCAB.length, D], table),
      floatTensor('text.mix.weight', [D, D], colourFreeMix(32)),
      floatTensor('text.projection', [D, CLIP_PROJECTION], projection(33)),
      int64s('text.axis1', [1]),
      int64s('text.axis2', [2]),
    ],
    node: [
      n('Gather', ['text.token_embedding', 'input_ids'], ['text.x0'], 'text.embed'),
      n('MatMul', ['text.x0', 'text.mix.weight'], ['text.mix'], 'text.mix'),
      n('Add', ['text.x0', 'text.mix'], ['text.last_hidden_state'], 'text.residual'),
      n('Cast', ['attention_mask'], ['text.mask'], 'text.mask', [intAttr('to', DataType.FLOAT)]),
      n('Unsqueeze', ['text.mask', 'text.axis2'], ['text.mask3'], 'text.mask3'),
      n('Mul', ['text.last_hidden_state', 'text.mask3'], ['text.masked'], 'text.masked'),
      n('ReduceSum', ['text.masked', 'text.axis1'], ['text.sum'], 'text.sum', [intAttr('keepdims', 0)]),
      n('ReduceSum', ['text.mask3', 'text.axis1'], ['text.count'], 'text.count', [intAttr('keepdims', 0)]),
      n('Div', ['text.sum', 'text.count'], ['text.pooled'], 'text.pool'),
      n('MatMul', ['text.pooled', 'text.projection'], ['text_embeds'], 'text.project'),
    ],
    outputs: [
      info('text_embeds', DataType.FLOAT, [{ dimParam: 'text_batch_size' }, { dimValue: CLIP_PROJECTION }]),
      info('last_hidden_state', DataType.FLOAT, [...ids, { dimValue: D }]),
    ],
  };
}

function* visionTower(): Generator<Part> {
  const D = CLIP_HIDDEN;
  const patch = uniform(D * 3 * PATCH * PATCH, 41, 0.002);
  patch.fill(0, 0, 3 * 3 * PATCH * PATCH);
  for (let c = 0; c < 3; c++)
    patch.fill(1 / (PATCH * PATCH), (c * 3 + c) * PATCH * PATCH, (c * 3 + c + 1) * PATCH * PATCH);
  const bias = uniform(D, 42, 0.02).fill(0, 0, 3);
  const batch: Dim = { dimParam: 'batch_size' };
  yield {
    inputs: [info('pixel_values', DataType.FLOAT, [batch, { dimValue: 3 }, { dimValue: IMAGE }, { dimValue: IMAGE }])],
    initializer: [
      floatTensor('vision.patch.weight', [D, 3, PATCH, PATCH], patch),
      floatTensor('vision.patch.bias', [D], bias),
      int64s('vision.tokens.shape', [0, D, -1]),
      floatTensor('vision.mix.weight', [D, D], colourFreeMix(43)),
      floatTensor('vision.projection', [D, CLIP_PROJECTION], projection(44)),
    ],
    node: [
      n('Conv', ['pixel_values', 'vision.patch.weight', 'vision.patch.bias'], ['vision.patches'], 'vision.patch', [
        ints('kernel_shape', [PATCH, PATCH]),
        ints('strides', [PATCH, PATCH]),
      ]),
      n('Reshape', ['vision.patches', 'vision.tokens.shape'], ['vision.flat'], 'vision.flatten'),
      n('Transpose', ['vision.flat'], ['vision.x0'], 'vision.to_tokens', [ints('perm', [0, 2, 1])]),
      n('MatMul', ['vision.x0', 'vision.mix.weight'], ['vision.mix'], 'vision.mix'),
      n('Add', ['vision.x0', 'vision.mix'], ['vision.last_hidden_state'], 'vision.residual'),
      n('ReduceMean', ['vision.last_hidden_state'], ['vision.pooled'], 'vision.pool', [
        ints('axes', [1]),
        intAttr('keepdims', 0),
      ]),
      n('MatMul', ['vision.pooled', 'vision.projection'], ['image_embeds'], 'vision.project'),
    ],
    outputs: [
      info('image_embeds', DataType.FLOAT, [batch, { dimValue: CLIP_PROJECTION }]),
      info('last_hidden_state', DataType.FLOAT, [batch, { dimValue: TOKENS }, { dimValue: D }]),
    ],
  };
}

/** The joint graph's head: both towers' embeddings normalised, their cosines scaled by exp(logit_scale). */
function* joint(): Generator<Part> {
  yield {
    inputs: [],
    initializer: [floatTensor('logit_scale', [], Float32Array.of(LOGIT_SCALE))],
    node: [
      n('ReduceL2', ['text_embeds.raw'], ['text.norm'], 'text.norm', [ints('axes', [-1]), intAttr('keepdims', 1)]),
      n('Div', ['text_embeds.raw', 'text.norm'], ['text_embeds'], 'text.normalize'),
      n('ReduceL2', ['image_embeds.raw'], ['image.norm'], 'image.norm', [ints('axes', [-1]), intAttr('keepdims', 1)]),
      n('Div', ['image_embeds.raw', 'image.norm'], ['image_embeds'], 'image.normalize'),
      n('Transpose', ['image_embeds'], ['image_embeds.t'], 'image.transpose', [ints('perm', [1, 0])]),
      n('MatMul', ['text_embeds', 'image_embeds.t'], ['cosines'], 'cosines'),
      n('Exp', ['logit_scale'], ['scale'], 'scale'),
      n('Mul', ['cosines', 'scale'], ['logits_per_text'], 'logits_per_text'),
      n('Transpose', ['logits_per_text'], ['logits_per_image'], 'logits_per_image', [ints('perm', [1, 0])]),
    ],
    outputs: [
      info('logits_per_image', DataType.FLOAT, [{ dimParam: 'image_batch_size' }, { dimParam: 'text_batch_size' }]),
      info('logits_per_text', DataType.FLOAT, [{ dimParam: 'text_batch_size' }, { dimParam: 'image_batch_size' }]),
    ],
  };
}

/**
 * One graph of `parts`. In the joint graph the towers' `*_embeds` are renamed `*_embeds.raw` (the head normalises
 * them into the outputs of that name) and their last hidden states stay internal; `outputs` picks what the graph
 * returns, in order.
 */
function graphOf(name: string, parts: Part[], outputs: string[]): Uint8Array {
  const isJoint = outputs.includes('logits_per_image');
  const rename = (s: string) => (isJoint && (s === 'text_embeds' || s === 'image_embeds') ? `${s}.raw` : s);
  const node = parts.flatMap((p, i) =>
    p.node.map((nd) =>
      // The head (last part) reads the raw names itself; only the towers' own outputs are renamed.
      i === parts.length - 1 && isJoint ? nd : { ...nd, output: (nd.output ?? []).map(rename) },
    ),
  );
  // The towers write last_hidden_state under their own name; each tower graph exposes it.
  for (const nd of node)
    nd.output = (nd.output ?? []).map((o) =>
      !isJoint && (o === 'text.last_hidden_state' || o === 'vision.last_hidden_state') ? 'last_hidden_state' : o,
    );
  for (const nd of node)
    nd.input = (nd.input ?? []).map((i) =>
      !isJoint && (i === 'text.last_hidden_state' || i === 'vision.last_hidden_state') ? 'last_hidden_state' : i,
    );
  const declared = new Map(parts.flatMap((p) => p.outputs).map((o) => [o.name!, o]));
  const graph: onnx.IGraphProto = {
    name,
    // The joint graph takes input_ids, pixel_values, attention_mask in the order optimum exports them.
    input: isJoint
      ? ['input_ids', 'pixel_values', 'attention_mask'].map((i) =>
          parts.flatMap((p) => p.inputs).find((x) => x.name === i)!,
        )
      : parts.flatMap((p) => p.inputs),
    output: outputs.map((o) => declared.get(o)!),
    initializer: parts.flatMap((p) => p.initializer),
    node,
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
