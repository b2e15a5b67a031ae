/** Checks a report against the tensors really stored in the written model bytes. */
import { expect } from 'vitest';
import { forEachGraph, parseModel, type TensorProto } from '../../../extension/onnx/model';
import type { ModelReport } from '../../../extension/onnx/report';
import { elementCount, isFloatType } from '../../../extension/onnx/tensor';
import { constantNodeTensor } from '../../../extension/onnx/weights';

/** Bytes of a tensor's payload as encoded: raw_data, or the typed field it uses (fp32 floats, 8-byte doubles). */
function payloadBytes(t: TensorProto): number {
  if (t.rawData && t.rawData.length > 0) return t.rawData.length;
  return (
    (t.floatData?.length ?? 0) * 4 +
    (t.doubleData?.length ?? 0) * 8 +
    (t.int64Data?.length ?? 0) * 8 +
    (t.int32Data?.length ?? 0) * (t.dataType === 10 ? 2 : 4)
  );
}

export function expectReportMatchesModel(written: Uint8Array, report: ModelReport): void {
  const model = parseModel(written);
  const stored = new Map<string, TensorProto>();
  forEachGraph(model.graph!, (g) => {
    for (const t of g.initializer ?? []) stored.set(t.name!, t);
    for (const n of g.node ?? []) {
      const t = n.opType === 'Constant' ? constantNodeTensor(n) : undefined;
      if (t) stored.set(n.output![0]!, t);
    }
  });
  const seen = new Set<string>();
  for (const w of report.weights) {
    let bytes = 0;
    for (const name of w.tensors) {
      const t = stored.get(name);
      expect(t, `${name} of ${w.name} is in the model`).toBeDefined();
      expect(seen.has(name), `${name} counted once`).toBe(false);
      seen.add(name);
      bytes += payloadBytes(t!);
    }
    expect(bytes, `bytes of ${w.name}`).toBe(w.bytes);
  }
  expect(report.modelBytes).toBe(report.weights.reduce((s, w) => s + w.bytes, 0));
  // Nothing that holds weight data is left out: every float tensor of more than one element and every
  // integer tensor that a quantized op reads belongs to some entry.
  for (const [name, t] of stored) {
    if (isFloatType(t.dataType ?? 0) && elementCount(t) > 1) expect(seen.has(name), `${name} reported`).toBe(true);
    if (t.docString?.startsWith('webq:')) expect(seen.has(name), `${name} reported`).toBe(true);
  }
}
