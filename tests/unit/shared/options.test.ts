import { describe, expect, it } from 'vitest';
import { normalizeOptions } from '../../../extension/shared/options';

const name = (f: () => unknown) => {
  try {
    f();
    return 'ok';
  } catch (e) {
    return `${(e as Error).name}: ${(e as Error).message}`;
  }
};

describe('option normalisation', () => {
  it('accepts camelCase names and the seed framework snake_case aliases, returning camelCase', () => {
    expect(
      normalizeOptions(
        {
          use_quantization: true,
          bits: 4,
          scheme: 'asymmetric',
          group_size: 128,
          mixed_precision: true,
          attention_precision: 8,
          embedding_precision: 16,
          skip_layernorm: false,
          execution_provider: 'webgpu',
          device_preference: 'gpu',
          workgroup_size: [256, 1, 1],
          shader_precompilation: true,
        },
        'load',
      ),
    ).toEqual({
      useQuantization: true,
      bits: 4,
      scheme: 'asymmetric',
      groupSize: 128,
      mixedPrecision: true,
      attentionPrecision: 8,
      embeddingPrecision: 16,
      skipLayerNorm: false,
      backend: 'webgpu',
      devicePreference: 'gpu',
      workgroupSize: [256, 1, 1],
      shaderPrecompilation: true,
    });
  });

  it('drops signal and onProgress (the page consumes them) and undefined values', () => {
    expect(normalizeOptions({ signal: 1, onProgress: 2, bits: undefined }, 'run')).toEqual({});
    expect(normalizeOptions(undefined, 'run')).toEqual({});
  });

  it.each([
    [{ bits: 3 }, /option bits must be one of 2, 4, 8, 16, 32, got 3/],
    [{ bits: '4' }, /option bits/],
    [{ scheme: 'symetric' }, /option scheme/],
    [{ groupSize: 100 }, /groupSize must be a power of two/],
    [{ group_size: 8 }, /group_size must be a power of two/],
    [{ groupSize: -2 }, /groupSize/],
    [{ attentionPrecision: 2 }, /attentionPrecision/],
    [{ backend: 'cuda' }, /backend/],
    [{ workgroupSize: [64, 64, 1] }, /exceeds 1024/],
    [{ workgroupSize: [64, 1] }, /workgroupSize must be \[x, y, z\]/],
    [{ topK: 0 }, /topK/],
    [{ language: 'english' }, /language/],
    [{ turbo: true }, /unknown option "turbo"/],
    [{ mixedPrecision: true, mixed_precision: false }, /given twice/],
    [{ useQuantization: false, bits: 4 }, /contradict/],
    [JSON.parse('{"__proto__": {"x": 1}}'), /unknown option "__proto__"/],
    [Object.create({ bits: 4 }), /plain object/],
    [[1, 2], /must be an object/],
    ['fast', /must be an object/],
  ])('rejects %j with a DataError naming the field', (options, message) => {
    const result = name(() => normalizeOptions(options, 'run'));
    expect(result).toMatch(/^DataError: /);
    expect(result).toMatch(message);
  });

  it('refuses run options on load', () => {
    expect(name(() => normalizeOptions({ topK: 3 }, 'load'))).toMatch(/DataError: option topK is a run option/);
    expect(normalizeOptions({ topK: 3, normalize: true, max_new_tokens: 20, language: 'en' }, 'run')).toEqual({
      topK: 3,
      normalize: true,
      maxNewTokens: 20,
      language: 'en',
    });
  });

  it('bounds the size of an options object', () => {
    const many = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, i]));
    expect(name(() => normalizeOptions(many, 'run'))).toMatch(/DataError: options has 1000 keys/);
  });
});
