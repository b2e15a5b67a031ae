/**
 * The weight report of SPEC §2 (ModelInfo.weights, modelBytes, originalBytes), read from a model as it
 * is stored, so it is right for rewritten models and for models that came quantized: every figure is
 * computed from the tensors actually present, never assumed from the request.
 *   bytes          stored bytes of the weight's tensors (codes + scales + zero points, or the float tensor)
 *   originalBytes  the same weight's elements at fp32
 * Pre-quantized formats are detected from the graph: MatMulNBits, GatherBlockQuantized,
 * DequantizeLinear on integer constants (QDQ), MatMulInteger/ConvInteger (with DynamicQuantizeLinear),
 * QLinearMatMul/QLinearConv; their bits come from the tensors and attributes.
 */
import { forEachGraph, intAttribute, type NodeProto, onnx, type TensorProto } from './model';
import type { WeightRole } from './roles';
import { DataType, elementBits, elementCount, INT4, isFloatType, storedByteCount, UINT4 } from './tensor';
import { indexModel, type ModelIndex } from './weights';

export type WeightFormat =
  'float' | 'fp16-cast' | 'MatMulNBits' | 'GatherBlockQuantized' | 'DequantizeLinear' | 'MatMulInteger' | 'QLinear';

export interface WeightReport {
  name: string;
  /** The op that consumes the weight (for DequantizeLinear/Cast forms: the op after them). */
  op: string;
  precision: number;
  format: WeightFormat;
  role?: WeightRole;
  bytes: number;
  originalBytes: number;
  /** Names of the stored tensors that make up this weight. */
  tensors: string[];
}

export interface ModelReport {
  weights: WeightReport[];
  modelBytes: number;
  originalBytes: number;
  /** Quantized weights that webq did not write: the model came quantized. */
  preQuantized: { detected: boolean; formats: WeightFormat[]; bits: number[] };
  /**
   * Weights a runtime may expand again at load: fp16 behind a Cast is constant-folded to fp32 by
   * onnxruntime's graph optimizer. The host measures what is really held.
   */
  mayExpandAtRuntime: string[];
}

const WEBQ_DOC = 'webq:';

export function reportWeights(model: onnx.IModelProto, roles?: Map<string, WeightRole>): ModelReport {
  const ix = indexModel(model);
  const claimed = new Set<string>();
  const weights: WeightReport[] = [];
  const preFormats = new Set<WeightFormat>();
  const preBits = new Set<number>();

  const add = (
    format: WeightFormat,
    op: string,
    precision: number,
    inputs: (string | undefined)[],
    logicalElements: number,
  ) => {
    const tensors = inputs.filter((n): n is string => !!n && ix.constants.has(n) && !claimed.has(n));
    if (tensors.length === 0) return;
    tensors.forEach((n) => claimed.add(n));
    const first = ix.constants.get(tensors[0]!)!.tensor;
    const name = originalName(first) ?? tensors[0]!;
    if (format !== 'float' && format !== 'fp16-cast' && !originalName(first)) {
      preFormats.add(format);
      preBits.add(precision);
    }
    const entry: WeightReport = {
      name,
      op,
      precision,
      format,
      tensors,
      originalBytes: logicalElements * 4,
      bytes: tensors.reduce((sum, n) => sum + storedByteCount(ix.constants.get(n)!.tensor), 0),
    };
    const role = roles?.get(name);
    if (role) entry.role = role;
    weights.push(entry);
  };

  forEachGraph(model.graph!, (graph) => {
    for (const node of graph.node ?? []) {
      const inputs = node.input ?? [];
      const constant = (i: number) => ix.constants.get(inputs[i] ?? '')?.tensor;
      switch (node.opType) {
        case 'MatMulNBits':
          if (constant(1)) {
            const K = intAttribute(node, 'K', 0),
              N = intAttribute(node, 'N', 0);
            add('MatMulNBits', 'MatMulNBits', intAttribute(node, 'bits', 4), [inputs[1], inputs[2], inputs[3]], K * N);
          }
          break;
        case 'GatherBlockQuantized': {
          const data = constant(0);
          if (data) {
            const bits = data.dataType === INT4 || data.dataType === UINT4 ? 4 : intAttribute(node, 'bits', 4);
            const packed = data.dataType === DataType.UINT8 ? 8 / bits : 1;
            add(
              'GatherBlockQuantized',
              'GatherBlockQuantized',
              bits,
              [inputs[0], inputs[2], inputs[3]],
              elementCount(data) * packed,
            );
          }
          break;
        }
        case 'DequantizeLinear': {
          const x = constant(0);
          if (x && !isFloatType(x.dataType ?? 0)) {
            add(
              'DequantizeLinear',
              consumerOp(ix, node),
              elementBits(x.dataType ?? 0),
              [inputs[0], inputs[1], inputs[2]],
              elementCount(x),
            );
          }
          break;
        }
        case 'MatMulInteger':
        case 'ConvInteger': {
          const b = constant(1);
          if (b)
            add('MatMulInteger', node.opType, elementBits(b.dataType ?? 0), [inputs[1], inputs[3]], elementCount(b));
          break;
        }
        case 'QLinearMatMul':
        case 'QLinearConv': {
          const b = constant(3);
          if (b)
            add(
              'QLinear',
              node.opType,
              elementBits(b.dataType ?? 0),
              [inputs[3], inputs[4], inputs[5]],
              elementCount(b),
            );
          break;
        }
        case 'Cast': {
          const x = constant(0);
          if (x?.dataType === DataType.FLOAT16 && elementCount(x) > 1)
            add('fp16-cast', consumerOp(ix, node), 16, [inputs[0]], elementCount(x));
          break;
        }
      }
    }
  });
  // Every other float tensor with more than one element that some node reads is a weight kept as stored.
  for (const [name, w] of ix.constants) {
    if (claimed.has(name) || !isFloatType(w.tensor.dataType ?? 0) || elementCount(w.tensor) <= 1) continue;
    const use = ix.uses.get(name)?.[0];
    if (use) add('float', use.node.opType ?? '', elementBits(w.tensor.dataType ?? 0), [name], elementCount(w.tensor));
  }

  return {
    weights,
    modelBytes: weights.reduce((s, w) => s + w.bytes, 0),
    originalBytes: weights.reduce((s, w) => s + w.originalBytes, 0),
    preQuantized: { detected: preFormats.size > 0, formats: [...preFormats], bits: [...preBits].sort((a, b) => a - b) },
    mayExpandAtRuntime: weights.filter((w) => w.format === 'fp16-cast').map((w) => w.name),
  };
}

function originalName(t: TensorProto): string | undefined {
  return t.docString?.startsWith(WEBQ_DOC) ? t.docString.slice(WEBQ_DOC.length) : undefined;
}

function consumerOp(ix: ModelIndex, node: NodeProto): string {
  return ix.uses.get(node.output?.[0] ?? '')?.[0]?.node.opType ?? node.opType ?? '';
}
