/**
 * Parse and write ONNX models with onnx-proto (protobufjs-generated ModelProto), and the small graph
 * helpers the weight finder and the rewriter share. Browser-safe: bytes in, bytes out.
 */
import { onnx } from 'onnx-proto';
import { dataError } from '../quant/errors';

export { onnx };
export type ModelProto = onnx.ModelProto;
export type GraphProto = onnx.IGraphProto;
export type NodeProto = onnx.INodeProto;
export type TensorProto = onnx.ITensorProto;

export const MS_DOMAIN = 'com.microsoft';

export function parseModel(bytes: Uint8Array): onnx.ModelProto {
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch {
    // No parser text: it can describe the bytes, which must never reach a page that could not read them.
    throw dataError('model', 'is not a valid ONNX protobuf');
  }
  if (!model.graph) throw dataError('model', 'has no graph');
  return model;
}

export function serializeModel(model: onnx.IModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

/** protobufjs gives int64 as Long in Node (where the `long` package loads) and as number in browsers. */
export function toNumber(value: number | { toNumber(): number } | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'number' ? value : value.toNumber();
}

/** The opset version the model imports for `domain` ('' = ai.onnx), or 0 when it imports none. */
export function opsetVersion(model: onnx.IModelProto, domain = ''): number {
  const entry = (model.opsetImport ?? []).find(
    (o) => (o.domain ?? '') === domain || (domain === '' && o.domain === 'ai.onnx'),
  );
  return entry ? toNumber(entry.version) : 0;
}

export function ensureOpset(model: onnx.IModelProto, domain: string, version: number): void {
  model.opsetImport ??= [];
  if (opsetVersion(model, domain) === 0) model.opsetImport.push(onnx.OperatorSetIdProto.create({ domain, version }));
}

/** Visits `graph` and every subgraph (If/Loop/Scan bodies), outer graphs first. */
export function forEachGraph(
  graph: GraphProto,
  visit: (g: GraphProto, parent?: GraphProto) => void,
  parent?: GraphProto,
): void {
  visit(graph, parent);
  for (const node of graph.node ?? []) {
    for (const attr of node.attribute ?? []) {
      if (attr.g) forEachGraph(attr.g, visit, graph);
      for (const g of attr.graphs ?? []) forEachGraph(g, visit, graph);
    }
  }
}

export function attribute(node: NodeProto, name: string): onnx.IAttributeProto | undefined {
  return (node.attribute ?? []).find((a) => a.name === name);
}

export function intAttribute(node: NodeProto, name: string, fallback: number): number {
  const a = attribute(node, name);
  return a ? toNumber(a.i) : fallback;
}

export function floatAttribute(node: NodeProto, name: string, fallback: number): number {
  const a = attribute(node, name);
  return a && a.f !== null && a.f !== undefined ? a.f : fallback;
}

export function intAttr(name: string, value: number): onnx.AttributeProto {
  return onnx.AttributeProto.create({ name, i: value, type: onnx.AttributeProto.AttributeType.INT });
}

export function intsAttr(name: string, ints: number[]): onnx.AttributeProto {
  return onnx.AttributeProto.create({ name, ints, type: onnx.AttributeProto.AttributeType.INTS });
}

export function floatAttr(name: string, f: number): onnx.AttributeProto {
  return onnx.AttributeProto.create({ name, f, type: onnx.AttributeProto.AttributeType.FLOAT });
}

/** A graph input or output of a tensor type: a number is a fixed dimension, a string a named free one. */
export function valueInfo(name: string, elemType: number, dims: readonly (number | string)[]): onnx.ValueInfoProto {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  });
}

export function makeNode(
  opType: string,
  inputs: string[],
  outputs: string[],
  name: string,
  attrs: onnx.AttributeProto[] = [],
  domain = '',
): onnx.NodeProto {
  return onnx.NodeProto.create({ opType, input: inputs, output: outputs, name, attribute: attrs, domain });
}
