/**
 * Quantizing a graph whose weights stay in their external data file, read in pieces as the rewrite reaches them
 * (extension/onnx/external-data.ts `ExternalDataLoader`, rewrite.ts `rewriteModelStepwise`, prepare.ts): the bytes
 * are those of quantizing the single-file model at every precision path (MatMulNBits, GatherBlockQuantized, 8-bit
 * DequantizeLinear norms, fp16 + Cast), each weight is read once, and what is held at a time is one weight besides
 * those the output keeps as they are, not the file.
 */
import { describe, expect, it } from 'vitest';
import { prepareModel, prepareModelWith } from '../../../extension/host/prepare';
import { makePolicy, type PrecisionPolicy } from '../../../extension/onnx';
import { checkExternalData, ExternalDataLoader, type RangeReader } from '../../../extension/onnx/external-data';
import { forEachGraph, parseModel, serializeModel } from '../../../extension/onnx/model';
import { rewriteModel, rewriteModelStepwise } from '../../../extension/onnx/rewrite';
import { toExternalData } from '../../../tools/external-data';
import { llamaHubFiles } from '../../../tools/hub-models/llama';

const BASE = makePolicy({ groupSize: 32, mixedPrecision: true });
const POLICIES: [string, PrecisionPolicy][] = [
  ['4-bit profile (MatMulNBits, GatherBlockQuantized)', BASE],
  [
    '8-bit asymmetric, norms quantized (DequantizeLinear)',
    { ...BASE, bits: 8, scheme: 'asymmetric', skipLayerNorm: false },
  ],
  ['16-bit (fp16 + Cast)', { ...BASE, bits: 16, mixedPrecision: false }],
];
// Layers outweigh the embedding table here (the hub shape's 128k-token vocabulary would be nearly all the file).
const inline = llamaHubFiles({ spec: { vocabSize: 256, layers: 4, hidden: 64, intermediate: 256 } })[
  'onnx/model.onnx'
] as Uint8Array;
const layout = toExternalData(inline);
const NO_GPU = { gpu: async () => ({ unavailable: 'not in this test' }) };

/** The data file as a RangeReader that counts what it hands out. */
function recording(data = layout.data): RangeReader & { reads: [number, number][] } {
  const reads: [number, number][] = [];
  return {
    size: data.byteLength,
    reads,
    read: async (offset, length) => {
      reads.push([offset, length]);
      return data.slice(offset, offset + length);
    },
  };
}

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

describe('quantizing from external data read in pieces', () => {
  for (const [name, policy] of POLICIES) {
    it(`${name}: the same bytes as the single file, each weight read once`, async () => {
      const reader = recording();
      const pieces = await prepareModelWith(layout.graph, policy, NO_GPU, [{ path: 'model.onnx_data', reader }]);
      const whole = prepareModel(inline, policy);
      expect(same(pieces.bytes, whole.bytes)).toBe(true);
      expect(pieces.notes.filter((n) => !n.startsWith('quantizer:'))).toEqual(whole.notes);
      const tensors = checkExternalData(
        parseModel(layout.graph),
        new Map([['model.onnx_data', layout.data.byteLength]]),
      );
      expect(reader.reads.length).toBe(tensors.length);
      expect(new Set(reader.reads.map(([o]) => o)).size).toBe(tensors.length);
    });
  }

  it('holds one weight at a time besides the weights the output keeps, far less than the file', async () => {
    const model = parseModel(layout.graph);
    const refs = checkExternalData(model, new Map([['model.onnx_data', layout.data.byteLength]]));
    const sizes = new Map(refs.map((r) => [r.tensor.name ?? '', r.length]));
    const loader = new ExternalDataLoader(model, new Map([['model.onnx_data', recording()]]));
    await rewriteModelStepwise(model, makePolicy(BASE), loader);
    const kept: number[] = [];
    forEachGraph(model.graph!, (g) => {
      for (const t of g.initializer ?? []) if (sizes.has(t.name ?? '')) kept.push(sizes.get(t.name ?? '')!);
    });
    const largest = Math.max(...sizes.values());
    const keptBytes = kept.reduce((a, b) => a + b, 0);
    expect(kept.length).toBeGreaterThan(0); // norms (skipLayerNorm) stay fp32
    expect(loader.held).toBe(keptBytes);
    expect(loader.peak).toBeLessThanOrEqual(largest + keptBytes);
    expect(loader.peak).toBeLessThan(layout.data.byteLength / 4);
    // The same rewrite as with every weight in memory.
    const reference = parseModel(inline);
    rewriteModel(reference, makePolicy(BASE));
    expect(same(serializeModel(model), serializeModel(reference))).toBe(true);
  });

  it('a read that fails fails the preparation with its error', async () => {
    const broken: RangeReader = {
      size: layout.data.byteLength,
      read: async () => {
        throw new Error('the disk went away');
      },
    };
    await expect(
      prepareModelWith(layout.graph, BASE, NO_GPU, [{ path: 'model.onnx_data', reader: broken }]),
    ).rejects.toThrow('the disk went away');
  });
});
