/**
 * What the decode loop needs from a decoder-only model's config.json and generation_config.json (Hugging Face
 * layout): cache shapes (layers, kv heads, head size), the vocabulary width, the context window, the end-of-sequence
 * ids. The files may come from a page's model (untrusted), so every number is bounds-checked with a DataError
 * naming the field, and the context window is capped by the KV cache it would take: a config cannot make the
 * engine allocate more than MAX_KV_CACHE_BYTES.
 *
 * `graphContextWindow` holds what the graph itself adds (graph-shape detection lives here, not in the loop): a
 * com.microsoft GroupQueryAttention graph must agree with the config's head counts, and its rotary cos/sin caches
 * bound the context (onnxruntime refuses positions past their rows).
 */
import { dataError } from '../../shared/errors';

export interface DecoderConfig {
  modelType: string;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocabSize: number;
  /** max_position_embeddings as the file says. */
  maxPositions: number;
  /** Prompt plus generated tokens, at most: maxPositions, capped by MAX_KV_CACHE_BYTES at fp32. */
  contextWindow: number;
  eosIds: number[];
  bosId: number | undefined;
  /** generation_config.json max_new_tokens, when it has one. */
  defaultMaxNewTokens: number | undefined;
}

export const LIMITS = Object.freeze({
  layers: 512,
  heads: 1024,
  headDim: 1024,
  vocabSize: 1 << 21,
  maxPositions: 1 << 24,
  eosIds: 64,
});
/** Largest KV cache (keys and values of every layer, fp32) a model's context window may need: 1 GiB. */
export const MAX_KV_CACHE_BYTES = 2 ** 30;

type Json = Readonly<Record<string, unknown>>;

const show = (v: unknown) => JSON.stringify(v)?.slice(0, 40) ?? String(v);

function int(file: string, config: Json, field: string, min: number, max: number, fallback?: number): number {
  const v = config[field] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw dataError(`the model's ${file} ${field} must be an integer from ${min} to ${max}, got ${show(v)}`);
  }
  return v;
}

const isId = (v: unknown, vocab: number): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < vocab;

/** Token ids of a field that may be one id or an array of ids; undefined when the field is absent or null. */
function ids(file: string, config: Json, field: string, vocab: number): number[] | undefined {
  const v = config[field];
  if (v === undefined || v === null) return undefined;
  const list = Array.isArray(v) ? v : [v];
  if (list.length === 0 || list.length > LIMITS.eosIds || !list.every((id) => isId(id, vocab))) {
    throw dataError(
      `the model's ${file} ${field} must be a token id or 1 to ${LIMITS.eosIds} token ids ` +
        `below vocab_size ${vocab}, got ${show(v)}`,
    );
  }
  return [...new Set(list as number[])];
}

/** Reads config.json (required) and generation_config.json (optional, it wins where both say something). */
export function parseDecoderConfig(config: Json, generation: Json = {}): DecoderConfig {
  const file = 'config.json';
  // Multimodal wrappers keep the language model's fields under text_config.
  const c: Json =
    typeof config.text_config === 'object' && config.text_config !== null && !Array.isArray(config.text_config)
      ? { ...config, ...(config.text_config as Json) }
      : config;
  const layers = int(file, c, 'num_hidden_layers', 1, LIMITS.layers);
  const heads = int(file, c, 'num_attention_heads', 1, LIMITS.heads);
  const kvHeads = int(file, c, 'num_key_value_heads', 1, heads, heads);
  if (heads % kvHeads !== 0)
    throw dataError(
      `the model's ${file} num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kvHeads}`,
    );
  let headDim: number;
  if (c.head_dim !== undefined && c.head_dim !== null) {
    headDim = int(file, c, 'head_dim', 1, LIMITS.headDim);
  } else {
    const hidden = int(file, c, 'hidden_size', 1, LIMITS.heads * LIMITS.headDim);
    if (hidden % heads !== 0)
      throw dataError(`the model's ${file} hidden_size ${hidden} is not a multiple of num_attention_heads ${heads}`);
    headDim = int(file, { head_dim: hidden / heads }, 'head_dim', 1, LIMITS.headDim);
  }
  const vocabSize = int(file, c, 'vocab_size', 1, LIMITS.vocabSize);
  const maxPositions = int(file, c, 'max_position_embeddings', 1, LIMITS.maxPositions);
  const bytesPerPosition = 2 * layers * kvHeads * headDim * 4;
  const contextWindow = Math.min(maxPositions, Math.floor(MAX_KV_CACHE_BYTES / bytesPerPosition));
  if (contextWindow < 1)
    throw dataError(
      `the model's ${file} sizes need ${bytesPerPosition} bytes of KV cache per token; ` +
        `webq allows ${MAX_KV_CACHE_BYTES} in all`,
    );
  const eosIds =
    ids('generation_config.json', generation, 'eos_token_id', vocabSize) ?? ids(file, c, 'eos_token_id', vocabSize);
  if (!eosIds) throw dataError(`the model's generation_config.json and ${file} have no eos_token_id`);
  const bos =
    ids('generation_config.json', generation, 'bos_token_id', vocabSize) ?? ids(file, c, 'bos_token_id', vocabSize);
  const maxNew = generation.max_new_tokens;
  return {
    modelType: typeof c.model_type === 'string' ? c.model_type.slice(0, 64) : 'unknown',
    layers,
    heads,
    kvHeads,
    headDim,
    vocabSize,
    maxPositions,
    contextWindow,
    eosIds,
    bosId: bos?.[0],
    defaultMaxNewTokens:
      maxNew === undefined || maxNew === null
        ? undefined
        : int('generation_config.json', generation, 'max_new_tokens', 1, contextWindow),
  };
}

/** What the decode loop learns of a graph's fused attention (host/graph.ts reads it from the ONNX nodes). */
export interface GraphAttention {
  nodes: number;
  numHeads: number[];
  kvNumHeads: number[];
  /** Rows of the rotary cos/sin caches: positions past them cannot run. */
  rotaryPositions?: number;
}

/**
 * The context window the graph allows: the config's, capped by a GroupQueryAttention graph's rotary caches. A GQA
 * graph whose head counts are not config.json's, or with fewer GQA nodes than layers, is a DataError (its caches
 * would not have the dims the config gives them).
 */
export function graphContextWindow(config: DecoderConfig, attention: GraphAttention | undefined): number {
  if (!attention) return config.contextWindow;
  const file = 'config.json';
  if (attention.nodes !== config.layers)
    throw dataError(
      `the model's graph has ${attention.nodes} GroupQueryAttention nodes; ${file} num_hidden_layers is ${config.layers}`,
    );
  const heads = attention.numHeads.find((n) => n !== config.heads);
  if (heads !== undefined)
    throw dataError(
      `the model's graph has GroupQueryAttention num_heads ${heads}; ${file} num_attention_heads is ${config.heads}`,
    );
  const kvHeads = attention.kvNumHeads.find((n) => n !== config.kvHeads);
  if (kvHeads !== undefined)
    throw dataError(
      `the model's graph has GroupQueryAttention kv_num_heads ${kvHeads}; ${file} num_key_value_heads is ${config.kvHeads}`,
    );
  const rows = attention.rotaryPositions;
  if (rows !== undefined && rows < 2)
    throw dataError(`the model's GroupQueryAttention rotary caches have ${rows} positions; text generation needs 2`);
  return Math.min(config.contextWindow, rows ?? Infinity);
}
