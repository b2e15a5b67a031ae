/**
 * What onnxruntime does to rewritten weights at load (issue: "find out with a test what it really
 * does"): the session writes its optimised graph (optimizedModelFilePath) and we look at which weights
 * it holds. CPU EP, graph optimisation "all" — the wasm EP's optimizer; WebGPU is the host's to measure.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { forEachGraph, parseModel, serializeModel } from '../../../extension/onnx/model';
import { makePolicy } from '../../../extension/onnx/policy';
import { rewriteModel } from '../../../extension/onnx/rewrite';
import { DataType } from '../../../extension/onnx/tensor';
import { modelBytes, SILERO_VAD } from './models';
import { ort } from './ort';
import { tinyTransformer } from './graphs';

const dir = mkdtempSync(join(tmpdir(), 'webq-ort-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function optimised(model: Uint8Array, name: string) {
  const path = join(dir, `${name}.onnx`);
  const session = await ort.InferenceSession.create(model, {
    graphOptimizationLevel: 'all',
    optimizedModelFilePath: path,
  });
  await session.release();
  const m = parseModel(new Uint8Array(readFileSync(path)));
  const ops: Record<string, number> = {};
  const types: Record<number, number> = {};
  forEachGraph(m.graph!, (g) => {
    for (const n of g.node ?? []) ops[n.opType!] = (ops[n.opType!] ?? 0) + 1;
    for (const t of g.initializer ?? []) types[t.dataType!] = (types[t.dataType!] ?? 0) + 1;
  });
  return { ops, types };
}

test('MatMulNBits weights stay packed; DequantizeLinear on constant int8 weights is kept, not folded', async () => {
  const m = tinyTransformer();
  rewriteModel(m, makePolicy({ bits: 4, groupSize: 16, skipLayerNorm: false }));
  const { ops } = await optimised(serializeModel(m), 'tiny');
  expect(ops.MatMulNBits).toBe(6);
  expect(ops.DequantizeLinear).toBe(2);
});

test('Silero at 8 bits keeps its DequantizeLinear nodes inside the If branches', async () => {
  const m = parseModel(modelBytes(SILERO_VAD));
  rewriteModel(m, makePolicy({ bits: 8, groupSize: 0 }));
  const { ops } = await optimised(serializeModel(m), 'silero8');
  expect(ops.DequantizeLinear).toBe(16);
});

test('fp16 weights behind a Cast are folded back to fp32 initializers: the runtime holds fp32', async () => {
  const m = tinyTransformer();
  const { report } = rewriteModel(m, makePolicy({ bits: 16 }));
  expect(report.mayExpandAtRuntime.length).toBe(6);
  const { ops, types } = await optimised(serializeModel(m), 'tiny16');
  expect(ops.Cast ?? 0).toBe(0);
  expect(types[DataType.FLOAT16] ?? 0).toBe(0);
});

test('only graphOptimizationLevel "disabled" keeps the fp16 weights and their Cast (disabling ConstantFolding by config does not)', async () => {
  const held = async (label: string, options: ort.InferenceSession.SessionOptions) => {
    const m = tinyTransformer();
    rewriteModel(m, makePolicy({ bits: 16 }));
    const path = join(dir, `${label}.onnx`);
    const session = await ort.InferenceSession.create(serializeModel(m), {
      graphOptimizationLevel: 'all',
      ...options,
      optimizedModelFilePath: path,
    });
    const out = await session.run({ x: new ort.Tensor('float32', new Float32Array(4 * 32).fill(0.1), [1, 4, 32]) });
    expect(out.y!.dims).toEqual([1, 4, 48]);
    await session.release();
    let fp16 = 0;
    forEachGraph(parseModel(new Uint8Array(readFileSync(path))).graph!, (g) => {
      fp16 += (g.initializer ?? []).filter((t) => t.dataType === DataType.FLOAT16).length;
    });
    return fp16;
  };
  expect(
    await held('no-fold-config', { extra: { optimization: { disable_specified_optimizers: 'ConstantFolding' } } }),
  ).toBe(0);
  expect(await held('basic', { graphOptimizationLevel: 'basic' })).toBe(0);
  expect(await held('disabled', { graphOptimizationLevel: 'disabled' })).toBe(6);
});
