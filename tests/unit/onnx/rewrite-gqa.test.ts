/**
 * The load-time quantizer on GroupQueryAttention graphs (onnxruntime's model-builder exports of Llama/Qwen2): the
 * fused node and its rotary caches are left as they are, the projections around it are still quantized, and they
 * get the attention role (8 bits under the LLM profile) exactly as in the plain-attention graph of the same
 * weights. A packed-QKV projection (one MatMul into the query input, key and value absent) is found too.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, test } from 'vitest';
import { forEachGraph, intAttr, makeNode, MS_DOMAIN, parseModel, serializeModel } from '../../../extension/onnx/model';
import { makePolicy } from '../../../extension/onnx/policy';
import { rewriteModel } from '../../../extension/onnx/rewrite';
import { DataType } from '../../../extension/onnx/tensor';
import { decoderLmModel } from '../../../tools/hub-models/decoder-lm';
import { LLAMA_GQA_SPEC } from '../../../tools/hub-models/llama-gqa';
import { weight } from './graphs';
import { singleGraphModel, valueInfo } from './ort';
import { expectReportMatchesModel } from './report-check';

const SPEC = { ...LLAMA_GQA_SPEC, vocabSize: 512 };
const LLM_POLICY = makePolicy({ bits: 4, groupSize: 16, mixedPrecision: true, attentionPrecision: 8 });

function rewrite(bytes: Uint8Array) {
  const model = parseModel(bytes);
  const result = rewriteModel(model, LLM_POLICY);
  const written = serializeModel(model);
  expectReportMatchesModel(written, result.report);
  const roles = Object.fromEntries(result.report.weights.map((w) => [w.name, [w.role, w.precision, w.format]]));
  return { model, written, roles, notes: result.notes };
}

describe('rewriting GroupQueryAttention graphs', () => {
  test('projections quantized with the attention role, the fused node and its caches untouched', async () => {
    const source = decoderLmModel(SPEC, 5);
    const { model, written, roles } = rewrite(source);
    for (let l = 0; l < SPEC.layers; l++) {
      for (const p of ['q_proj', 'k_proj', 'v_proj', 'o_proj'])
        expect(roles[`model.layers.${l}.self_attn.${p}.weight`], p).toEqual(['attention', 8, 'MatMulNBits']);
      for (const p of ['gate_proj', 'up_proj', 'down_proj'])
        expect(roles[`model.layers.${l}.mlp.${p}.weight`], p).toEqual(['linear', 4, 'MatMulNBits']);
    }
    expect(roles.cos_cache?.slice(1)).toEqual([32, 'float']);
    expect(roles.sin_cache?.slice(1)).toEqual([32, 'float']);
    const before = parseModel(source).graph!.node!.filter((n) => n.opType === 'GroupQueryAttention');
    const after: typeof before = [];
    forEachGraph(model.graph!, (g) => after.push(...(g.node ?? []).filter((n) => n.opType === 'GroupQueryAttention')));
    expect(after).toHaveLength(SPEC.layers);
    expect(after.map((n) => [n.domain, n.input, n.output, n.attribute])).toEqual(
      before.map((n) => [n.domain, n.input, n.output, n.attribute]),
    );

    // It still runs, and says what the fp32 graph says within 4-bit error.
    const feeds = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from([3n, 99n, 7n, 250n]), [1, 4]),
      attention_mask: new ort.Tensor('int64', BigInt64Array.from([1n, 1n, 1n, 1n]), [1, 4]),
      position_ids: new ort.Tensor('int64', BigInt64Array.from([0n, 1n, 2n, 3n]), [1, 4]),
      ...Object.fromEntries(
        ['0.key', '0.value', '1.key', '1.value'].map((k) => [
          `past_key_values.${k}`,
          new ort.Tensor('float32', new Float32Array(0), [1, SPEC.kvHeads, 0, 16]),
        ]),
      ),
    };
    const logits = async (bytes: Uint8Array) => {
      const s = await ort.InferenceSession.create(bytes);
      const out = (await s.run(feeds)).logits!.data as Float32Array;
      await s.release();
      return out;
    };
    const [a, b] = [await logits(source), await logits(written)];
    let diff = 0,
      range = 0;
    for (let i = 0; i < a.length; i++) {
      diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
      range = Math.max(range, Math.abs(a[i]!));
    }
    expect(diff).toBeGreaterThan(0); // it was quantized
    expect(diff / range).toBeLessThan(0.2);
  });

  test('the same roles as the plain-attention graph of the same weights', () => {
    const gqa = rewrite(decoderLmModel(SPEC, 5)).roles;
    const plain = rewrite(decoderLmModel({ ...SPEC, attention: 'plain' }, 5)).roles;
    const projections = (roles: typeof gqa) =>
      Object.fromEntries(Object.entries(roles).filter(([name]) => name.endsWith('_proj.weight')));
    expect(projections(gqa)).toEqual(projections(plain));
    expect(Object.keys(projections(gqa))).toHaveLength(7 * SPEC.layers);
  });

  test('a packed QKV projection into the query input (key and value absent) is an attention projection', () => {
    const D = 32;
    const model = singleGraphModel({
      name: 'packed',
      input: [valueInfo('x', DataType.FLOAT, [1, 'S', D])],
      output: [valueInfo('y', DataType.FLOAT, [1, 'S', D]), valueInfo('z', DataType.FLOAT, [1, 'S', D])],
      initializer: [weight('qkv', [D, 2 * D], 1), weight('o', [D, D], 2), weight('f', [D, D], 3)],
      node: [
        makeNode('MatMul', ['x', 'qkv'], ['packed'], 'n1'),
        makeNode(
          'GroupQueryAttention',
          ['packed', '', '', 'pk', 'pv', 'sk', 'tl'],
          ['attn', 'k1', 'v1'],
          'gqa',
          [intAttr('num_heads', 2), intAttr('kv_num_heads', 1)],
          MS_DOMAIN,
        ),
        makeNode('MatMul', ['attn', 'o'], ['y'], 'n2'),
        makeNode('MatMul', ['x', 'f'], ['z'], 'n3'),
      ],
    });
    const { roles } = rewrite(serializeModel(model));
    expect(roles.qkv).toEqual(['attention', 8, 'MatMulNBits']);
    expect(roles.o).toEqual(['attention', 8, 'MatMulNBits']);
    expect(roles.f?.[0]).not.toBe('attention'); // beside the attention, not in it
  });
});
