/**
 * The decode loop on the generated Qwen3 (Qwen tokenizer and chat template, per-head q/k RMSNorm, no q/k/v biases,
 * head_dim 16 apart from hidden_size / heads = 8), and the q/k norms of its graph: normalizing each head's vector
 * makes the logits blind to one head's q or k projection being scaled, which a norm over the whole q or k row (or
 * none) would not be.
 */
import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { describe, expect, test } from 'vitest';
import { decoderLmModel } from '../../../tools/hub-models/decoder-lm';
import { QWEN3_SPEC, qwen3HubFiles } from '../../../tools/hub-models/qwen3';
import { decodeLoopSuite } from './lm-suite';

describe('text generation on a generated Qwen3', () => decodeLoopSuite('qwen3', () => qwen3HubFiles()));

test("Qwen3's q/k norms act per head: scaling one head's q and k projections leaves the logits as they were", async () => {
  const spec = { ...QWEN3_SPEC, vocabSize: 512 };
  const headDim = spec.headDim!;
  const logits = async (model: onnx.ModelProto) => {
    const s = await ort.InferenceSession.create(onnx.ModelProto.encode(model).finish());
    const tokens = [5, 17, 300, 42, 7];
    const ids = (v: number[]) => new ort.Tensor('int64', BigInt64Array.from(v, BigInt), [1, v.length]);
    const feeds: Record<string, ort.Tensor> = {
      input_ids: ids(tokens),
      attention_mask: ids(tokens.map(() => 1)),
      position_ids: ids(tokens.map((_, i) => i)),
    };
    for (let l = 0; l < spec.layers; l++)
      for (const part of ['key', 'value'])
        feeds[`past_key_values.${l}.${part}`] = new ort.Tensor('float32', new Float32Array(0), [
          1,
          spec.kvHeads,
          0,
          headDim,
        ]);
    const out = (await s.run(feeds)).logits!.data as Float32Array;
    await s.release();
    return out;
  };
  /** The graph with columns [from, from + headDim) of `name` ([in, out]) times `factor`. */
  const scaled = (scale: [name: string, from: number, factor: number][]) => {
    const model = onnx.ModelProto.decode(decoderLmModel(spec, 5));
    for (const [name, from, factor] of scale) {
      const t = model.graph!.initializer!.find((i) => i.name === name)!;
      const [rows, cols] = t.dims!.map(Number) as [number, number];
      const w = new Float32Array(Uint8Array.from(t.rawData!).buffer); // a copy: decoded bytes may view a Buffer
      for (let r = 0; r < rows; r++) for (let c = from; c < from + headDim; c++) w[r * cols + c]! *= factor;
      t.rawData = new Uint8Array(w.buffer);
    }
    return model;
  };
  const base = await logits(scaled([]));
  const maxDiff = (x: Float32Array) => Math.max(...x.map((v, i) => Math.abs(v - base[i]!)));
  // Query head 1 and key-value head 0 of layer 0, each 5× (its own norm undoes it).
  const perHead = await logits(
    scaled([
      ['model.layers.0.self_attn.q_proj.weight', headDim, 5],
      ['model.layers.0.self_attn.k_proj.weight', 0, 5],
    ]),
  );
  expect(maxDiff(perHead)).toBeLessThan(1e-4);
  // The same scaling of the value projection is not normalized away: the test can see a change.
  const value = await logits(scaled([['model.layers.0.self_attn.v_proj.weight', 0, 5]]));
  expect(maxDiff(value)).toBeGreaterThan(1e-2);
});
