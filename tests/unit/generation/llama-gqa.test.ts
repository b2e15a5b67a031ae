/**
 * The decode loop on the generated GroupQueryAttention Llama (llama-gqa.ts), and the GQA graph itself: with the
 * same seed its weights are the plain-attention graph's, so both must give the same logits for a prompt, a
 * cached step and a multi-token step after a cache (onnxruntime-node's GroupQueryAttention against MatMul/Softmax).
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, test } from 'vitest';
import { decoderLmModel } from '../../support/hub-models/decoder-lm';
import { LLAMA_GQA_SPEC, llamaGqaHubFiles } from '../../support/hub-models/llama-gqa';
import { decodeLoopSuite } from './lm-suite';

describe('text generation on a generated GroupQueryAttention Llama', () => {
  decodeLoopSuite('llama-gqa', () => llamaGqaHubFiles());

  test('the GroupQueryAttention graph computes what the plain-attention graph of the same weights does', async () => {
    const spec = { ...LLAMA_GQA_SPEC, vocabSize: 512 };
    const gqa = await ort.InferenceSession.create(decoderLmModel(spec, 99));
    const plain = await ort.InferenceSession.create(decoderLmModel({ ...spec, attention: 'plain' }, 99));
    expect(gqa.inputNames).toEqual(plain.inputNames);
    expect(gqa.outputNames).toEqual(plain.outputNames);
    const ids = (v: number[]) => new ort.Tensor('int64', BigInt64Array.from(v, BigInt), [1, v.length]);
    const step = async (s: ort.InferenceSession, tokens: number[], past: ort.InferenceSession.ReturnType | null) => {
      const start = past ? past['present.0.key']!.dims[2]! : 0;
      const feeds: Record<string, ort.Tensor> = {
        input_ids: ids(tokens),
        attention_mask: ids(Array<number>(start + tokens.length).fill(1)),
        position_ids: ids(tokens.map((_, i) => start + i)),
      };
      for (let l = 0; l < spec.layers; l++)
        for (const part of ['key', 'value'])
          feeds[`past_key_values.${l}.${part}`] =
            past?.[`present.${l}.${part}`] ?? new ort.Tensor('float32', new Float32Array(0), [1, spec.kvHeads, 0, 16]);
      return s.run(feeds);
    };
    let a: ort.InferenceSession.ReturnType | null = null;
    let b: ort.InferenceSession.ReturnType | null = null;
    // Prefill, one cached step, then several tokens after the cache (a session's next prompt).
    for (const tokens of [[5, 17, 300, 42, 7], [9], [10, 11, 12]]) {
      a = await step(gqa, tokens, a);
      b = await step(plain, tokens, b);
      expect(a.logits!.dims).toEqual([1, tokens.length, spec.vocabSize]);
      expect(a['present.1.value']!.dims).toEqual(b['present.1.value']!.dims);
      const x = a.logits!.data as Float32Array;
      const y = b.logits!.data as Float32Array;
      let diff = 0;
      for (let i = 0; i < x.length; i++) diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
      expect(diff).toBeLessThan(1e-4);
    }
    await gqa.release();
    await plain.release();
  });
});
