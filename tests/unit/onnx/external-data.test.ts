/**
 * External data (extension/onnx/external-data.ts) and prequantized graphs through prepare.ts, on the generated Llama
 * in the hub's layouts (tests/support/external-data.ts): quantizing from `model.onnx` + `model.onnx_data` writes the
 * very bytes quantizing the single-file model writes; run as stored, the files go on to the session; onnxruntime-node
 * reads the written layout from disk and computes what the single file computes (so the layout is the real one);
 * names that are not plain file names, offsets and lengths outside the file are refused with a DataError naming the
 * file; a model that came quantized is run as stored and a request for other bits is noted.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { prepareModel, type ExternalFile } from '../../../extension/host/prepare';
import type { PrecisionPolicy } from '../../../extension/onnx';
import { externalDataFiles, inlineExternalData, isPlainFileName } from '../../../extension/onnx/external-data';
import { onnx, parseModel } from '../../../extension/onnx/model';
import { prequantizedModel, toExternalData } from '../../../tools/external-data';
import { llamaHubFiles } from '../../../tools/hub-models/llama';

const POLICY: PrecisionPolicy = {
  bits: 4,
  scheme: 'symmetric',
  groupSize: 32,
  mixedPrecision: true,
  attentionPrecision: 8,
  embeddingPrecision: 8,
  skipLayerNorm: true,
};
const inline = llamaHubFiles()['onnx/model.onnx'] as Uint8Array;
const layout = toExternalData(inline);
const files = (data = layout.data, path = 'model.onnx_data'): ExternalFile[] => [{ path, data }];

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** The graph with its first external tensor's entries changed. */
function tampered(change: (entries: Map<string, string>) => void): Uint8Array {
  const model = onnx.ModelProto.decode(layout.graph);
  const t = model.graph!.initializer!.find((i) => i.externalData?.length)!;
  const entries = new Map(t.externalData!.map((e) => [e.key!, e.value!]));
  change(entries);
  t.externalData = [...entries].map(([key, value]) => onnx.StringStringEntryProto.create({ key, value }));
  return onnx.ModelProto.encode(model).finish();
}

const refusal = (graph: Uint8Array, external = files()) => {
  try {
    prepareModel(graph, POLICY, external);
  } catch (err) {
    return { name: (err as Error).name, message: (err as Error).message };
  }
  return { name: 'none', message: '' };
};

describe('external data', () => {
  it('the layout moves the weights out: a small graph, one data file named once', () => {
    expect(layout.graph.byteLength).toBeLessThan(inline.byteLength / 20);
    expect(layout.data.byteLength).toBeGreaterThan(inline.byteLength * 0.9);
    expect(externalDataFiles(parseModel(layout.graph))).toEqual(['model.onnx_data']);
    expect(externalDataFiles(parseModel(inline))).toEqual([]);
  });

  it('quantizing from the external data writes the same bytes as quantizing the single file', () => {
    const a = prepareModel(inline, POLICY);
    const b = prepareModel(layout.graph, POLICY, files());
    expect(b.asStored).toBe(false);
    expect(b.externalData === undefined).toBe(true);
    expect(b.report.modelBytes).toBe(a.report.modelBytes);
    expect(same(a.bytes, b.bytes)).toBe(true);
    // The data file is read, not changed.
    expect(same(toExternalData(inline).data, layout.data)).toBe(true);
  });

  it('inlining makes the graph the single file again, byte for byte (views of the data, no copy)', () => {
    const model = parseModel(layout.graph);
    inlineExternalData(model, new Map([['model.onnx_data', layout.data]]));
    const t = model.graph!.initializer!.find((i) => i.name === 'model.embed_tokens.weight')!;
    expect(t.rawData!.buffer === layout.data.buffer).toBe(true);
    expect(same(onnx.ModelProto.encode(model).finish(), inline)).toBe(true);
  });

  it('run as stored, the graph keeps its files for the session and reports the same weights', () => {
    const a = prepareModel(inline, null);
    const b = prepareModel(layout.graph, null, files());
    expect(b.asStored).toBe(true);
    expect(b.bytes === layout.graph).toBe(true);
    expect(b.externalData?.map((f) => [f.path, f.data === layout.data])).toEqual([['model.onnx_data', true]]);
    expect(b.report.modelBytes).toBe(a.report.modelBytes);
    expect(b.report.originalBytes).toBe(a.report.originalBytes);
  });

  it('onnxruntime-node reads the written layout and computes what the single file computes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'webq-external-'));
    try {
      writeFileSync(join(dir, 'model.onnx'), layout.graph);
      writeFileSync(join(dir, 'model.onnx_data'), layout.data);
      const external = await ort.InferenceSession.create(join(dir, 'model.onnx'));
      const single = await ort.InferenceSession.create(inline);
      const feeds: Record<string, ort.Tensor> = {
        input_ids: new ort.Tensor('int64', BigInt64Array.from([128000n, 9906n, 1917n]), [1, 3]),
        attention_mask: new ort.Tensor('int64', BigInt64Array.from([1n, 1n, 1n]), [1, 3]),
        position_ids: new ort.Tensor('int64', BigInt64Array.from([0n, 1n, 2n]), [1, 3]),
      };
      for (const name of single.inputNames.filter((n) => n.startsWith('past_key_values'))) {
        const kvHeads = 2,
          headDim = 8;
        feeds[name] = new ort.Tensor('float32', new Float32Array(0), [1, kvHeads, 0, headDim]);
      }
      const [x, y] = [await external.run(feeds), await single.run(feeds)];
      const [a, b] = [x.logits!.data as Float32Array, y.logits!.data as Float32Array];
      expect(a.length).toBe(3 * 128256);
      expect(
        same(
          new Uint8Array(a.buffer, a.byteOffset, a.byteLength),
          new Uint8Array(b.buffer, b.byteOffset, b.byteLength),
        ),
      ).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    ['../model.onnx_data', 'a parent folder'],
    ['https://elsewhere.example/w.bin', 'a URL'],
    ['/etc/passwd', 'an absolute path'],
    ['sub/model.onnx_data', 'a folder'],
    ['', 'no name'],
    ['.hidden', 'a dot file'],
  ])('refuses the location %j (%s), naming it', (location) => {
    const graph = tampered((e) => e.set('location', location));
    const r = refusal(graph, files(layout.data, location));
    expect(r.name).toBe('DataError');
    expect(r.message).toContain(`"${location}"`);
    expect(isPlainFileName(location)).toBe(false);
  });

  it('refuses offsets and lengths outside the file, a length that is not the shape, a file not given', () => {
    const past = refusal(tampered((e) => e.set('offset', String(layout.data.byteLength))));
    expect(past).toMatchObject({
      name: 'DataError',
      message: expect.stringMatching(/model\.onnx_data.*past the file's end/),
    });
    const cut = refusal(layout.graph, files(layout.data.subarray(0, layout.data.byteLength - 1)));
    expect(cut).toMatchObject({ name: 'DataError', message: expect.stringContaining('model.onnx_data') });
    const length = refusal(tampered((e) => e.set('length', '4')));
    expect(length).toMatchObject({ name: 'DataError', message: expect.stringMatching(/length 4, but its shape/) });
    const negative = refusal(tampered((e) => e.set('offset', '-4096')));
    expect(negative).toMatchObject({ name: 'DataError', message: expect.stringContaining('offset "-4096"') });
    const huge = refusal(tampered((e) => e.set('offset', '99999999999999999999')));
    expect(huge.name).toBe('DataError');
    expect(refusal(layout.graph, [])).toMatchObject({
      name: 'DataError',
      message: expect.stringMatching(/model\.onnx_data: was not given/),
    });
    // Run as stored, the same checks hold: onnxruntime is never handed an offset outside its file.
    expect(() =>
      prepareModel(
        tampered((e) => e.set('offset', '999999999')),
        null,
        files(),
      ),
    ).toThrow(/past the file's end/);
  });
});

describe('prequantized graphs', () => {
  const q4 = prequantizedModel(inline);

  it('are detected and run as stored whatever the policy; other bits are noted, never applied', () => {
    const asked8 = prepareModel(q4, { ...POLICY, bits: 8 });
    expect(asked8.asStored).toBe(true);
    expect(asked8.bytes === q4).toBe(true);
    expect(asked8.report.preQuantized).toMatchObject({ detected: true, formats: ['MatMulNBits'], bits: [4] });
    expect(asked8.notes).toEqual([
      expect.stringMatching(/prequantized: .*4-bit.*run as stored, not quantized again to 8/),
    ]);
    const asked4 = prepareModel(q4, POLICY);
    expect(asked4.asStored).toBe(true);
    expect(asked4.notes).toEqual([]);
    // The fp32 embedding a q4 export keeps stays fp32 (a second quantization would have made it 8-bit).
    expect(asked4.report.weights.find((w) => w.name === 'model.embed_tokens.weight')?.precision).toBe(32);
  });

  it('with external data, their files go on to the session', () => {
    const { graph, data } = toExternalData(q4);
    const prepared = prepareModel(graph, POLICY, files(data));
    expect(prepared.asStored).toBe(true);
    expect(prepared.externalData?.map((f) => [f.path, f.data === data])).toEqual([['model.onnx_data', true]]);
  });
});
