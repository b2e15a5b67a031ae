/**
 * A small BERT in the hub layout of Xenova/bert-base-uncased, generated (nothing downloaded): the tokenizer files in
 * the real Hugging Face format with a small vocab, a config.json, and onnx/model.onnx — embeddings (word, position,
 * token type; Gather), 2 encoder layers with real masked self-attention and a GELU feed-forward, every weight seeded.
 * Hidden 64 and FFN 256 keep it under 0.5 MB while every MatMul has K ≥ 64, so quantizing it means something.
 * `size` (BertSize) builds the same graph at other sizes, e.g. BERT-base's for the benchmark (bench/models).
 *
 * The graph has the structure webq's role detection (extension/onnx/roles.ts) reads: q/k/v projections feed the
 * scores MatMul and the context MatMul around a Softmax, o consumes the context, tables are Gathers on ids.
 */
import { onnx } from 'onnx-proto';
import { floatAttr, intAttr, intsAttr, makeNode, valueInfo } from '../../extension/onnx/model';
import { DataType, floatTensor, rawTensor } from '../../extension/onnx/tensor';
import { mulberry32 } from '../../extension/shared/random';
import type { HubFiles } from '../hub-mirror';

export const BERT_SPECIAL = Object.freeze({ pad: 0, unk: 1, cls: 2, sep: 3, mask: 4 });

/** The vocab in id order: special tokens, whole words, then `##` continuation pieces. */
export const BERT_VOCAB: readonly string[] = Object.freeze([
  '[PAD]',
  '[UNK]',
  '[CLS]',
  '[SEP]',
  '[MASK]',
  'example',
  'input',
  'text',
  'the',
  'a',
  'an',
  'is',
  'of',
  'and',
  'to',
  'in',
  'it',
  'this',
  'that',
  'with',
  'quick',
  'brown',
  'fox',
  'jump',
  'over',
  'lazy',
  'dog',
  'hello',
  'world',
  'web',
  'model',
  'run',
  'token',
  'sentence',
  'long',
  'short',
  'cat',
  'sat',
  'on',
  'mat',
  'play',
  'read',
  'write',
  'good',
  'bad',
  'day',
  'night',
  'embed',
  'vector',
  'browser',
  'extension',
  'gpu',
  'fast',
  'slow',
  'small',
  'large',
  '.',
  ',',
  '!',
  '?',
  "'",
  '-',
  '##s',
  '##ing',
  '##ed',
  '##er',
  '##ly',
  '##ment',
  '##ness',
  '##ding',
]);

export const BERT_CONFIG = Object.freeze({
  hidden: 64,
  heads: 4,
  layers: 2,
  intermediate: 256,
  maxPositions: 64,
  typeVocab: 2,
  layerNormEps: 1e-12,
});

/**
 * The sizes a generated BERT can take (the benchmark builds bert-base-uncased's: 12 × 768, 12 heads, FFN 3072, 512
 * positions, a 30,522-token vocab). `vocabSize` above BERT_VOCAB's length pads the vocab with `[unused<i>]` tokens,
 * as the real vocab has them: never produced by the tokenizer, but rows of the embedding table all the same.
 * The default is the test model's (BERT_CONFIG, BERT_VOCAB), whose files stay byte for byte what they were.
 */
export interface BertSize {
  hidden: number;
  heads: number;
  layers: number;
  intermediate: number;
  maxPositions: number;
  vocabSize: number;
}

export const BERT_TEST_SIZE: Readonly<BertSize> = Object.freeze({
  hidden: BERT_CONFIG.hidden,
  heads: BERT_CONFIG.heads,
  layers: BERT_CONFIG.layers,
  intermediate: BERT_CONFIG.intermediate,
  maxPositions: BERT_CONFIG.maxPositions,
  vocabSize: BERT_VOCAB.length,
});
export const BERT_BASE_SIZE: Readonly<BertSize> = Object.freeze({
  hidden: 768,
  heads: 12,
  layers: 12,
  intermediate: 3072,
  maxPositions: 512,
  vocabSize: 30522,
});

type Config = BertSize & { typeVocab: number; layerNormEps: number; vocab: readonly string[] };

function configOf(size: Partial<BertSize>): Config {
  const s = { ...BERT_TEST_SIZE, ...size };
  if (s.hidden % s.heads !== 0) throw new RangeError(`hidden ${s.hidden} is not a multiple of heads ${s.heads}`);
  if (s.vocabSize < BERT_VOCAB.length)
    throw new RangeError(`vocabSize ${s.vocabSize} is below the ${BERT_VOCAB.length} tokens the tests use`);
  const vocab =
    s.vocabSize === BERT_VOCAB.length
      ? BERT_VOCAB
      : [...BERT_VOCAB, ...Array.from({ length: s.vocabSize - BERT_VOCAB.length }, (_, i) => `[unused${i}]`)];
  return { ...s, typeVocab: BERT_CONFIG.typeVocab, layerNormEps: BERT_CONFIG.layerNormEps, vocab };
}

/** Known inputs and their ids, for tests in Node and in real browsers. */
export const BERT_EXAMPLES = Object.freeze({
  /** 'Example input text' → [CLS] example input text [SEP] */
  example: { text: 'Example input text', ids: [2, 5, 6, 7, 3] },
  /** Lower-cased and split on punctuation; `jumps` is `jump ##s`. */
  fox: { text: 'The quick brown fox jumps over the lazy dog.', ids: [2, 8, 20, 21, 22, 23, 62, 24, 8, 25, 26, 56, 3] },
  /** No piece of "xyzzy" is in the vocab, so it is one [UNK]. */
  unknown: { text: 'hello xyzzy world', ids: [2, 27, 1, 28, 3] },
});

export function bertTokenId(token: string): number {
  const id = BERT_VOCAB.indexOf(token);
  if (id < 0) throw new Error(`${token} is not in the test BERT vocab`);
  return id;
}

/** The hub files of the test BERT (or one of `size`): repo-relative path → contents. Same seed, same bytes. */
export function bertHubFiles(seed = 1234, size: Partial<BertSize> = {}): HubFiles {
  return {
    'tokenizer.json': JSON.stringify(bertTokenizerJson(size)),
    'tokenizer_config.json': JSON.stringify(bertTokenizerConfig()),
    'config.json': JSON.stringify(bertConfigJson(size)),
    'onnx/model.onnx': bertModel(seed, size),
  };
}

// ---- tokenizer files, in the format of bert-base-uncased's ----

const special = (content: string) => ({
  id: bertTokenId(content),
  content,
  single_word: false,
  lstrip: false,
  rstrip: false,
  normalized: false,
  special: true,
});

export function bertTokenizerJson(size: Partial<BertSize> = {}): Record<string, unknown> {
  const cls = { id: '[CLS]', ids: [BERT_SPECIAL.cls], tokens: ['[CLS]'] };
  const sep = { id: '[SEP]', ids: [BERT_SPECIAL.sep], tokens: ['[SEP]'] };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].map(special),
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase: true,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
      ],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: { '[CLS]': cls, '[SEP]': sep },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(configOf(size).vocab.map((token, id) => [token, id])),
    },
  };
}

export function bertTokenizerConfig(): Record<string, unknown> {
  return {
    clean_up_tokenization_spaces: true,
    cls_token: '[CLS]',
    do_lower_case: true,
    mask_token: '[MASK]',
    model_max_length: 512,
    pad_token: '[PAD]',
    sep_token: '[SEP]',
    strip_accents: null,
    tokenize_chinese_chars: true,
    tokenizer_class: 'BertTokenizer',
    unk_token: '[UNK]',
  };
}

export function bertConfigJson(size: Partial<BertSize> = {}): Record<string, unknown> {
  const c = configOf(size);
  return {
    architectures: ['BertModel'],
    model_type: 'bert',
    attention_probs_dropout_prob: 0.1,
    hidden_act: 'gelu',
    hidden_dropout_prob: 0.1,
    hidden_size: c.hidden,
    initializer_range: 0.02,
    intermediate_size: c.intermediate,
    layer_norm_eps: c.layerNormEps,
    max_position_embeddings: c.maxPositions,
    num_attention_heads: c.heads,
    num_hidden_layers: c.layers,
    pad_token_id: BERT_SPECIAL.pad,
    position_embedding_type: 'absolute',
    type_vocab_size: c.typeVocab,
    vocab_size: c.vocab.length,
  };
}

// ---- the ONNX graph ----

/** Collects nodes and initializers; names follow the Optimum export's paths so a reader can map them to BertModel. */
class GraphBuilder {
  readonly nodes: onnx.NodeProto[] = [];
  readonly initializers: onnx.TensorProto[] = [];
  private readonly random: () => number;

  constructor(seed: number) {
    this.random = mulberry32(seed);
  }

  node(op: string, inputs: string[], output: string, attrs: onnx.AttributeProto[] = []): string {
    this.nodes.push(makeNode(op, inputs, [output], `${output}/${op}`, attrs));
    return output;
  }

  /** A seeded normal(0, std) weight. */
  weight(name: string, dims: number[], std: number): string {
    const values = new Float32Array(dims.reduce((a, b) => a * b, 1));
    for (let i = 0; i < values.length; i++) values[i] = this.normal() * std;
    this.initializers.push(floatTensor(name, dims, values));
    return name;
  }

  constant(name: string, dims: number[], values: number[]): string {
    this.initializers.push(floatTensor(name, dims, Float32Array.from(values)));
    return name;
  }

  ints(name: string, dims: number[], values: number[]): string {
    const data = BigInt64Array.from(values, (v) => BigInt(v));
    this.initializers.push(rawTensor(name, DataType.INT64, dims, new Uint8Array(data.buffer)));
    return name;
  }

  /** Box–Muller on the shared seeded uniform generator. */
  private normal(): number {
    const u = Math.max(this.random(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.random());
  }
}

function layerNorm(g: GraphBuilder, c: Config, x: string, prefix: string): string {
  const { hidden, layerNormEps } = c;
  const gamma = g.constant(
    `${prefix}.weight`,
    [hidden],
    Array.from({ length: hidden }, (_, i) => 1 + 0.05 * Math.sin(i)),
  );
  const beta = g.constant(
    `${prefix}.bias`,
    [hidden],
    Array.from({ length: hidden }, (_, i) => 0.02 * Math.cos(i)),
  );
  return g.node('LayerNormalization', [x, gamma, beta], `/${prefix}/LayerNorm`, [
    intAttr('axis', -1),
    floatAttr('epsilon', layerNormEps),
  ]);
}

/** x·W + b with W [in, out]: the form the quantizer rewrites to MatMulNBits. */
function linear(g: GraphBuilder, x: string, prefix: string, inDim: number, outDim: number, std: number): string {
  const w = g.weight(`${prefix}.weight`, [inDim, outDim], std);
  const b = g.weight(`${prefix}.bias`, [outDim], 0.02);
  return g.node('Add', [g.node('MatMul', [x, w], `/${prefix}/MatMul`), b], `/${prefix}/Add`);
}

function embeddings(g: GraphBuilder, c: Config): string {
  const { hidden, maxPositions, typeVocab } = c;
  const words = g.node(
    'Gather',
    [g.weight('embeddings.word_embeddings.weight', [c.vocab.length, hidden], 1), 'input_ids'],
    '/embeddings/word_embeddings/Gather',
  );
  // Positions 0..S-1 are computed from the ids' shape, so the position table is a Gather on computed indices too.
  const shape = g.node('Shape', ['input_ids'], '/embeddings/Shape');
  const length = g.node('Gather', [shape, g.ints('/embeddings/axis1', [], [1])], '/embeddings/SequenceLength');
  const positions = g.node(
    'Range',
    [g.ints('/embeddings/zero', [], [0]), length, g.ints('/embeddings/one', [], [1])],
    '/embeddings/Range',
  );
  const positionRows = g.node(
    'Gather',
    [g.weight('embeddings.position_embeddings.weight', [maxPositions, hidden], 0.5), positions],
    '/embeddings/position_embeddings/Gather',
  );
  const types = g.node(
    'Gather',
    [g.weight('embeddings.token_type_embeddings.weight', [typeVocab, hidden], 0.5), 'token_type_ids'],
    '/embeddings/token_type_embeddings/Gather',
  );
  const sum = g.node('Add', [g.node('Add', [words, types], '/embeddings/Add'), positionRows], '/embeddings/Add_1');
  return layerNorm(g, c, sum, 'embeddings.LayerNorm');
}

/** (1 - mask) · -10000 as [batch, 1, 1, keys]: added to the scores, it leaves padded keys no weight after Softmax. */
function attentionBias(g: GraphBuilder): string {
  const mask = g.node('Cast', ['attention_mask'], '/extended_mask/Cast', [intAttr('to', DataType.FLOAT)]);
  const inverted = g.node('Sub', [g.constant('/extended_mask/one', [], [1]), mask], '/extended_mask/Sub');
  const bias = g.node('Mul', [inverted, g.constant('/extended_mask/min', [], [-10000])], '/extended_mask/Mul');
  return g.node('Unsqueeze', [bias, g.ints('/extended_mask/axes', [2], [1, 2])], '/extended_mask/Unsqueeze');
}

/** [batch, seq, hidden] → [batch, heads, seq, headDim] (or [batch, heads, headDim, seq] for keys). */
function splitHeads(g: GraphBuilder, c: Config, x: string, name: string, perm: number[]): string {
  const { heads, hidden } = c;
  const shape = g.ints(`${name}/shape`, [4], [0, 0, heads, hidden / heads]);
  return g.node('Transpose', [g.node('Reshape', [x, shape], `${name}/Reshape`)], `${name}/Transpose`, [
    intsAttr('perm', perm),
  ]);
}

/** std 1/√hidden: 1/8 at the test size, where it keeps q·k/√d near unit variance after a LayerNorm (attention is
 * neither uniform nor one-hot). */
const projectionStd = (c: Config) => 0.125 * Math.sqrt(BERT_CONFIG.hidden / c.hidden);

function selfAttention(g: GraphBuilder, c: Config, x: string, bias: string, layer: number): string {
  const { hidden, heads } = c;
  const p = `encoder.layer.${layer}.attention`;
  const std = projectionStd(c);
  const q = splitHeads(g, c, linear(g, x, `${p}.self.query`, hidden, hidden, std), `/${p}/self/query`, [0, 2, 1, 3]);
  const k = splitHeads(g, c, linear(g, x, `${p}.self.key`, hidden, hidden, std), `/${p}/self/key`, [0, 2, 3, 1]);
  const v = splitHeads(g, c, linear(g, x, `${p}.self.value`, hidden, hidden, std), `/${p}/self/value`, [0, 2, 1, 3]);
  const scores = g.node('MatMul', [q, k], `/${p}/self/scores`);
  const scaled = g.node(
    'Mul',
    [scores, g.constant(`/${p}/self/scale`, [], [1 / Math.sqrt(hidden / heads)])],
    `/${p}/self/scaled`,
  );
  const masked = g.node('Add', [scaled, bias], `/${p}/self/masked`);
  const probs = g.node('Softmax', [masked], `/${p}/self/Softmax`, [intAttr('axis', -1)]);
  const context = g.node('MatMul', [probs, v], `/${p}/self/context`);
  const merged = g.node(
    'Reshape',
    [
      g.node('Transpose', [context], `/${p}/self/context/Transpose`, [intsAttr('perm', [0, 2, 1, 3])]),
      g.ints(`/${p}/self/merged_shape`, [3], [0, 0, hidden]),
    ],
    `/${p}/self/merged`,
  );
  const out = linear(g, merged, `${p}.output.dense`, hidden, hidden, std);
  return layerNorm(g, c, g.node('Add', [out, x], `/${p}/output/residual`), `${p}.output.LayerNorm`);
}

/** GELU as the exporters write it: x · ½ · (1 + erf(x / √2)). */
function gelu(g: GraphBuilder, x: string, prefix: string): string {
  const erf = g.node(
    'Erf',
    [g.node('Div', [x, g.constant(`${prefix}/sqrt2`, [], [Math.SQRT2])], `${prefix}/Div`)],
    `${prefix}/Erf`,
  );
  const onePlus = g.node('Add', [erf, g.constant(`${prefix}/one`, [], [1])], `${prefix}/Add`);
  const half = g.node('Mul', [x, g.constant(`${prefix}/half`, [], [0.5])], `${prefix}/Mul`);
  return g.node('Mul', [half, onePlus], `${prefix}/Mul_1`);
}

function feedForward(g: GraphBuilder, c: Config, x: string, layer: number): string {
  const { hidden, intermediate } = c;
  const p = `encoder.layer.${layer}`;
  const up = gelu(
    g,
    linear(g, x, `${p}.intermediate.dense`, hidden, intermediate, projectionStd(c)),
    `/${p}/intermediate/gelu`,
  );
  const down = linear(
    g,
    up,
    `${p}.output.dense`,
    intermediate,
    hidden,
    (1 / 16) * Math.sqrt(BERT_CONFIG.intermediate / intermediate),
  );
  return layerNorm(g, c, g.node('Add', [down, x], `/${p}/output/residual`), `${p}.output.LayerNorm`);
}

export function bertModel(seed = 1234, size: Partial<BertSize> = {}): Uint8Array {
  const c = configOf(size);
  const g = new GraphBuilder(seed);
  const bias = attentionBias(g);
  let x = embeddings(g, c);
  for (let layer = 0; layer < c.layers; layer++) x = feedForward(g, c, selfAttention(g, c, x, bias, layer), layer);
  g.node('Identity', [x], 'last_hidden_state');
  const ids = (name: string) => valueInfo(name, DataType.INT64, ['batch_size', 'sequence_length']);
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'webq-tests',
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'bert',
      node: g.nodes,
      initializer: g.initializers,
      input: [ids('input_ids'), ids('attention_mask'), ids('token_type_ids')],
      output: [valueInfo('last_hidden_state', DataType.FLOAT, ['batch_size', 'sequence_length', c.hidden])],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
