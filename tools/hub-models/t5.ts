/**
 * A small T5 in the hub layout of Xenova/t5-small (Optimum export), generated (nothing downloaded): tokenizer.json
 * in the real Hugging Face format (SentencePiece Unigram, Metaspace pre-tokenizer and decoder, `</s>` appended by the
 * post-processor), tokenizer_config.json, config.json, generation_config.json, and the three graphs with the real
 * names — encoder_model (input_ids, attention_mask → last_hidden_state), decoder_model (input_ids,
 * encoder_attention_mask, encoder_hidden_states → logits, present.N.{decoder,encoder}.{key,value}) and
 * decoder_with_past_model (input_ids, encoder_attention_mask, past_key_values.N.* → logits, present.N.decoder.*).
 *
 * The ops are T5's: RMS layer norm without bias (x / √(mean(x²) + ε) · w), no biases in any projection, attention
 * without the 1/√d scale, a relative position bias (a learned table by key − query distance, shared by the layers,
 * causal in the decoder), cross-attention over the encoder's states, ReLU feed-forward, an untied lm_head. Distances
 * beyond ±8 share one bucket (T5's buckets are exact up to 8 and logarithmic after: the tables below are flat there).
 *
 * Its weights are set so that it translates a few English words to German word by word and copies any other piece
 * (a word the vocab lacks is `<unk>`, which the decoded text leaves out: "… red cat zebra" → "rot Katze"), and the
 * answer comes from what a pipeline must get right:
 *   - the encoder's relative bias makes head 0 read the token one back and head 1 the token two back, so each
 *     position's state holds its own piece, the one before and the one before that (in three blocks of channels);
 *   - the decoder's self-attention does the same over its own sequence (head 0: the token before; head 1: itself,
 *     subtracted), so its query is "the piece I just wrote, and the one before it" — the second half comes from the
 *     self-attention cache: a cache that is not grown, or a decoder that is not told how long its past is, finds
 *     the wrong token one back and the text goes wrong from the third word;
 *   - cross-attention finds the encoder position whose two previous pieces are those (the encoder keys and values
 *     come from the cross-attention cache of the first step), and the lm_head writes the translation of its piece,
 *     `</s>` after the last word.
 * Every projection is a MatMul with K ≥ 128 and seeded small noise around the scripted entries, so the quantizer has
 * real work and the text survives 4 bits. It is not built for inputs that repeat a piece (a word twice) or
 * hold German words: the tests use distinct pieces.
 */
import { onnx } from 'onnx-proto';
import { intAttr, intsAttr, makeNode, valueInfo } from '../../extension/onnx/model';
import { DataType, floatTensor, rawTensor } from '../../extension/onnx/tensor';
import { hashName, mulberry32 } from '../../extension/shared/random';
import type { HubFiles } from '../hub-mirror';

/** English → German, one piece each: what the model translates (other pieces it copies). */
export const T5_WORDS: Readonly<Record<string, string>> = Object.freeze({
  red: 'rot',
  green: 'grün',
  blue: 'blau',
  yellow: 'gelb',
  black: 'schwarz',
  white: 'weiß',
  cat: 'Katze',
  dog: 'Hund',
  house: 'Haus',
  small: 'klein',
  big: 'groß',
  tree: 'Baum',
});

/** The task prefix the model expects (as T5 was trained with); its last piece starts the answer. */
export const T5_PREFIX = 'translate English to German:';
const PREFIX_PIECES = ['▁translate', '▁English', '▁to', '▁German', ':'] as const;

/** Examples a test asserts: input → the text the model writes. */
export const T5_EXAMPLES = Object.freeze({
  colours: { input: `${T5_PREFIX} red green blue`, text: 'rot grün blau' },
  animals: { input: `${T5_PREFIX} small black cat big house`, text: 'klein schwarz Katze groß Haus' },
});

const SPECIALS = ['<pad>', '</s>', '<unk>'] as const;

interface Vocabulary {
  pieces: string[];
  id: Map<string, number>;
  /** The width of one identity block: the vocab rounded up to 32. */
  block: number;
}

let cachedVocabulary: Vocabulary | undefined;

function vocabulary(): Vocabulary {
  if (cachedVocabulary) return cachedVocabulary;
  const pieces = [
    ...SPECIALS,
    ...PREFIX_PIECES,
    ...Object.keys(T5_WORDS).map((w) => `▁${w}`),
    ...Object.values(T5_WORDS).map((w) => `▁${w}`),
  ];
  const id = new Map(pieces.map((p, i) => [p, i]));
  return (cachedVocabulary = { pieces, id, block: Math.ceil(pieces.length / 32) * 32 });
}

/** The id of a piece of the test vocab ('▁rot', ':', '</s>'). */
export function t5TokenId(piece: string): number {
  const id = vocabulary().id.get(piece);
  if (id === undefined) throw new Error(`${piece} is not in the test T5 vocab`);
  return id;
}

/** The ids the model writes for a text of known German words (no `</s>`). */
export function t5TextIds(text: string): number[] {
  return text.split(' ').map((w) => t5TokenId(`▁${w}`));
}

export const T5_CONFIG = Object.freeze({ layers: 2, heads: 2, ff: 128, spare: 32, maxDistance: 8 });

/**
 * Channel layout: three identity blocks (own piece, one back, two back) and spare channels for the noise. A head is
 * two blocks wide because cross-attention must match two pieces in one softmax (heads each take their own).
 */
function dims() {
  const { block } = vocabulary();
  const headDim = 2 * block;
  return { block, hidden: 3 * block + T5_CONFIG.spare, headDim, inner: T5_CONFIG.heads * headDim };
}

export function t5TokenizerJson(): Record<string, unknown> {
  const { pieces } = vocabulary();
  const score = (i: number) => (i < SPECIALS.length ? 0 : -5);
  const metaspace = { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true };
  const eos = { id: '</s>', type_id: 0 };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIALS.map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    // The real file's first normaliser is a Precompiled (NFKC) char map; the test text needs only the space rule.
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' }] },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, metaspace] },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: eos }],
      pair: [
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: eos },
        { Sequence: { id: 'B', type_id: 0 } },
        { SpecialToken: eos },
      ],
      special_tokens: { '</s>': { id: '</s>', ids: [1], tokens: ['</s>'] } },
    },
    decoder: metaspace,
    model: { type: 'Unigram', unk_id: 2, vocab: pieces.map((p, i) => [p, score(i)]), byte_fallback: false },
  };
}

export function t5TokenizerConfig(): Record<string, unknown> {
  return {
    clean_up_tokenization_spaces: true,
    eos_token: '</s>',
    model_max_length: 512,
    pad_token: '<pad>',
    tokenizer_class: 'T5Tokenizer',
    unk_token: '<unk>',
  };
}

export function t5ConfigJson(): Record<string, unknown> {
  const { hidden, headDim } = dims();
  return {
    architectures: ['T5ForConditionalGeneration'],
    model_type: 't5',
    d_model: hidden,
    d_kv: headDim,
    d_ff: T5_CONFIG.ff,
    num_layers: T5_CONFIG.layers,
    num_decoder_layers: T5_CONFIG.layers,
    num_heads: T5_CONFIG.heads,
    relative_attention_num_buckets: 2 * T5_CONFIG.maxDistance + 1,
    relative_attention_max_distance: T5_CONFIG.maxDistance,
    feed_forward_proj: 'relu',
    layer_norm_epsilon: 1e-6,
    is_encoder_decoder: true,
    tie_word_embeddings: false,
    vocab_size: vocabulary().pieces.length,
    pad_token_id: 0,
    eos_token_id: 1,
    decoder_start_token_id: 0,
    n_positions: 512,
    use_cache: true,
  };
}

export function t5GenerationConfig(): Record<string, unknown> {
  return { decoder_start_token_id: 0, eos_token_id: 1, pad_token_id: 0, max_length: 64 };
}

/** The hub files of the test T5: repo-relative path → contents. Same seed, same bytes. */
export function t5HubFiles(seed = 4321): HubFiles {
  return {
    'tokenizer.json': JSON.stringify(t5TokenizerJson()),
    'tokenizer_config.json': JSON.stringify(t5TokenizerConfig()),
    'config.json': JSON.stringify(t5ConfigJson()),
    'generation_config.json': JSON.stringify(t5GenerationConfig()),
    'onnx/encoder_model.onnx': t5EncoderModel(seed),
    'onnx/decoder_model.onnx': t5DecoderModel(seed, false),
    'onnx/decoder_with_past_model.onnx': t5DecoderModel(seed, true),
  };
}

// ---- graphs ----

/** Large negative score: a position attention must not read (masked, or a distance the head ignores). */
const NEVER = -30;
const MASKED = -1e9;
/**
 * Spreads of the seeded noise: projections into attention (NOISE), the layer-0 ones that carry the script (QUIET),
 * and outputs added to the residual stream (OUT_NOISE: small, so the spare channels never outweigh the pieces).
 */
const NOISE = 0.02;
const QUIET = 1e-3;
const OUT_NOISE = 0.003;
/** Cross-attention score per matching piece (8 to 20 once both sides are normalised: a sharp pick). */
const MATCH = 0.2;

class Graph {
  readonly nodes: onnx.NodeProto[] = [];
  readonly initializers: onnx.TensorProto[] = [];
  private count = 0;

  constructor(private readonly seed: number) {}

  node(op: string, inputs: string[], output: string, attrs: onnx.AttributeProto[] = []): string {
    this.nodes.push(makeNode(op, inputs, [output], `${output}/${op}_${this.count++}`, attrs));
    return output;
  }

  /** Seeded noise of spread `std`, then `fix` sets the scripted entries. */
  weight(name: string, shape: number[], std: number, fix?: (v: Float32Array, cols: number) => void): string {
    const random = mulberry32(this.seed ^ hashName(name));
    const v = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < v.length; i++) v[i] = (random() * 2 - 1) * std * Math.sqrt(3);
    fix?.(v, shape[shape.length - 1]!);
    this.initializers.push(floatTensor(name, shape, v));
    return name;
  }

  floats(name: string, shape: number[], values: ArrayLike<number>): string {
    this.initializers.push(floatTensor(name, shape, Float32Array.from(values)));
    return name;
  }

  ints(name: string, shape: number[], values: number[]): string {
    const data = BigInt64Array.from(values, (v) => BigInt(v));
    this.initializers.push(rawTensor(name, DataType.INT64, shape, new Uint8Array(data.buffer)));
    return name;
  }

  encode(name: string, inputs: onnx.ValueInfoProto[], outputs: onnx.ValueInfoProto[]): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'webq-tests',
      opsetImport: [{ domain: '', version: 17 }],
      graph: { name, node: this.nodes, initializer: this.initializers, input: inputs, output: outputs },
    });
    return onnx.ModelProto.encode(model).finish();
  }

  /** T5LayerNorm: x / √(mean(x²) + ε) · w (no mean subtracted, no bias). */
  rmsNorm(x: string, name: string): string {
    const { hidden } = dims();
    const square = this.node('Pow', [x, this.floats(`/${name}/two`, [], [2])], `/${name}/Pow`);
    const mean = this.node('ReduceMean', [square], `/${name}/ReduceMean`, [
      intsAttr('axes', [-1]),
      intAttr('keepdims', 1),
    ]);
    const root = this.node(
      'Sqrt',
      [this.node('Add', [mean, this.floats(`/${name}/eps`, [], [1e-6])], `/${name}/Add`)],
      `/${name}/Sqrt`,
    );
    const w = this.weight(`${name}.weight`, [hidden], 0, (v) => v.fill(1));
    return this.node('Mul', [this.node('Div', [x, root], `/${name}/Div`), w], `/${name}/Mul`);
  }

  /** [b, s, H·D] → [b, H, s, D]. */
  splitHeads(x: string, name: string): string {
    const shape = this.ints(`/${name}/split_shape`, [4], [0, 0, T5_CONFIG.heads, dims().headDim]);
    return this.node('Transpose', [this.node('Reshape', [x, shape], `/${name}/Reshape`)], name, [
      intsAttr('perm', [0, 2, 1, 3]),
    ]);
  }

  /** softmax(q·kᵀ + bias)·v, heads merged back to [b, s, H·D] (T5 does not scale the scores). */
  attend(q: string, k: string, v: string, bias: string, name: string): string {
    const kT = this.node('Transpose', [k], `/${name}/kT`, [intsAttr('perm', [0, 1, 3, 2])]);
    const scores = this.node('Add', [this.node('MatMul', [q, kT], `/${name}/scores`), bias], `/${name}/biased`);
    const probs = this.node('Softmax', [scores], `/${name}/Softmax`, [intAttr('axis', -1)]);
    const context = this.node('MatMul', [probs, v], `/${name}/context`);
    const merged = this.node('Transpose', [context], `/${name}/context/Transpose`, [intsAttr('perm', [0, 2, 1, 3])]);
    return this.node(
      'Reshape',
      [merged, this.ints(`/${name}/merge_shape`, [3], [0, 0, dims().inner])],
      `/${name}/merged`,
    );
  }

  /**
   * T5's position bias [1, H, q, k] from the query positions `queries` and the key count `keys`: a learned table by
   * distance (key − query, clipped to ±maxDistance), plus −1e9 on later keys when `causal` (the decoder).
   */
  positionBias(queries: string, keys: string, table: Float32Array, causal: boolean, name: string): string {
    const r = T5_CONFIG.maxDistance;
    const zero = this.ints(`/${name}/zero`, [], [0]);
    const one = this.ints(`/${name}/one`, [], [1]);
    const keyPositions = this.node('Range', [zero, keys, one], `/${name}/key_positions`);
    const distance = this.node(
      'Sub',
      [
        this.node('Unsqueeze', [keyPositions, this.ints(`/${name}/axis0`, [1], [0])], `/${name}/keys_row`),
        this.node('Unsqueeze', [queries, this.ints(`/${name}/axis1`, [1], [1])], `/${name}/queries_column`),
      ],
      `/${name}/distance`,
    );
    const bucket = this.node(
      'Add',
      [
        this.node(
          'Min',
          [
            this.node('Max', [distance, this.ints(`/${name}/low`, [], [-r])], `/${name}/Max`),
            this.ints(`/${name}/high`, [], [r]),
          ],
          `/${name}/clipped`,
        ),
        this.ints(`/${name}/offset`, [], [r]),
      ],
      `/${name}/bucket`,
    );
    const values = this.node(
      'Gather',
      [this.floats(`${name}.relative_attention_bias.weight`, [2 * r + 1, T5_CONFIG.heads], table), bucket],
      `/${name}/values`,
    );
    let bias = this.node(
      'Unsqueeze',
      [
        this.node('Transpose', [values], `/${name}/by_head`, [intsAttr('perm', [2, 0, 1])]),
        this.ints(`/${name}/batch_axis`, [1], [0]),
      ],
      `/${name}/bias`,
    );
    if (causal) {
      const later = this.node('Greater', [distance, zero], `/${name}/later`);
      const mask = this.node(
        'Where',
        [later, this.floats(`/${name}/masked`, [], [MASKED]), this.floats(`/${name}/open`, [], [0])],
        `/${name}/causal`,
      );
      bias = this.node('Add', [bias, mask], `/${name}/causal_bias`);
    }
    return bias;
  }

  /** attention_mask [b, s] (1 = a token) → an additive [b, 1, 1, s]. */
  paddingMask(mask: string, name: string): string {
    const open = this.node('Cast', [mask], `/${name}/Cast`, [intAttr('to', DataType.FLOAT)]);
    const closed = this.node('Sub', [this.floats(`/${name}/one`, [], [1]), open], `/${name}/closed`);
    const additive = this.node('Mul', [closed, this.floats(`/${name}/large`, [], [MASKED])], `/${name}/additive`);
    return this.node('Unsqueeze', [additive, this.ints(`/${name}/axes`, [2], [1, 2])], `/${name}/mask`);
  }

  /** ReLU feed-forward after its norm, writing only the spare channels (the identity blocks pass untouched). */
  feedForward(x: string, p: string): string {
    const { hidden, block } = dims();
    const h = this.rmsNorm(x, `${p}.layer_norm`);
    const wi = this.weight(`${p}.DenseReluDense.wi.weight`, [hidden, T5_CONFIG.ff], 1 / Math.sqrt(hidden));
    const wo = this.weight(`${p}.DenseReluDense.wo.weight`, [T5_CONFIG.ff, hidden], OUT_NOISE, spareOnly(3 * block));
    const up = this.node('Relu', [this.node('MatMul', [h, wi], `/${p}/wi/MatMul`)], `/${p}/Relu`);
    return this.node('Add', [x, this.node('MatMul', [up, wo], `/${p}/wo/MatMul`)], `/${p}/residual`);
  }
}

/** Zeroes the output columns [0, keep) of a [rows, cols] weight: an output that must not touch the identity blocks. */
const spareOnly = (keep: number) => (v: Float32Array, cols: number) => {
  for (let r = 0; r < v.length / cols; r++) v.fill(0, r * cols, r * cols + keep);
};

/** Sets w[row, col] := value in a [rows, cols] weight (a scripted entry over the noise). */
const set = (v: Float32Array, cols: number, row: number, col: number, value: number) => {
  v[row * cols + col] = value;
};

/** The bias table [2r + 1, H]: head h scores distance d (key − query) as `heads[h][d]`, every other distance NEVER. */
function biasTable(heads: Record<number, number>[]): Float32Array {
  const r = T5_CONFIG.maxDistance;
  const table = new Float32Array((2 * r + 1) * T5_CONFIG.heads).fill(NEVER);
  heads.forEach((scores, h) => {
    for (const [d, value] of Object.entries(scores)) table[(Number(d) + r) * T5_CONFIG.heads + h] = value;
  });
  return table;
}

/** A normalised identity channel is about √(hidden / pieces in the state): this brings it back to about 1. */
const unit = (pieces: number) => Math.sqrt(pieces / dims().hidden);

/**
 * input_ids [b, s], attention_mask [b, s] → last_hidden_state [b, s, hidden]. Layer 0's heads copy the piece one
 * and two back into blocks 1 and 2; layer 1 only writes the spare channels (noise, as a deeper model would add).
 */
export function t5EncoderModel(seed = 4321): Uint8Array {
  const { hidden, block, inner, headDim } = dims();
  const vocab = vocabulary().pieces.length;
  const g = new Graph(seed);
  const table = g.weight('shared.weight', [vocab, hidden], 0.01, (v, cols) => {
    for (let id = 0; id < vocab; id++) {
      v.fill(0, id * cols, id * cols + 3 * block);
      set(v, cols, id, id, 1); // block 0: the piece itself
    }
  });
  let x = g.node('Gather', [table, 'input_ids'], '/encoder/embed_tokens/Gather');
  const length = g.node(
    'Gather',
    [g.node('Shape', ['input_ids'], '/encoder/shape'), g.ints('/encoder/one', [], [1])],
    '/encoder/length',
  );
  const positions = g.node(
    'Range',
    [g.ints('/encoder/zero', [], [0]), length, g.ints('/encoder/step', [], [1])],
    '/encoder/positions',
  );
  const bias = g.node(
    'Add',
    [
      g.positionBias(
        positions,
        length,
        biasTable([{ [-1]: 0 }, { [-2]: 0 }]),
        false,
        'encoder.block.0.layer.0.SelfAttention',
      ),
      g.paddingMask('attention_mask', 'encoder/mask'),
    ],
    '/encoder/attention_bias',
  );
  for (let i = 0; i < T5_CONFIG.layers; i++) {
    const p = `encoder.block.${i}.layer.0`;
    const h = g.rmsNorm(x, `${p}.layer_norm`);
    const scripted = i === 0;
    // Queries near zero: the position bias alone decides where layer 0's heads look.
    const q = g.weight(`${p}.SelfAttention.q.weight`, [hidden, inner], scripted ? QUIET : NOISE);
    const k = g.weight(`${p}.SelfAttention.k.weight`, [hidden, inner], scripted ? QUIET : NOISE);
    const v = g.weight(`${p}.SelfAttention.v.weight`, [hidden, inner], scripted ? QUIET : NOISE, (w, cols) => {
      if (!scripted) return;
      for (let c = 0; c < block; c++) {
        set(w, cols, c, c, unit(1)); // head 0 carries block 0
        set(w, cols, c, headDim + c, unit(1)); // head 1 too
      }
    });
    const o = g.weight(`${p}.SelfAttention.o.weight`, [inner, hidden], OUT_NOISE, (w, cols) => {
      spareOnly(3 * block)(w, cols);
      if (!scripted) return;
      for (let c = 0; c < block; c++) {
        set(w, cols, c, block + c, 1); // head 0 (one back) → block 1
        set(w, cols, headDim + c, 2 * block + c, 1); // head 1 (two back) → block 2
      }
    });
    const heads = (w: string, name: string) =>
      g.splitHeads(g.node('MatMul', [h, w], `/${p}/${name}/MatMul`), `/${p}/${name}`);
    const context = g.attend(heads(q, 'q'), heads(k, 'k'), heads(v, 'v'), bias, `${p}/SelfAttention`);
    x = g.node('Add', [x, g.node('MatMul', [context, o], `/${p}/o/MatMul`)], `/${p}/residual`);
    x = g.feedForward(x, `encoder.block.${i}.layer.1`);
  }
  const out = g.rmsNorm(x, 'encoder.final_layer_norm');
  g.node('Identity', [out], 'last_hidden_state');
  return g.encode(
    't5_encoder',
    [
      valueInfo('input_ids', DataType.INT64, ['batch_size', 'encoder_sequence_length']),
      valueInfo('attention_mask', DataType.INT64, ['batch_size', 'encoder_sequence_length']),
    ],
    [valueInfo('last_hidden_state', DataType.FLOAT, ['batch_size', 'encoder_sequence_length', hidden])],
  );
}

/** The piece whose translation a decoder token stands for: German words their English one, `<pad>` (start) ':'. */
function sourceOf(id: number): number {
  const v = vocabulary();
  const piece = v.pieces[id]!;
  if (piece === '<pad>') return t5TokenId(':');
  const english = Object.entries(T5_WORDS).find(([, de]) => `▁${de}` === piece)?.[0];
  return english ? t5TokenId(`▁${english}`) : id;
}

/** What the model writes for an encoder piece: its German word, or the piece itself (`</s>` ends the text). */
function targetOf(id: number): number {
  const piece = vocabulary().pieces[id]!;
  const english = piece.slice(1);
  return piece.startsWith('▁') && Object.hasOwn(T5_WORDS, english) ? t5TokenId(`▁${T5_WORDS[english]}`) : id;
}

/**
 * decoder_model (withPast = false): input_ids [b, s], encoder_attention_mask, encoder_hidden_states → logits and
 * present.* of both caches. decoder_with_past_model: input_ids [b, 1], encoder_attention_mask and past_key_values.*
 * → logits and the grown present.N.decoder.*, as Optimum exports T5. Same seed, same weights in both.
 */
export function t5DecoderModel(seed = 4321, withPast = false): Uint8Array {
  const { hidden, block, inner, headDim } = dims();
  const { heads, layers } = T5_CONFIG;
  const vocab = vocabulary().pieces.length;
  const g = new Graph(seed);
  const cache = (length: string) => ['batch_size', heads, length, headDim];
  const inputs = [
    valueInfo('input_ids', DataType.INT64, ['batch_size', 'decoder_sequence_length']),
    valueInfo('encoder_attention_mask', DataType.INT64, ['batch_size', 'encoder_sequence_length']),
  ];
  if (!withPast)
    inputs.push(valueInfo('encoder_hidden_states', DataType.FLOAT, ['batch_size', 'encoder_sequence_length', hidden]));
  for (let i = 0; i < layers && withPast; i++)
    for (const kind of ['decoder', 'encoder'])
      for (const part of ['key', 'value'])
        inputs.push(
          valueInfo(
            `past_key_values.${i}.${kind}.${part}`,
            DataType.FLOAT,
            cache(kind === 'decoder' ? 'past_decoder_sequence_length' : 'encoder_sequence_length_out'),
          ),
        );

  // The decoder's own table (untied from the encoder's): block 1 holds the piece the token stands for.
  const table = g.weight('decoder.embed_tokens.weight', [vocab, hidden], 0.01, (v, cols) => {
    for (let id = 0; id < vocab; id++) {
      v.fill(0, id * cols, id * cols + 3 * block);
      set(v, cols, id, block + sourceOf(id), 1);
    }
  });
  let x = g.node('Gather', [table, 'input_ids'], '/decoder/embed_tokens/Gather');
  const one = g.ints('/decoder/one', [], [1]);
  const newTokens = g.node(
    'Gather',
    [g.node('Shape', ['input_ids'], '/decoder/ids_shape'), one],
    '/decoder/new_tokens',
  );
  // The first new token's position: the past's length (from the cache itself, as the export reads it), or 0.
  const past = withPast
    ? g.node(
        'Gather',
        [g.node('Shape', ['past_key_values.0.decoder.key'], '/decoder/past_shape'), g.ints('/decoder/axis2', [], [2])],
        '/decoder/past_length',
      )
    : g.ints('/decoder/no_past', [], [0]);
  const total = g.node('Add', [past, newTokens], '/decoder/total');
  const queries = g.node('Range', [past, total, one], '/decoder/query_positions');
  // Head 0 reads the token before (itself when there is none), head 1 the token itself.
  const selfBias = g.positionBias(
    queries,
    total,
    biasTable([{ [-1]: 0, 0: -10 }, { 0: 0 }]),
    true,
    'decoder.block.0.layer.0.SelfAttention',
  );
  const crossMask = g.paddingMask('encoder_attention_mask', 'decoder/cross_mask');

  const outputs = [valueInfo('logits', DataType.FLOAT, ['batch_size', 'decoder_sequence_length', vocab])];
  for (let i = 0; i < layers; i++) {
    const scripted = i === 0;
    const p = `decoder.block.${i}.layer`;
    // Self-attention: (piece before) − (piece now) into block 2; at the first step both are the start token: 0.
    let h = g.rmsNorm(x, `${p}.0.layer_norm`);
    const w = (name: string, std: number, fix?: (v: Float32Array, cols: number) => void) =>
      g.weight(
        `${p}.${name}.weight`,
        [name.endsWith('.o') ? inner : hidden, name.endsWith('.o') ? hidden : inner],
        std,
        fix,
      );
    const qSelf = w('0.SelfAttention.q', scripted ? QUIET : NOISE);
    const kSelf = w('0.SelfAttention.k', scripted ? QUIET : NOISE);
    const vSelf = w('0.SelfAttention.v', scripted ? QUIET : NOISE, (v, cols) => {
      if (!scripted) return;
      for (let c = 0; c < block; c++) {
        set(v, cols, block + c, c, unit(1));
        set(v, cols, block + c, headDim + c, unit(1));
      }
    });
    const oSelf = w('0.SelfAttention.o', OUT_NOISE, (v, cols) => {
      spareOnly(3 * block)(v, cols);
      if (!scripted) return;
      for (let c = 0; c < block; c++) {
        set(v, cols, c, 2 * block + c, 1);
        set(v, cols, headDim + c, 2 * block + c, -1);
      }
    });
    const proj = (input: string, weight: string, name: string) =>
      g.splitHeads(g.node('MatMul', [input, weight], `/${p}/${name}/MatMul`), `/${p}/${name}`);
    const newKey = proj(h, kSelf, 'self_k');
    const newValue = proj(h, vSelf, 'self_v');
    const key = withPast
      ? g.node('Concat', [`past_key_values.${i}.decoder.key`, newKey], `present.${i}.decoder.key`, [intAttr('axis', 2)])
      : g.node('Identity', [newKey], `present.${i}.decoder.key`);
    const value = withPast
      ? g.node('Concat', [`past_key_values.${i}.decoder.value`, newValue], `present.${i}.decoder.value`, [
          intAttr('axis', 2),
        ])
      : g.node('Identity', [newValue], `present.${i}.decoder.value`);
    const selfContext = g.attend(proj(h, qSelf, 'self_q'), key, value, selfBias, `${p}.0/SelfAttention`);
    x = g.node('Add', [x, g.node('MatMul', [selfContext, oSelf], `/${p}/self_o/MatMul`)], `/${p}/self_residual`);

    // Cross-attention: head 0 matches (piece now, piece before) against the encoder's (one back, two back).
    h = g.rmsNorm(x, `${p}.1.layer_norm`);
    const qCross = w('1.EncDecAttention.q', scripted ? QUIET : NOISE, (v, cols) => {
      if (!scripted) return;
      for (let c = 0; c < block; c++) {
        set(v, cols, block + c, c, MATCH);
        set(v, cols, 2 * block + c, block + c, 2 * MATCH);
      }
    });
    let crossKey: string, crossValue: string;
    if (withPast) {
      crossKey = `past_key_values.${i}.encoder.key`;
      crossValue = `past_key_values.${i}.encoder.value`;
    } else {
      const kCross = w('1.EncDecAttention.k', scripted ? QUIET : NOISE, (v, cols) => {
        if (!scripted) return;
        for (let c = 0; c < block; c++) {
          set(v, cols, block + c, c, 1);
          set(v, cols, 2 * block + c, block + c, 1);
        }
      });
      const vCross = w('1.EncDecAttention.v', scripted ? QUIET : NOISE, (v, cols) => {
        if (!scripted) return;
        for (let c = 0; c < block; c++) set(v, cols, c, c, unit(3));
      });
      crossKey = g.node('Identity', [proj('encoder_hidden_states', kCross, 'cross_k')], `present.${i}.encoder.key`);
      crossValue = g.node('Identity', [proj('encoder_hidden_states', vCross, 'cross_v')], `present.${i}.encoder.value`);
    }
    const oCross = w('1.EncDecAttention.o', OUT_NOISE, (v, cols) => {
      spareOnly(3 * block)(v, cols);
      if (!scripted) return;
      for (let c = 0; c < block; c++) set(v, cols, c, c, 1); // the found piece → block 0
    });
    const crossContext = g.attend(
      proj(h, qCross, 'cross_q'),
      crossKey,
      crossValue,
      crossMask,
      `${p}.1/EncDecAttention`,
    );
    x = g.node('Add', [x, g.node('MatMul', [crossContext, oCross], `/${p}/cross_o/MatMul`)], `/${p}/cross_residual`);
    x = g.feedForward(x, `${p}.2`);

    outputs.push(valueInfo(`present.${i}.decoder.key`, DataType.FLOAT, cache('present_decoder_sequence_length')));
    outputs.push(valueInfo(`present.${i}.decoder.value`, DataType.FLOAT, cache('present_decoder_sequence_length')));
    if (!withPast) {
      outputs.push(valueInfo(`present.${i}.encoder.key`, DataType.FLOAT, cache('encoder_sequence_length_out')));
      outputs.push(valueInfo(`present.${i}.encoder.value`, DataType.FLOAT, cache('encoder_sequence_length_out')));
    }
  }
  const out = g.rmsNorm(x, 'decoder.final_layer_norm');
  const head = g.weight('lm_head.weight', [hidden, vocab], 0.01, (v, cols) => {
    for (let id = 0; id < vocab; id++) set(v, cols, id, targetOf(id), 1);
  });
  g.node('MatMul', [out, head], 'logits');
  return g.encode(withPast ? 't5_decoder_with_past' : 't5_decoder', inputs, outputs);
}
