/**
 * The weight report of a model as it is held: every constant tensor (initializers and Constant nodes) of a float
 * or quantized type, the op that consumes it, its precision, and byte counts computed from the stored tensors.
 */
import { onnx } from 'onnx-proto';
import type { WeightReport } from '../shared/types';

const T = onnx.TensorProto.DataType;
/** Bits per element of the tensor types a weight can have. */
const BITS: Readonly<Record<number, number>> = Object.freeze({
  [T.FLOAT]: 32, [T.FLOAT16]: 16, [T.BFLOAT16]: 16, [T.DOUBLE]: 64, [T.UINT8]: 8, [T.INT8]: 8,
  21: 4 /* UINT4 */, 22: 4 /* INT4 */, 25: 2 /* UINT2 (ONNX 1.20) */, 26: 2 /* INT2 */,
});
const FLOATS = new Set<number>([T.FLOAT, T.FLOAT16, T.BFLOAT16, T.DOUBLE]);

export interface WeightSummary {
  weights: WeightReport[];
  modelBytes: number;
  originalBytes: number;
  bits: 2 | 4 | 8 | 16 | 32;
  scheme: 'symmetric' | 'asymmetric' | null;
  groupSize: number | null;
}

function storedBytes(t: onnx.ITensorProto): number {
  const count = (t.dims ?? []).reduce<number>((a, d) => a * Number(d), 1);
  if (t.rawData && t.rawData.length > 0) return t.rawData.length;
  const bits = BITS[t.dataType ?? 0] ?? 32;
  return Math.ceil((count * bits) / 8);
}

function elementCount(t: onnx.ITensorProto): number {
  return (t.dims ?? []).reduce<number>((a, d) => a * Number(d), 1);
}

/** Float weights are reported as they are; this build does not quantize (raw models run as given). */
export function weightReport(model: onnx.IModelProto): WeightSummary {
  const consumers = new Map<string, string>();
  const constants: onnx.ITensorProto[] = [];
  // Weights also live in subgraphs (If/Loop/Scan bodies: Silero VAD keeps its weights there).
  const visit = (graph: onnx.IGraphProto) => {
    constants.push(...(graph.initializer ?? []));
    for (const node of graph.node ?? []) {
      for (const input of node.input ?? []) if (!consumers.has(input)) consumers.set(input, node.opType ?? '');
      if (node.opType === 'Constant') {
        const value = node.attribute?.find((a) => a.name === 'value')?.t;
        if (value) constants.push({ ...value, name: node.output?.[0] ?? value.name });
      }
      for (const a of node.attribute ?? []) {
        if (a.g) visit(a.g);
        for (const g of a.graphs ?? []) visit(g);
      }
    }
  };
  if (model.graph) visit(model.graph);
  const weights: WeightReport[] = [];
  let modelBytes = 0;
  let originalBytes = 0;
  let widest = 0;
  for (const t of constants) {
    const type = t.dataType ?? 0;
    // Small integer tensors are shapes and indices, not weights; float tensors of one element are scalars.
    if (!FLOATS.has(type) || elementCount(t) < 2) continue;
    const precision = BITS[type] ?? 32;
    widest = Math.max(widest, precision);
    weights.push({ name: t.name ?? '', op: consumers.get(t.name ?? '') ?? '', precision });
    modelBytes += storedBytes(t);
    originalBytes += elementCount(t) * 4;
  }
  const bits = (widest >= 32 || widest === 0 ? 32 : widest) as WeightSummary['bits'];
  return { weights, modelBytes, originalBytes, bits, scheme: null, groupSize: null };
}
