/**
 * The decode loop on the generated GroupQueryAttention Llama (llama-gqa.ts), and the GQA graph itself: with the
 * same seed its weights are the plain-attention graph's, so both must give the same logits for a prompt, a
 * cached step and a multi-token step after a cache (onnxruntime-node's GroupQueryAttention against MatMul/Softmax).
 */
import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { describe, expect, test } from 'vitest';
import { graphIo } from '../../../extension/host/graph';
import { generateText, promptIds } from '../../../extension/tasks/generation/index';
import { decoderLmModel } from '../../../tools/hub-models/decoder-lm';
import { LLAMA_GQA_SPEC, llamaGqaHubFiles } from '../../../tools/hub-models/llama-gqa';
import { load } from './lm-harness';
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

  test("the graph's GroupQueryAttention nodes are read from its bytes (heads, rotary cache rows)", () => {
    const io = graphIo(onnx.ModelProto.decode(decoderLmModel({ ...LLAMA_GQA_SPEC, vocabSize: 64 }, 1)));
    expect(io.groupQueryAttention).toEqual({ nodes: 2, numHeads: [2, 2], kvNumHeads: [1, 1], rotaryPositions: 256 });
    const plain = graphIo(
      onnx.ModelProto.decode(decoderLmModel({ ...LLAMA_GQA_SPEC, vocabSize: 64, attention: 'plain' }, 1)),
    );
    expect(plain.groupQueryAttention).toBeUndefined();
  });

  test('rotary caches shorter than max_position_embeddings bound the context with a QuotaExceededError', async () => {
    // Else onnxruntime fails mid-generation: "cos_cache dimension 0 shall not be less than total_sequence_length".
    const rows = 40;
    const m = await load(llamaGqaHubFiles({ maxPositions: 256, spec: { rotaryPositions: rows } }));
    try {
      expect(m.assets.config.contextWindow).toBe(256);
      const input = { kind: 'text' as const, text: ['Once upon a time'], batched: false };
      const prompt = await promptIds(m.assets, input);
      const r = await generateText(m.assets, input, { maxNewTokens: 200 }, m.runner);
      expect(r.finishReason).toBe('length');
      expect(prompt.length + r.tokens.length).toBe(rows);
      const long = {
        kind: 'text' as const,
        text: ['one two three four five six seven eight '.repeat(6)],
        batched: false,
      };
      expect((await promptIds(m.assets, long)).length).toBeGreaterThanOrEqual(rows);
      await expect(generateText(m.assets, long, {}, m.runner)).rejects.toMatchObject({
        name: 'QuotaExceededError',
        message: expect.stringContaining(`${rows}-token context window`),
      });
    } finally {
      await m.runner.release();
    }
  });
});
