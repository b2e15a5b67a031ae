/** config.json / generation_config.json of decoder-only models: fields read, hostile values refused by name. */
import { describe, expect, test } from 'vitest';
import {
  graphContextWindow,
  MAX_KV_CACHE_BYTES,
  parseDecoderConfig,
} from '../../../extension/tasks/generation/model-config';
import { llamaConfigJson, llamaGenerationConfig } from '../../../tools/hub-models/llama';
import { qwen2ConfigJson, qwen2GenerationConfig } from '../../../tools/hub-models/qwen2';

const dataError = (field: string) =>
  expect.objectContaining({ name: 'DataError', message: expect.stringContaining(field) });

describe('decoder config', () => {
  test('Llama and Qwen2 fields, eos as a number or an array, generation_config first', () => {
    const llama = parseDecoderConfig(llamaConfigJson(), llamaGenerationConfig());
    expect(llama).toMatchObject({
      modelType: 'llama',
      layers: 2,
      heads: 4,
      kvHeads: 2,
      headDim: 8,
      vocabSize: 128256,
      maxPositions: 256,
      contextWindow: 256,
      eosIds: [128001, 128008, 128009],
      bosId: 128000,
    });
    const qwen = parseDecoderConfig(qwen2ConfigJson());
    expect(qwen).toMatchObject({ modelType: 'qwen2', headDim: 8, eosIds: [151645], vocabSize: 151936 });
    expect(parseDecoderConfig(qwen2ConfigJson(), qwen2GenerationConfig()).eosIds).toEqual([151645, 151643]);
    // Without num_key_value_heads: plain multi-head attention.
    const { num_key_value_heads: _, head_dim: __, ...mha } = llamaConfigJson();
    expect(parseDecoderConfig(mha)).toMatchObject({ kvHeads: 4, headDim: 8 });
  });

  test('the context window is capped by the KV cache it would take', () => {
    const c = parseDecoderConfig({
      ...llamaConfigJson(),
      num_hidden_layers: 16,
      num_key_value_heads: 8,
      num_attention_heads: 32,
      head_dim: 64,
      max_position_embeddings: 131072,
    });
    expect(c.maxPositions).toBe(131072);
    expect(c.contextWindow).toBe(MAX_KV_CACHE_BYTES / (2 * 16 * 8 * 64 * 4));
  });

  test('hostile or broken values are DataErrors naming the field', () => {
    const base = llamaConfigJson();
    expect(() => parseDecoderConfig({ ...base, num_hidden_layers: 1e9 })).toThrow(dataError('num_hidden_layers'));
    expect(() => parseDecoderConfig({ ...base, num_attention_heads: 0 })).toThrow(dataError('num_attention_heads'));
    expect(() => parseDecoderConfig({ ...base, num_key_value_heads: 3 })).toThrow(dataError('num_key_value_heads'));
    expect(() => parseDecoderConfig({ ...base, head_dim: 1.5 })).toThrow(dataError('head_dim'));
    expect(() => parseDecoderConfig({ ...base, head_dim: undefined, hidden_size: 30 })).toThrow(
      dataError('hidden_size'),
    );
    expect(() => parseDecoderConfig({ ...base, vocab_size: 2 ** 40 })).toThrow(dataError('vocab_size'));
    expect(() => parseDecoderConfig({ ...base, max_position_embeddings: '1e30' })).toThrow(
      dataError('max_position_embeddings'),
    );
    expect(() => parseDecoderConfig({ ...base, eos_token_id: undefined })).toThrow(dataError('eos_token_id'));
    expect(() => parseDecoderConfig({ ...base, eos_token_id: [1, 128256] })).toThrow(dataError('eos_token_id'));
    expect(() => parseDecoderConfig(base, { eos_token_id: -1 })).toThrow(dataError('eos_token_id'));
    expect(() => parseDecoderConfig(base, { max_new_tokens: 0 })).toThrow(dataError('max_new_tokens'));
    expect(() =>
      parseDecoderConfig({
        ...base,
        num_hidden_layers: 512,
        num_key_value_heads: 1024,
        num_attention_heads: 1024,
        head_dim: 1024,
      }),
    ).toThrow(dataError('KV cache'));
  });

  test('a GroupQueryAttention graph: head counts checked against config.json, rotary caches cap the window', () => {
    const c = parseDecoderConfig({ ...llamaConfigJson(), num_attention_heads: 2, num_key_value_heads: 1 });
    expect(c.contextWindow).toBe(256);
    const gqa = { nodes: 2, numHeads: [2, 2], kvNumHeads: [1, 1] };
    expect(graphContextWindow(c, undefined)).toBe(256); // plain attention: the config's window
    expect(graphContextWindow(c, gqa)).toBe(256); // no rotary inside the node: nothing more to bound it
    expect(graphContextWindow(c, { ...gqa, rotaryPositions: 4096 })).toBe(256);
    expect(graphContextWindow(c, { ...gqa, rotaryPositions: 64 })).toBe(64);
    expect(() => graphContextWindow(c, { ...gqa, kvNumHeads: [1, 2] })).toThrow(dataError('num_key_value_heads'));
    expect(() => graphContextWindow(c, { ...gqa, numHeads: [4, 4] })).toThrow(dataError('num_attention_heads'));
    expect(() => graphContextWindow(c, { ...gqa, nodes: 3 })).toThrow(dataError('num_hidden_layers'));
    expect(() => graphContextWindow(c, { ...gqa, rotaryPositions: 1 })).toThrow(dataError('rotary'));
  });
});
