/**
 * The two-phase rewrite (extension/onnx/rewrite.ts): `quantizationRequests` lists exactly the MatMul/Gemm weights
 * the rewrite quantizes, without changing the model, and `rewriteModel(…, { quantized })` with those weights
 * quantized elsewhere writes the same bytes as the one-phase rewrite. Here "elsewhere" is the TypeScript quantizer
 * on the requests' own `values()`: so each request's K, N, options and values are exactly what the rewrite reads.
 * (tests/kernels/gpu-quantize.test.ts does the same with the GPU kernels.)
 */
import { describe, expect, test } from 'vitest';
import { intAttr, makeNode, onnx, parseModel, serializeModel } from '../../../extension/onnx/model';
import { makePolicy } from '../../../extension/onnx/policy';
import { quantizationRequests, rewriteModel } from '../../../extension/onnx/rewrite';
import { DataType, readFloats } from '../../../extension/onnx/tensor';
import { quantize } from '../../../extension/quant/quantize';
import type { QuantizedWeight } from '../../../extension/quant/types';
import { floatAttr, tinyTransformer, weight } from './graphs';
import { modelBytes, PPOCR_REC, SILERO_VAD } from './models';
import { singleGraphModel, valueInfo } from './ort';

type Overrides = Parameters<typeof makePolicy>[0];

/** -1 when equal (a deep toEqual on megabytes of model is too slow), else the first differing offset. */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength)))
    return -1;
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** Gemm in every form the rewriter folds: transB + alpha, plain, a weight shared by two Gemms with different alpha. */
function gemms(): onnx.ModelProto {
  const K = 40,
    N = 24,
    M = 3;
  return singleGraphModel({
    name: 'gemms',
    input: [valueInfo('A', DataType.FLOAT, [M, K])],
    output: [
      valueInfo('Y', DataType.FLOAT, [M, N]),
      valueInfo('Z', DataType.FLOAT, [M, N]),
      valueInfo('W', DataType.FLOAT, [M, N]),
    ],
    initializer: [weight('Bt', [N, K], 1), weight('B', [K, N], 2), weight('C', [N], 3)],
    node: [
      makeNode('Gemm', ['A', 'Bt', 'C'], ['Y'], 'g1', [
        intAttr('transB', 1),
        floatAttr('alpha', 0.5),
        floatAttr('beta', 2),
      ]),
      makeNode('Gemm', ['A', 'B'], ['Z'], 'g2'),
      makeNode('Gemm', ['A', 'B'], ['W'], 'g3', [floatAttr('alpha', 3)]),
    ],
  });
}

function twoPhase(bytes: Uint8Array, overrides: Overrides) {
  const policy = makePolicy(overrides);
  const model = parseModel(bytes);
  const requests = quantizationRequests(model, policy);
  const afterListing = serializeModel(model);
  const quantized = new Map<string, QuantizedWeight>(
    requests.map((r) => [r.key, quantize(r.values(), r.K, r.N, r.options)]),
  );
  const result = rewriteModel(model, policy, { quantized });
  return { requests, afterListing, bytes: serializeModel(model), result };
}

function onePhase(bytes: Uint8Array, overrides: Overrides) {
  const model = parseModel(bytes);
  const result = rewriteModel(model, makePolicy(overrides));
  return { bytes: serializeModel(model), result };
}

const CASES: [string, () => Uint8Array, Overrides, number][] = [
  [
    'tiny transformer, 4-bit mixed precision',
    () => serializeModel(tinyTransformer()),
    { bits: 4, groupSize: 16, mixedPrecision: true },
    6,
  ],
  [
    'tiny transformer, 2-bit asymmetric (scale search)',
    () => serializeModel(tinyTransformer()),
    { bits: 2, scheme: 'asymmetric', groupSize: 16 },
    6,
  ],
  [
    'Gemm forms (transB, alpha, a weight shared with two alphas)',
    () => serializeModel(gemms()),
    { bits: 8, groupSize: 16 },
    3,
  ],
  ['PP-OCRv4 rec, 4-bit group 32', () => modelBytes(PPOCR_REC), { bits: 4, groupSize: 32 }, 9],
  ['PP-OCRv4 rec, 8-bit per channel', () => modelBytes(PPOCR_REC), { bits: 8, groupSize: 0 }, 9],
  ['Silero VAD, 4-bit per tensor', () => modelBytes(SILERO_VAD), { bits: 4, groupSize: -1 }, -1],
];

describe('two-phase rewrite = one-phase rewrite, byte for byte', () => {
  test.each(CASES)('%s', (_label, source, overrides, count) => {
    const bytes = source();
    const two = twoPhase(bytes, overrides);
    const one = onePhase(bytes, overrides);
    if (count >= 0) expect(two.requests.length).toBe(count);
    expect(firstDifference(two.afterListing, serializeModel(parseModel(bytes)))).toBe(-1); // listing changes nothing
    expect(firstDifference(two.bytes, one.bytes)).toBe(-1);
    expect(two.result.notes).toEqual(one.result.notes);
    expect(two.result.report).toEqual(one.result.report);
    for (const r of two.requests) expect(r.values().length).toBe(r.K * r.N);
  });

  test('nothing to list at 16 and 32 bits; keys are unique', () => {
    const bytes = serializeModel(tinyTransformer());
    expect(quantizationRequests(parseModel(bytes), makePolicy({ bits: 16 }))).toEqual([]);
    expect(quantizationRequests(parseModel(bytes), makePolicy({ bits: 32 }))).toEqual([]);
    const keys = quantizationRequests(parseModel(modelBytes(PPOCR_REC)), makePolicy({ bits: 4 })).map((r) => r.key);
    expect(new Set(keys).size).toBe(keys.length);
  });

  test('Gemm transB: values() is B[K, N], the transpose of the stored [N, K], times alpha', () => {
    const model = gemms();
    const [r] = quantizationRequests(model, makePolicy({ bits: 8, groupSize: 16 }));
    expect(r).toMatchObject({ name: 'Bt', op: 'Gemm', K: 40, N: 24 });
    const stored = readFloats(weight('Bt', [24, 40], 1));
    const v = r!.values();
    expect(v[3 * 24 + 5]).toBe(Math.fround(stored[5 * 40 + 3]! * 0.5));
  });

  test('a precomputed weight that does not fit its request is refused', () => {
    const model = tinyTransformer();
    const policy = makePolicy({ bits: 4, groupSize: 16 });
    const [r] = quantizationRequests(model, policy);
    const wrong = quantize(r!.values(), r!.K, r!.N, { ...r!.options, bits: 8 });
    expect(() => rewriteModel(model, policy, { quantized: new Map([[r!.key, wrong]]) })).toThrow(
      /not what the policy asks for/,
    );
  });
});
