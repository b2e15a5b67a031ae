/**
 * text2text-generation (issue #18, `t5-small`): a page's string → the model's tokenizer (SentencePiece from
 * tokenizer.json, `</s>` appended by its post-processor) → the encoder once → the encoder-decoder loop with the KV
 * cache (generation/seq2seq-loop.ts) → `{ text, tokens, finishReason, usage }`, streamed like text-generation. Files
 * in the layout of the hub repo Xenova/t5-small (Optimum export): onnx/encoder_model.onnx, onnx/decoder_model.onnx,
 * onnx/decoder_with_past_model.onnx, tokenizer.json, tokenizer_config.json, config.json, generation_config.json.
 *
 * It takes text-generation's options (maxNewTokens, temperature, topK, topP, repetitionPenalty, seed, stop), checked
 * by the same code. T5 has no chat template: the task is said in the text (`translate English to German: …`).
 */
import { dataError, WebqError } from '../shared/errors';
import type { WireInput } from '../shared/protocol';
import type { Tensor } from '../shared/tensor';
import { checkGenerationOptions, GENERATION_OPTIONS, MAX_NEW_TOKENS, tokenizerVocabSize } from './generation';
import type { FinishReason } from './generation/decode-loop';
import { asIdsType, generateSeq2Seq, idsTensor } from './generation/seq2seq-loop';
import { readObject } from './model-files';
import { tokenizers, type TextTokenizer } from './tokenizer';
import type { GraphRunner, TaskPipeline } from './types';

export interface Seq2SeqConfig {
  decoderStartId: number;
  eosIds: number[];
  /** config.json vocab_size: the logits' width (may be padded past the tokenizer's vocabulary). */
  vocabSize: number;
  /** Input tokens, at most: tokenizer_config.json model_max_length, capped at MAX_INPUT_TOKENS. */
  maxInputTokens: number;
  /** generated tokens when the request says nothing: generation_config.json max_length less the start token. */
  defaultMaxNewTokens: number;
  /** config.json's cache shape, checked against the graphs at the first run. */
  layers: number;
  heads: number;
  headDim: number;
}

export interface Text2TextAssets {
  /** In the engine host, in a worker with a time budget (tokenizer.ts). */
  tokenizer: TextTokenizer;
  config: Seq2SeqConfig;
  /** Ids the tokenizer can decode (vocab_size may be padded past them: t5-small has 32,128 logits, 32,100 pieces). */
  vocabLimit: number;
}

export interface Text2TextOutput {
  text: string;
  /** Generated ids: neither the decoder start token nor the end-of-sequence token. */
  tokens: number[];
  finishReason: FinishReason;
  usage: { promptTokens: number; completionTokens: number };
}

/** T5 was trained on 512-token inputs; its relative positions allow more, but its tokenizer config says 512. */
export const MAX_INPUT_TOKENS = 512;
/** When generation_config.json gives no max_length (transformers' default max_length is 20, with the start token). */
export const DEFAULT_MAX_NEW_TOKENS = 19;

const ROLES = { encoder: 'encoder', decoder: 'decoder', withPast: 'decoderWithPast' } as const;

export const text2textGeneration: TaskPipeline<Text2TextAssets> = {
  task: 'text2text-generation',
  modality: 'text',
  graphs: {
    encoder: 'onnx/encoder_model.onnx',
    decoder: 'onnx/decoder_model.onnx',
    decoderWithPast: 'onnx/decoder_with_past_model.onnx',
  },
  runOptions: GENERATION_OPTIONS,

  async prepare(files) {
    const configJson = await readObject(files, 'config.json', true);
    const generationJson = (await readObject(files, 'generation_config.json', false)) ?? {};
    const tokenizerJson = await readObject(files, 'tokenizer.json', true);
    const tokenizerConfig = (await readObject(files, 'tokenizer_config.json', false)) ?? {};
    // The configs first: they are cheap to check, and a bad one should not cost a tokenizer worker.
    const config = parseSeq2SeqConfig(configJson, generationJson, tokenizerConfig);
    const vocabLimit = Math.min(config.vocabSize, tokenizerVocabSize(tokenizerJson));
    const tokenizer = await tokenizers().load(tokenizerJson, tokenizerConfig);
    return { tokenizer, config, vocabLimit };
  },

  async run(assets, input, options, graphs, hooks = {}) {
    const startedAt = performance.now();
    const { maxNewTokens, stop, ...sampling } = checkGenerationOptions({ ...options });
    checkGraphs(graphs, assets.config);
    const ids = await inputIds(assets, input);
    if (graphs.signal.aborted) throw new WebqError('AbortError', 'the request was aborted');
    const mask = idsTensor(
      ids.map(() => 1),
      'int64',
    );
    const encoderHiddenStates = await encode(graphs, idsTensor(ids, 'int64'), mask);
    const result = await generateSeq2Seq(
      {
        graphs,
        decoder: ROLES.decoder,
        decoderWithPast: ROLES.withPast,
        decoderStartId: assets.config.decoderStartId,
        eosIds: assets.config.eosIds,
        vocabLimit: assets.vocabLimit,
      },
      {
        encoderHiddenStates,
        encoderAttentionMask: mask,
        promptTokens: ids.length,
        maxNewTokens: maxNewTokens ?? assets.config.defaultMaxNewTokens,
        sampling,
        stop,
        decode: (tokens) => (tokens.length ? assets.tokenizer.decode(tokens, { skipSpecialTokens: true }) : ''),
        onDelta: hooks.onDelta,
        startedAt,
      },
    );
    const { timeToFirstTokenMs, prefillTokensPerSecond, decodeTokensPerSecond } = result.timings;
    hooks.report?.({ timeToFirstTokenMs, prefillTokensPerSecond, decodeTokensPerSecond });
    const output: Text2TextOutput = {
      text: result.text,
      tokens: result.tokens,
      finishReason: result.finishReason,
      usage: result.usage,
    };
    return output;
  },
};

// ---- prepare ----

type Json = Readonly<Record<string, unknown>>;
const show = (v: unknown) => JSON.stringify(v)?.slice(0, 40) ?? String(v);
const isInt = (v: unknown, min: number, max: number): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

const LIMITS = Object.freeze({ vocabSize: 1 << 21, layers: 512, heads: 1024, headDim: 4096 });

/**
 * The fields the loop needs, each bounds-checked with a DataError naming the file and field: the files may come from
 * a page's model. generation_config.json's ids win over config.json's, as in transformers.
 */
export function parseSeq2SeqConfig(config: Json, generation: Json, tokenizerConfig: Json): Seq2SeqConfig {
  const int = (file: string, json: Json, field: string, min: number, max: number, fallback?: unknown): number => {
    const v = json[field] ?? fallback;
    if (!isInt(v, min, max))
      throw dataError(`the model's ${file} ${field} must be an integer from ${min} to ${max}, got ${show(v)}`);
    return v;
  };
  const vocabSize = int('config.json', config, 'vocab_size', 1, LIMITS.vocabSize);
  const idIn = (field: string): number => {
    const file = generation[field] !== undefined ? 'generation_config.json' : 'config.json';
    return int(file, generation[field] !== undefined ? generation : config, field, 0, vocabSize - 1);
  };
  const decoderStartId = idIn('decoder_start_token_id');
  const eosFile = generation.eos_token_id !== undefined ? 'generation_config.json' : 'config.json';
  const eos = (eosFile === 'config.json' ? config : generation).eos_token_id;
  const eosIds = isInt(eos, 0, vocabSize - 1)
    ? [eos]
    : Array.isArray(eos) && eos.length > 0 && eos.length <= 64 && eos.every((id) => isInt(id, 0, vocabSize - 1))
      ? (eos as number[])
      : undefined;
  if (!eosIds)
    throw dataError(
      `the model's ${eosFile} eos_token_id must be a token id below vocab_size ${vocabSize} (or a list of them), got ${show(eos)}`,
    );
  const layers = int('config.json', config, 'num_decoder_layers', 1, LIMITS.layers, config.num_layers);
  const heads = int('config.json', config, 'num_heads', 1, LIMITS.heads);
  const headDim = int('config.json', config, 'd_kv', 1, LIMITS.headDim);
  const maxLength = int(
    'generation_config.json',
    generation,
    'max_length',
    2,
    MAX_NEW_TOKENS + 1,
    DEFAULT_MAX_NEW_TOKENS + 1,
  );
  const modelMax = tokenizerConfig.model_max_length;
  // Tokenizer configs without a limit say so with a huge number (1e30); anything else must be a positive integer.
  if (modelMax !== undefined && (typeof modelMax !== 'number' || !(modelMax >= 1)))
    throw dataError(
      `the model's tokenizer_config.json model_max_length must be a positive number, got ${show(modelMax)}`,
    );
  return {
    decoderStartId,
    eosIds,
    vocabSize,
    maxInputTokens: Math.min(MAX_INPUT_TOKENS, Math.floor((modelMax as number | undefined) ?? MAX_INPUT_TOKENS)),
    defaultMaxNewTokens: maxLength - 1,
    layers,
    heads,
    headDim,
  };
}

// ---- run ----

/** The graphs' I/O against the config: what the loop feeds and what the cache must look like. */
function checkGraphs(graphs: GraphRunner, config: Seq2SeqConfig): void {
  const encoderInputs = graphs.io(ROLES.encoder).inputs.map((i) => i.name);
  if (!encoderInputs.includes('input_ids'))
    throw dataError(
      `the model's encoder has no input_ids input (its inputs: ${encoderInputs.join(', ').slice(0, 200)})`,
    );
  for (const role of [ROLES.decoder, ROLES.withPast]) {
    const pasts = graphs.io(role).inputs.filter((i) => i.name.startsWith('past_key_values.'));
    if (role === ROLES.withPast && pasts.length !== 4 * config.layers)
      throw dataError(
        `the model's decoder_with_past has ${pasts.length} past_key_values inputs; config.json num_decoder_layers ` +
          `${config.layers} needs ${4 * config.layers}`,
      );
    for (const p of pasts) {
      const [, heads, , dim] = p.dims;
      if ((typeof heads === 'number' && heads !== config.heads) || (typeof dim === 'number' && dim !== config.headDim))
        throw dataError(
          `the model's ${role} input ${p.name} has dims [${p.dims.join(', ')}], but config.json gives ` +
            `num_heads ${config.heads} of d_kv ${config.headDim}`,
        );
    }
  }
}

async function inputIds(assets: Text2TextAssets, input: WireInput): Promise<number[]> {
  if (input.kind !== 'text' || input.text.length !== 1 || input.batched)
    throw dataError(
      `text2text-generation takes one string per run, got ${input.kind === 'text' ? 'an array' : `${input.kind} input`}`,
    );
  const [encoded] = await assets.tokenizer.encode([input.text[0]!], { addSpecialTokens: true });
  const ids = encoded!.ids;
  const bad = ids.findIndex((id) => !Number.isInteger(id));
  if (bad >= 0)
    throw dataError(
      `the model's tokenizer.json has no id for token ${bad} of the input (no unknown token in its vocab?)`,
    );
  if (ids.length === 0) throw dataError('the input gives no tokens; pass some text');
  const max = assets.config.maxInputTokens;
  if (ids.length > max) throw dataError(`the input is ${ids.length} tokens; this model reads at most ${max}`);
  return ids as number[];
}

async function encode(graphs: GraphRunner, ids: Tensor, mask: Tensor): Promise<Tensor> {
  const io = graphs.io(ROLES.encoder);
  const available: Record<string, Tensor> = { input_ids: ids, attention_mask: mask };
  const feeds: Record<string, Tensor> = {};
  for (const input of io.inputs) {
    const tensor = available[input.name];
    if (!tensor)
      throw dataError(
        `the model's encoder takes an input ${JSON.stringify(input.name)} that text2text-generation cannot feed`,
      );
    feeds[input.name] = asIdsType(tensor, input.type);
  }
  const outputs = await graphs.run(ROLES.encoder, feeds);
  const hidden = outputs.last_hidden_state ?? outputs[io.outputs[0]?.name ?? ''];
  if (!hidden || hidden.dims.length !== 3)
    throw new WebqError(
      'OperationError',
      `the model's encoder gave no last_hidden_state [batch, tokens, hidden] (its outputs: ${Object.keys(outputs).join(', ')})`,
    );
  return hidden;
}
