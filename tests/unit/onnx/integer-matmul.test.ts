/**
 * The wasm integer form (extension/onnx/integer-matmul.ts) on graphs webq quantized: what it writes, the bytes it
 * reports, and that onnxruntime-web's wasm (the engine that runs it) computes the same product as MatMulNBits within
 * the int8 activations' rounding. Not onnxruntime-node: on x86 CPUs without VNNI its u8·s8 kernel adds pairs of
 * products in saturating 16-bit lanes (VPMADDUBSW), so weights near ±127 (2-bit ones) come out clipped there; the
 * wasm kernel widens to 16 bits first.
 */
import * as ortWeb from 'onnxruntime-web';
import { beforeAll, describe, expect, test } from 'vitest';
import { prepareModel } from '../../../extension/host/prepare';
import { cosine } from '../../../extension/shared/compare';
import { toIntegerMatMuls } from '../../../extension/onnx/integer-matmul';
import { forEachGraph, makeNode, onnx, parseModel, serializeModel } from '../../../extension/onnx/model';
import { makePolicy } from '../../../extension/onnx/policy';
import { DataType, floatTensor, storedByteCount } from '../../../extension/onnx/tensor';
import { modelBytes, PPOCR_REC } from './models';
import { gaussian } from '../quant/random';
import { weight } from './graphs';
import { singleGraphModel, valueInfo } from './ort';

const M = 8;

beforeAll(() => {
  ortWeb.env.wasm.numThreads = 1;
});

async function runWasm(bytes: Uint8Array, feeds: Record<string, ortWeb.Tensor>) {
  const session = await ortWeb.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}
/** x[M, K] · W[K, N] + the same x through a second, small weight [K, 16]. */
function twoMatMuls(K: number, N: number): Uint8Array {
  return serializeModel(
    singleGraphModel(
      onnx.GraphProto.create({
        name: 'two',
        node: [makeNode('MatMul', ['x', 'w_big'], ['y'], 'big'), makeNode('MatMul', ['x', 'w_small'], ['z'], 'small')],
        initializer: [weight('w_big', [K, N], 1), weight('w_small', [K, 16], 2)],
        input: [valueInfo('x', DataType.FLOAT, [M, K])],
        output: [valueInfo('y', DataType.FLOAT, [M, N]), valueInfo('z', DataType.FLOAT, [M, 16])],
      }),
    ),
  );
}

const opsOf = (m: onnx.IModelProto) => {
  const ops: string[] = [];
  forEachGraph(m.graph!, (g) => ops.push(...(g.node ?? []).map((n) => n.opType!)));
  return ops;
};

describe('toIntegerMatMuls', () => {
  const K = 256;
  const N = 320;
  const feeds = { x: new ortWeb.Tensor('float32', gaussian(M * K, 7), [M, K]) };

  for (const [bits, scheme, groupSize] of [
    [4, 'symmetric', 32],
    [8, 'symmetric', 128],
    [2, 'asymmetric', 32],
    [2, 'symmetric', 0],
    [4, 'asymmetric', 0],
  ] as const) {
    test(`${bits}-bit ${scheme} group ${groupSize}: the weights at or above the minimum become DynamicQuantizeMatMul, the product stays MatMulNBits' within int8 rounding`, async () => {
      const quantized = prepareModel(twoMatMuls(K, N), makePolicy({ bits, scheme, groupSize })).bytes;
      const model = parseModel(quantized);
      const storedBytes = (names: string[]) =>
        names.reduce((n, name) => n + storedByteCount(model.graph!.initializer!.find((t) => t.name === name)!), 0);
      const bigInputs = model
        .graph!.node!.find((n) => n.output![0] === 'y')!
        .input!.slice(1)
        .filter(Boolean);
      const before = storedBytes(bigInputs);

      const form = toIntegerMatMuls(model, K * 16 + 1);
      expect(form).toEqual({ rewritten: 1, matMulNBits: 2, bytesBefore: before, bytesAfter: K * N + 4 * N });
      // The small weight keeps MatMulNBits; the big one's blocks are gone from the graph.
      expect(opsOf(model).sort()).toEqual(['DynamicQuantizeMatMul', 'MatMulNBits']);
      const names = new Set(model.graph!.initializer!.map((t) => t.name));
      for (const n of bigInputs) expect(names.has(n)).toBe(false);
      const int8 = model.graph!.initializer!.filter((t) => t.dataType === DataType.INT8);
      expect(int8.map((t) => t.dims!.map(Number))).toEqual([[K, N]]);

      const reference = await runWasm(quantized, feeds);
      const integer = await runWasm(serializeModel(model), feeds);
      expect(integer.z!.data).toEqual(reference.z!.data); // untouched
      const c = cosine(integer.y!.data as Float32Array, reference.y!.data as Float32Array);
      expect(c).toBeGreaterThan(0.999);
      expect(c).toBeLessThan(1); // it did change the arithmetic: int8 activations
    });
  }

  test('one symmetric block per column: the int8 values are the codes, the scales the blocks’ own', () => {
    const quantized = prepareModel(twoMatMuls(K, N), makePolicy({ bits: 8, scheme: 'symmetric', groupSize: 0 })).bytes;
    const model = parseModel(quantized);
    const node = model.graph!.node!.find((n) => n.output![0] === 'y')!;
    const codes = model.graph!.initializer!.find((t) => t.name === node.input![1])!.rawData!;
    const scales = new Float32Array(
      Uint8Array.from(model.graph!.initializer!.find((t) => t.name === node.input![2])!.rawData!).buffer,
    );
    toIntegerMatMuls(model, K * 16 + 1);
    const int8 = model.graph!.initializer!.find((t) => t.dataType === DataType.INT8)!;
    const values = new Int8Array(Uint8Array.from(int8.rawData!).buffer);
    const columnScales = model.graph!.initializer!.find((t) => t.name === `${int8.name}_scales`)!;
    expect(
      Array.from(
        columnScales.floatData!.length
          ? columnScales.floatData!
          : new Float32Array(Uint8Array.from(columnScales.rawData!).buffer),
      ),
    ).toEqual(Array.from(scales));
    // MatMulNBits stores B transposed, [N, K] (one block of K per column); the int8 weight is [K, N].
    const blockBytes = codes.length / N;
    for (const [k, n] of [
      [0, 0],
      [17, 5],
      [K - 1, N - 1],
    ] as const)
      expect(values[k * N + n]).toBe(codes[n * blockBytes + k]! - 128);
  });

  test('takes a bias input along, and leaves nodes with g_idx alone', async () => {
    const quantized = prepareModel(twoMatMuls(K, N), makePolicy({ bits: 4, scheme: 'symmetric', groupSize: 32 })).bytes;
    const biased = parseModel(quantized);
    const bias = gaussian(N, 3);
    biased.graph!.initializer!.push(floatTensor('bias', [N], bias));
    const big = biased.graph!.node!.find((n) => n.output![0] === 'y')!;
    big.input = [...big.input!, '', '', 'bias'].slice(0, 6);
    const reference = await runWasm(serializeModel(biased), feeds);
    expect(toIntegerMatMuls(biased, K * 16 + 1).rewritten).toBe(1);
    expect(biased.graph!.node!.find((n) => n.output![0] === 'y')!.input).toEqual([
      'x',
      expect.stringMatching(/_int8$/),
      expect.stringMatching(/_int8_scales$/),
      '',
      'bias',
    ]);
    const integer = await runWasm(serializeModel(biased), feeds);
    expect(cosine(integer.y!.data as Float32Array, reference.y!.data as Float32Array)).toBeGreaterThan(0.999);

    const permuted = parseModel(quantized);
    for (const n of permuted.graph!.node!) n.input = [...n.input!.slice(0, 3), '', 'g_idx'];
    expect(toIntegerMatMuls(permuted).rewritten).toBe(0);
    expect(opsOf(permuted)).toEqual(['MatMulNBits', 'MatMulNBits']);
  });

  test('PP-OCRv4 (opset 9, weights in Constant nodes): its large MatMuls convert, no replaced tensor is left', () => {
    const quantized = prepareModel(
      modelBytes(PPOCR_REC),
      makePolicy({ bits: 4, scheme: 'symmetric', groupSize: 32 }),
    ).bytes;
    const model = parseModel(quantized);
    const form = toIntegerMatMuls(model, 256 * 256);
    expect(form.rewritten).toBeGreaterThan(0);
    const names = new Set<string>();
    forEachGraph(model.graph!, (g) => {
      for (const n of g.node ?? []) for (const i of n.input ?? []) names.add(i);
    });
    let orphans = 0;
    forEachGraph(model.graph!, (g) => {
      orphans += (g.initializer ?? []).filter((t) => !names.has(t.name!)).length;
    });
    expect(orphans).toBe(0);
    expect(opsOf(model).filter((op) => op === 'DynamicQuantizeMatMul')).toHaveLength(form.rewritten);
  });
});
