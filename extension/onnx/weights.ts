/**
 * Finding constant weights. A weight is a tensor whose value is known before inference: a graph
 * initializer, or the output of a Constant node (PP-OCR's exporter stores every weight that way, and
 * Silero keeps its weights in Constant nodes inside If branches). Subgraphs are searched too; ONNX
 * forbids a subgraph from reusing an outer name, so one map by name covers the whole model.
 */
import { attribute, forEachGraph, type GraphProto, type NodeProto, onnx, type TensorProto } from './model';
import { DataType } from './tensor';

export interface ConstantWeight {
  name: string;
  tensor: TensorProto;
  /** The graph that holds the initializer or the Constant node. */
  graph: GraphProto;
  /** The Constant node when the weight is not an initializer. */
  node?: NodeProto;
}

export interface Use {
  node: NodeProto;
  index: number;
  graph: GraphProto;
}

/** Everything the rewriter and the policy need to know about who produces and consumes what. */
export interface ModelIndex {
  constants: Map<string, ConstantWeight>;
  producers: Map<string, NodeProto>;
  uses: Map<string, Use[]>;
  /** The graph every node lives in. */
  graphOf: Map<NodeProto, GraphProto>;
}

/** The tensor a Constant node defines, or undefined for the integer/string forms that never hold weights. */
export function constantNodeTensor(node: NodeProto): TensorProto | undefined {
  const value = attribute(node, 'value');
  if (value?.t) return value.t;
  const floats = attribute(node, 'value_floats');
  if (floats?.floats?.length) {
    return onnx.TensorProto.create({
      dataType: DataType.FLOAT,
      dims: [floats.floats.length],
      floatData: floats.floats,
    });
  }
  const float = attribute(node, 'value_float');
  if (float) return onnx.TensorProto.create({ dataType: DataType.FLOAT, dims: [], floatData: [float.f ?? 0] });
  return undefined;
}

/**
 * Every constant tensor of the model, subgraphs included: the initializers (under their names) and the values of
 * Constant nodes (under their outputs), with the name nodes read them by.
 */
export function forEachConstantTensor(
  model: onnx.IModelProto,
  visit: (tensor: TensorProto, name: string) => void,
): void {
  forEachGraph(model.graph!, (graph) => {
    for (const t of graph.initializer ?? []) visit(t, t.name ?? '');
    for (const node of graph.node ?? []) {
      const t = node.opType === 'Constant' ? constantNodeTensor(node) : undefined;
      if (t) visit(t, node.output?.[0] ?? '');
    }
  });
}

export function indexModel(model: onnx.IModelProto): ModelIndex {
  const index: ModelIndex = { constants: new Map(), producers: new Map(), uses: new Map(), graphOf: new Map() };
  forEachGraph(model.graph!, (graph) => {
    for (const tensor of graph.initializer ?? []) {
      if (tensor.name) index.constants.set(tensor.name, { name: tensor.name, tensor, graph });
    }
    for (const node of graph.node ?? []) {
      index.graphOf.set(node, graph);
      for (const output of node.output ?? []) if (output) index.producers.set(output, node);
      (node.input ?? []).forEach((input, i) => {
        if (!input) return;
        const list = index.uses.get(input) ?? [];
        list.push({ node, index: i, graph });
        index.uses.set(input, list);
      });
      if (node.opType === 'Constant' && (node.domain ?? '') === '') {
        const tensor = constantNodeTensor(node);
        const name = node.output?.[0];
        if (tensor && name) index.constants.set(name, { name, tensor, graph, node });
      }
    }
  });
  return index;
}

export function isConstant(index: ModelIndex, name: string | undefined | null): boolean {
  return !!name && index.constants.has(name);
}
