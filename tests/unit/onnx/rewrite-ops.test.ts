/** The rewriter on small graphs: each op form, the structural roles, the policy, pre-quantized models. */
import { describe, expect, test } from 'vitest';
import { forEachGraph, intAttr, makeNode, onnx, parseModel, serializeModel } from '../../../extension/onnx/model';
import { makePolicy } from '../../../extension/onnx/policy';
import { reportWeights } from '../../../extension/onnx/report';
import { rewriteModel } from '../../../extension/onnx/rewrite';
import { DataType, INT4, rawTensor } from '../../../extension/onnx/tensor';
import { gaussian } from '../quant/random';
import { floatAttr, tinyTransformer, weight } from './graphs';
import { ort, runModel, singleGraphModel, valueInfo } from './ort';
import { expectReportMatchesModel } from './report-check';
import { staticConvModel } from '../../support/onnx-models';

const clone = (m: onnx.ModelProto) => parseModel(serializeModel(m));
const opsOf = (m: onnx.IModelProto) => {
  const ops: string[] = [];
  forEachGraph(m.graph!, (g) => {
    for (const n of g.node ?? []) ops.push(n.opType!);
  });
  return ops;
};

/** Runs the model before and after rewriting; the max abs difference relative to the output's range. */
async function relativeDifference(
  model: onnx.ModelProto,
  feeds: Record<string, ort.Tensor>,
  overrides: Parameters<typeof makePolicy>[0],
) {
  const before = await runModel(model, feeds);
  const rewritten = clone(model);
  const result = rewriteModel(rewritten, makePolicy(overrides));
  const written = serializeModel(rewritten);
  expectReportMatchesModel(written, result.report);
  const after = await runModel(written, feeds, { graphOptimizationLevel: 'all' });
  const name = Object.keys(before)[0]!;
  const a = before[name]!.data as Float32Array,
    b = after[name]!.data as Float32Array;
  let diff = 0,
    range = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    range = Math.max(range, Math.abs(a[i]!));
  }
  return { relative: diff / range, result, rewritten };
}

describe('Gemm', () => {
  const K = 40,
    N = 24,
    M = 3;
  const gemm = (attrs: onnx.AttributeProto[], bDims: number[], c?: onnx.TensorProto, aDims = [M, K], cInput = false) =>
    singleGraphModel({
      name: 'gemm',
      input: [valueInfo('A', DataType.FLOAT, aDims), ...(cInput ? [valueInfo('C', DataType.FLOAT, [N])] : [])],
      output: [valueInfo('Y', DataType.FLOAT, [M, N])],
      initializer: [weight('B', bDims, 1), ...(c ? [c] : [])],
      node: [makeNode('Gemm', ['A', 'B', ...(c || cInput ? ['C'] : [])], ['Y'], 'gemm', attrs)],
    });
  const feeds = (dims = [M, K]) => ({ A: new ort.Tensor('float32', gaussian(M * K, 5), dims) });

  test.each([
    ['plain with bias [N]', gemm([], [K, N], weight('C', [N], 2))],
    [
      'transB, alpha, beta, bias [1, N]',
      gemm([intAttr('transB', 1), floatAttr('alpha', 0.5), floatAttr('beta', 2)], [N, K], weight('C', [1, N], 3)),
    ],
    ['transA, no bias', gemm([intAttr('transA', 1)], [K, N], undefined, [K, M])],
  ])('%s → MatMulNBits at 8 bits matches fp32', async (label, model) => {
    const { relative, rewritten } = await relativeDifference(
      model,
      feeds(label.startsWith('transA') ? [K, M] : [M, K]),
      { bits: 8, groupSize: 16 },
    );
    expect(relative).toBeLessThan(0.02);
    expect(opsOf(rewritten)).toContain('MatMulNBits');
    expect(opsOf(rewritten)).not.toContain('Gemm');
  });

  test('a bias that is an input, with beta 0.5, becomes Mul + Add', async () => {
    const model = gemm([floatAttr('beta', 0.5)], [K, N], undefined, [M, K], true);
    const f = { ...feeds(), C: new ort.Tensor('float32', gaussian(N, 9), [N]) };
    const { relative, rewritten } = await relativeDifference(model, f, { bits: 4, groupSize: 16 });
    expect(relative).toBeLessThan(0.15);
    expect(opsOf(rewritten).sort()).toEqual(['Add', 'MatMulNBits', 'Mul']);
  });
});

describe('Conv', () => {
  test('8-bit through DequantizeLinear; under dequantizeLinear false kept as stored, with one note for them all', () => {
    const quantized = parseModel(staticConvModel());
    const asked = rewriteModel(quantized, makePolicy({ bits: 8 }));
    expect(opsOf(quantized).filter((op) => op === 'DequantizeLinear')).toHaveLength(2);
    expect(asked.report.weights.filter((w) => w.role === 'conv').map((w) => w.precision)).toEqual([8, 8]);

    const kept = parseModel(staticConvModel());
    const { notes, report } = rewriteModel(kept, makePolicy({ bits: 4, dequantizeLinear: false }));
    expect(opsOf(kept)).toEqual(['Conv', 'Relu', 'Conv', 'Relu', 'GlobalAveragePool']);
    expect(report.weights.filter((w) => w.role === 'conv').map((w) => w.precision)).toEqual([32, 32]);
    // No "stored at 8, not 4" per weight: one note says why they all stayed.
    expect(notes).toEqual([
      { name: '2 weights', op: 'Conv', message: expect.stringMatching(/^kept as stored: on WebNN only MatMul\/Gemm/) },
    ]);
  });
});

describe('embedding Gather', () => {
  const V = 50,
    D = 64;
  const model = (d = D) =>
    singleGraphModel({
      name: 'embed',
      input: [valueInfo('ids', DataType.INT64, [2, 3])],
      output: [valueInfo('E', DataType.FLOAT, [2, 3, d])],
      initializer: [weight('table', [V, d], 4)],
      node: [makeNode('Gather', ['table', 'ids'], ['E'], 'gather')],
    });
  const feeds = { ids: new ort.Tensor('int64', BigInt64Array.of(0n, 7n, 49n, 3n, 3n, 20n), [2, 3]) };

  test.each([
    [4, false, 4, 0.15],
    [8, false, 8, 0.01],
    [2, false, 4, 0.15],
    [2, true, 8, 0.01],
  ] as const)('bits %i mixed %s → GatherBlockQuantized at %i', async (bits, mixedPrecision, stored, tolerance) => {
    const { relative, result, rewritten } = await relativeDifference(model(), feeds, {
      bits,
      mixedPrecision,
      groupSize: 32,
    });
    expect(relative).toBeLessThan(tolerance);
    expect(opsOf(rewritten)).toEqual(['GatherBlockQuantized']);
    expect(result.report.weights).toMatchObject([
      { name: 'table', role: 'embedding', precision: stored, op: 'GatherBlockQuantized' },
    ]);
    expect(result.notes.length).toBe(bits === 2 && !mixedPrecision ? 1 : 0);
  });

  test('a width no block divides is kept and said so', () => {
    const m = model(40);
    const { notes, report } = rewriteModel(m, makePolicy({ bits: 4, groupSize: 32 }));
    expect(opsOf(m)).toEqual(['Gather']);
    expect(notes[0]).toMatchObject({ name: 'table', op: 'Gather' });
    expect(report.weights[0]).toMatchObject({ precision: 32, format: 'float' });
  });
});

describe('roles by structure and the mixed-precision policy', () => {
  const x = () => ({ x: new ort.Tensor('float32', gaussian(4 * 32, 21), [1, 4, 32]) });
  const precisions = (r: ReturnType<typeof rewriteModel>) =>
    Object.fromEntries(r.report.weights.map((w) => [w.name, [w.role, w.precision]]));

  test('attention q/k/v/o, norm, bias, linear and head are recognised without names', async () => {
    const { relative, result } = await relativeDifference(tinyTransformer(), x(), {
      bits: 4,
      groupSize: 16,
      mixedPrecision: true,
    });
    expect(precisions(result)).toEqual({
      w1: ['attention', 8],
      w2: ['attention', 8],
      w3: ['attention', 8],
      w4: ['attention', 8],
      w5: ['linear', 4],
      w6: ['head', 8],
      b4: ['bias', 32],
      g: ['norm', 32],
      h: ['norm', 32],
    });
    expect(relative).toBeLessThan(0.1);
  });

  test('attentionPrecision and bits are applied as given; without mixed precision all follow bits', async () => {
    const mixed = rewriteModel(
      tinyTransformer(),
      makePolicy({ bits: 2, groupSize: 16, mixedPrecision: true, attentionPrecision: 4 }),
    );
    expect(precisions(mixed)).toMatchObject({ w1: ['attention', 4], w5: ['linear', 2], w6: ['head', 8] });
    const plain = rewriteModel(tinyTransformer(), makePolicy({ bits: 2, groupSize: 16, attentionPrecision: 4 }));
    expect(precisions(plain)).toMatchObject({ w1: ['attention', 2], w5: ['linear', 2], w6: ['head', 2] });
  });

  test('skipLayerNorm: false stores norm weights at 8 bits through DequantizeLinear; biases stay fp32', async () => {
    const { relative, result, rewritten } = await relativeDifference(tinyTransformer(), x(), {
      bits: 8,
      groupSize: 16,
      skipLayerNorm: false,
    });
    expect(precisions(result)).toMatchObject({ g: ['norm', 8], h: ['norm', 8], b4: ['bias', 32] });
    expect(opsOf(rewritten).filter((o) => o === 'DequantizeLinear').length).toBe(2);
    expect(relative).toBeLessThan(0.02);
  });

  test('bits 32 changes nothing', () => {
    const m = tinyTransformer();
    const before = serializeModel(m);
    rewriteModel(m, makePolicy({ bits: 32 }));
    expect(serializeModel(m)).toEqual(before);
  });

  test('bad policy values are DataErrors naming the option', () => {
    expect(() => makePolicy({ bits: 3 as 4 })).toThrowError(
      expect.objectContaining({ name: 'DataError', message: expect.stringMatching(/^bits:/) }),
    );
    expect(() => makePolicy({ attentionPrecision: 2 as 4 })).toThrowError(
      expect.objectContaining({ name: 'DataError', message: expect.stringMatching(/^attentionPrecision:/) }),
    );
    expect(() => makePolicy({ groupSize: 100 })).toThrowError(
      expect.objectContaining({ name: 'DataError', message: expect.stringMatching(/^groupSize:/) }),
    );
  });
});

describe('pre-quantized models are detected, reported from their tensors, and left alone', () => {
  test('MatMulNBits written by another tool (4-bit) ', () => {
    const m = tinyTransformer();
    rewriteModel(m, makePolicy({ bits: 4, groupSize: 16 }));
    forEachGraph(m.graph!, (g) => {
      for (const t of g.initializer ?? []) t.docString = '';
    }); // not webq's any more
    const report = reportWeights(m);
    expect(report.preQuantized).toEqual({ detected: true, formats: ['MatMulNBits'], bits: [4] });
    const again = serializeModel(m);
    rewriteModel(m, makePolicy({ bits: 8, groupSize: 16 }));
    expect(opsOf(m).filter((o) => o === 'MatMulNBits').length).toBe(6);
    expect(serializeModel(m)).toEqual(again);
  });

  test.each([
    ['QDQ int8', DataType.INT8, 8, 1],
    ['QDQ int4', INT4, 4, 0.5],
  ])('%s DequantizeLinear weights report their bits', (_label, type, bits, bytesPerElement) => {
    const K = 16,
      N = 8;
    const m = singleGraphModel(
      {
        name: 'qdq',
        input: [valueInfo('A', DataType.FLOAT, [2, K])],
        output: [valueInfo('Y', DataType.FLOAT, [2, N])],
        initializer: [rawTensor('Wq', type, [K, N], new Uint8Array(K * N * bytesPerElement)), weight('Ws', [], 1)],
        node: [makeNode('DequantizeLinear', ['Wq', 'Ws'], ['W'], 'dq'), makeNode('MatMul', ['A', 'W'], ['Y'], 'mm')],
      },
      21,
    );
    const report = reportWeights(m);
    expect(report.preQuantized).toEqual({ detected: true, formats: ['DequantizeLinear'], bits: [bits] });
    expect(report.weights).toMatchObject([
      { name: 'Wq', op: 'MatMul', precision: bits, bytes: K * N * bytesPerElement + 4, originalBytes: K * N * 4 },
    ]);
  });

  test('DynamicQuantizeLinear + MatMulInteger (transformers.js q8) reports 8 bits', async () => {
    const K = 16,
      N = 8;
    const m = singleGraphModel({
      name: 'q8',
      input: [valueInfo('A', DataType.FLOAT, [2, K])],
      output: [valueInfo('Y', DataType.INT32, [2, N])],
      initializer: [
        rawTensor(
          'Wq',
          DataType.UINT8,
          [K, N],
          Uint8Array.from({ length: K * N }, (_, i) => i % 256),
        ),
        rawTensor('Wzp', DataType.UINT8, [], Uint8Array.of(128)),
      ],
      node: [
        makeNode('DynamicQuantizeLinear', ['A'], ['Aq', 'As', 'Azp'], 'dql'),
        makeNode('MatMulInteger', ['Aq', 'Wq', 'Azp', 'Wzp'], ['Y'], 'mmi'),
      ],
    });
    const report = reportWeights(m);
    expect(report.preQuantized).toEqual({ detected: true, formats: ['MatMulInteger'], bits: [8] });
    expect(report.weights[0]).toMatchObject({ name: 'Wq', precision: 8, bytes: K * N + 1 });
    await runModel(m, { A: new ort.Tensor('float32', gaussian(2 * K, 1), [2, K]) }); // a real model, not a made-up one
  });
});
