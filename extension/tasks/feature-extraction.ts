/**
 * Text embeddings (SPEC §5, `bert-base-uncased`): tokenise with the model's own tokenizer.json through
 * @huggingface/tokenizers, run the encoder once on the padded batch, and mean-pool its last hidden state over the
 * real tokens. Hub layout of Xenova/bert-base-uncased: onnx/model.onnx, tokenizer.json, tokenizer_config.json,
 * config.json. The tokenizer runs through `tokenizers()` (tokenizer.ts): in the engine host, in a worker with a
 * time budget.
 */
import { WebqError } from '../shared/errors';
import type { WireInput } from '../shared/protocol';
import type { Tensor } from '../shared/tensor';
import { fromFloat16 } from '../quant/fp16';
import { readObject } from './model-files';
import { tokenizers, type Encoded, type TextTokenizer } from './tokenizer';
import type { TaskPipeline } from './types';

export interface FeatureExtractionAssets {
  tokenizer: TextTokenizer;
  /** Longest sequence fed to the graph, special tokens included. */
  maxLength: number;
  /** Fills the rows of shorter texts; masked out, but it must still be a valid row of the embedding table. */
  padId: number;
}

export interface FeatureExtractionOutput {
  embeddings: Float32Array;
  dims: [number, number];
  lastHiddenState: { type: 'float32'; data: Float32Array; dims: [number, number, number] };
  tokens: number[][];
}

/** Encoder memory and time grow with batch × length²; past these a page should split its request. */
export const MAX_BATCH = 64;
export const MAX_CHARACTERS = 100_000;
/** BERT-family position tables stop at 512; a config that claims more (or 1e30, "no limit") is not trusted. */
export const MAX_SEQUENCE = 512;

const FEEDABLE = ['input_ids', 'attention_mask', 'token_type_ids'] as const;
type Feedable = (typeof FEEDABLE)[number];

export const featureExtraction: TaskPipeline<FeatureExtractionAssets> = {
  task: 'feature-extraction',
  modality: 'text',
  graphs: { model: 'onnx/model.onnx' },
  runOptions: ['normalize'],

  async prepare(files) {
    const tokenizerJson = await readObject(files, 'tokenizer.json', true);
    const tokenizerConfig = (await readObject(files, 'tokenizer_config.json', false)) ?? {};
    const modelConfig = (await readObject(files, 'config.json', false)) ?? {};
    const tokenizer = await makeTokenizer(tokenizerJson, tokenizerConfig);
    return {
      tokenizer,
      maxLength: maxLengthOf(tokenizerConfig, modelConfig),
      padId: await padIdOf(tokenizer, tokenizerConfig),
    };
  },

  async run(assets, input, options, graphs) {
    const texts = textsOf(input);
    const sequences = await encode(assets, texts);
    if (graphs.signal.aborted) throw new WebqError('AbortError', 'the request was aborted');
    const io = graphs.io('model');
    const { feeds, padded } = batchFeeds(sequences, assets.padId, io.inputs);
    const outputs = await graphs.run('model', feeds);
    const hidden = hiddenStateOf(
      outputs,
      io.outputs.map((o) => o.name),
      sequences.length,
      padded,
    );
    const embeddings = meanPool(
      hidden,
      sequences.map((s) => s.ids.length),
    );
    if (options.normalize) normalizeRows(embeddings, hidden.dims[2]);
    const output: FeatureExtractionOutput = {
      embeddings,
      dims: [hidden.dims[0], hidden.dims[2]],
      lastHiddenState: { type: 'float32', data: hidden.data, dims: hidden.dims },
      tokens: sequences.map((s) => s.ids),
    };
    return output;
  },
};

// ---- prepare ----

export async function makeTokenizer(
  json: Record<string, unknown>,
  config: Record<string, unknown>,
): Promise<TextTokenizer> {
  // A file the library refuses is a DataError naming tokenizer.json already (tokenizer-core.ts).
  const tokenizer = await tokenizers().load(json, config);
  try {
    // Some broken files (no unk token in the vocab, a post-processor naming absent tokens) only fail on use.
    const [probe] = await tokenizer.encode(['a'], { addSpecialTokens: true });
    checkIds(probe!.ids, 'a');
  } catch (err) {
    if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'DataError')) throw err;
    throw new WebqError(
      'DataError',
      `the model's tokenizer.json cannot be used: ${String((err as Error)?.message ?? err).slice(0, 300)}`,
    );
  }
  return tokenizer;
}

export function maxLengthOf(tokenizerConfig: Record<string, unknown>, modelConfig: Record<string, unknown>): number {
  const limits = [tokenizerConfig.model_max_length, modelConfig.max_position_embeddings].filter(
    (v): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0,
  );
  return Math.min(MAX_SEQUENCE, ...limits);
}

async function padIdOf(tokenizer: TextTokenizer, config: Record<string, unknown>): Promise<number> {
  const padToken = typeof config.pad_token === 'string' ? config.pad_token : '[PAD]';
  const [named, pad] = await tokenizer.tokenToId([padToken, '[PAD]']);
  return named ?? pad ?? 0;
}

// ---- run: text → ids ----

function textsOf(input: WireInput): string[] {
  if (input.kind !== 'text') {
    throw new WebqError(
      'DataError',
      `feature-extraction takes text (a string or an array of strings), got ${input.kind} input`,
    );
  }
  const texts = input.text;
  if (texts.length === 0)
    throw new WebqError('DataError', 'input text is an empty array; pass a string or at least one string');
  if (texts.length > MAX_BATCH)
    throw new WebqError(
      'DataError',
      `input text has ${texts.length} strings; feature-extraction takes at most ${MAX_BATCH} per run`,
    );
  const characters = texts.reduce((n, t) => n + t.length, 0);
  if (characters > MAX_CHARACTERS) {
    throw new WebqError(
      'DataError',
      `input text has ${characters} characters in all; feature-extraction takes at most ${MAX_CHARACTERS} per run`,
    );
  }
  return texts;
}

export interface Sequence {
  ids: number[];
  typeIds: number[];
}

/**
 * Token ids with the tokenizer's special tokens, cut to maxLength with the special tokens kept (as HF truncates).
 * The whole batch is one step of the tokenizer (one time budget), and the texts too long one more.
 */
export async function encode(assets: FeatureExtractionAssets, texts: string[]): Promise<Sequence[]> {
  const { tokenizer, maxLength } = assets;
  const encoded = await tokenizer.encode(texts, { addSpecialTokens: true });
  const long = texts.filter((_, i) => encoded[i]!.ids.length > maxLength);
  const contents = long.length ? await tokenizer.encode(long, { addSpecialTokens: false }) : [];
  let nextLong = 0;
  return encoded.map((full: Encoded, index) => {
    const text = texts[index]!;
    checkIds(full.ids, text);
    const typeIds = full.typeIds ?? full.ids.map(() => 0);
    if (full.ids.length === 0) throw new WebqError('DataError', `input text[${index}] gives no tokens`);
    if (full.ids.length <= maxLength) return { ids: full.ids, typeIds };
    const content = contents[nextLong++]!.ids;
    checkIds(content, text);
    return truncate(full.ids, typeIds, content, maxLength);
  });
}

/**
 * A single-sequence template is prefix + text + suffix; the library has no truncation of its own, so the text's
 * own ids (encoded without special tokens) are found in the full encoding and only they are cut.
 */
function truncate(ids: number[], typeIds: number[], content: number[], maxLength: number): Sequence {
  const added = ids.length - content.length;
  const start = Array.from({ length: added + 1 }, (_, s) => s).find((s) => content.every((id, i) => ids[s + i] === id));
  if (start === undefined || added > maxLength) {
    throw new WebqError(
      'DataError',
      `the tokenizer's special tokens do not leave room for text within ${maxLength} tokens`,
    );
  }
  const keep = (xs: number[]) => [...xs.slice(0, start + maxLength - added), ...xs.slice(start + content.length)];
  return { ids: keep(ids), typeIds: keep(typeIds) };
}

function checkIds(ids: (number | undefined)[], text: string): asserts ids is number[] {
  const bad = ids.findIndex((id) => !Number.isInteger(id));
  if (bad >= 0) {
    throw new WebqError(
      'DataError',
      `the model's tokenizer.json has no id for token ${bad} of ${JSON.stringify(text.slice(0, 40))} (no unknown token in its vocab?)`,
    );
  }
}

// ---- run: ids → graph feeds ----

/** Right-padded [batch, longest] tensors for exactly the inputs the graph declares (an extra feed fails the session).
 * */
export function batchFeeds(
  sequences: Sequence[],
  padId: number,
  inputs: { name: string; type: string }[],
): { feeds: Record<string, Tensor>; padded: number } {
  const padded = Math.max(...sequences.map((s) => s.ids.length));
  const columns: Record<Feedable, (s: Sequence, t: number) => number> = {
    input_ids: (s, t) => s.ids[t] ?? padId,
    attention_mask: (s, t) => (t < s.ids.length ? 1 : 0),
    token_type_ids: (s, t) => s.typeIds[t] ?? 0,
  };
  if (!inputs.some((i) => i.name === 'input_ids')) {
    throw new WebqError(
      'DataError',
      `the model's graph has no input_ids input (its inputs: ${inputs.map((i) => i.name).join(', ')}); it is not a text encoder feature-extraction can feed`,
    );
  }
  const feeds: Record<string, Tensor> = {};
  for (const input of inputs) {
    if (!(FEEDABLE as readonly string[]).includes(input.name)) {
      throw new WebqError(
        'DataError',
        `the model's graph takes an input ${JSON.stringify(input.name)} that feature-extraction cannot feed; it feeds ${FEEDABLE.join(', ')}`,
      );
    }
    feeds[input.name] = intTensor(input, sequences, padded, columns[input.name as Feedable]);
  }
  return { feeds, padded };
}

function intTensor(
  input: { name: string; type: string },
  sequences: Sequence[],
  padded: number,
  value: (s: Sequence, t: number) => number,
): Tensor {
  const count = sequences.length * padded;
  const dims = [sequences.length, padded];
  const at = (i: number) => value(sequences[Math.floor(i / padded)]!, i % padded);
  if (input.type === 'int64')
    return { type: 'int64', dims, data: BigInt64Array.from({ length: count }, (_, i) => BigInt(at(i))) };
  if (input.type === 'int32') return { type: 'int32', dims, data: Int32Array.from({ length: count }, (_, i) => at(i)) };
  throw new WebqError(
    'DataError',
    `the model's input ${input.name} is ${input.type}; feature-extraction feeds int64 or int32 ids`,
  );
}

// ---- run: hidden state → embeddings ----

interface Hidden {
  data: Float32Array;
  dims: [number, number, number];
}

/** `last_hidden_state` by name (the Optimum export), else the first output shaped like one. */
function hiddenStateOf(outputs: Record<string, Tensor>, order: string[], batch: number, tokens: number): Hidden {
  const names = ['last_hidden_state', ...order.filter((n) => n !== 'last_hidden_state')];
  for (const name of names) {
    const t = outputs[name];
    if (!t || t.dims.length !== 3 || (t.type !== 'float32' && t.type !== 'float16')) continue;
    const [b, s, h] = t.dims as [number, number, number];
    if (b !== batch || s !== tokens) {
      throw new WebqError(
        'OperationError',
        `the model's output ${name} has dims [${t.dims.join(', ')}]; expected [${batch}, ${tokens}, hidden]`,
      );
    }
    const data = t.type === 'float16' ? fromFloat16(t.data as Uint16Array) : (t.data as Float32Array);
    return { data, dims: [b, s, h] };
  }
  throw new WebqError(
    'OperationError',
    `the model has no last_hidden_state output (a float tensor [batch, tokens, hidden]); its outputs: ${Object.keys(outputs).join(', ')}`,
  );
}

/** Mean over each row's real tokens: padding is right-aligned, so row b's tokens are its first lengths[b]. */
function meanPool(hidden: Hidden, lengths: number[]): Float32Array {
  const [batch, tokens, width] = hidden.dims;
  const out = new Float32Array(batch * width);
  for (let b = 0; b < batch; b++) {
    const n = lengths[b]!;
    for (let h = 0; h < width; h++) {
      let sum = 0;
      for (let t = 0; t < n; t++) sum += hidden.data[(b * tokens + t) * width + h]!;
      out[b * width + h] = sum / n;
    }
  }
  return out;
}

export function normalizeRows(rows: Float32Array, width: number): void {
  for (let start = 0; start < rows.length; start += width) {
    const row = rows.subarray(start, start + width);
    const norm = Math.sqrt(row.reduce((s, v) => s + v * v, 0));
    // An all-zero row has no direction; it stays zero rather than becoming NaN.
    if (norm > 0) row.set(row.map((v) => v / norm));
  }
}
