/**
 * What the engine needs to know of a model's graph before and after creating a session: its inputs and outputs
 * (names, element types, dims with symbolic names) — to validate feeds with clear errors and to pin WebNN's free
 * dimensions — parsed from the ONNX bytes with onnx-proto.
 */
import type { onnx } from 'onnx-proto';
import { WebqError } from '../shared/errors';
import type { TensorType } from '../shared/tensor';

export interface ValueInfo {
  name: string;
  type: TensorType | string;
  dims: (number | string)[];
}
/**
 * The graph's com.microsoft GroupQueryAttention nodes, for text generation (tasks/generation/model-config.ts):
 * their head counts, and the positions their rotary cos/sin caches cover (the fewest rows of any node's constant
 * cos_cache), past which onnxruntime refuses to run.
 */
export interface GroupQueryAttentionInfo {
  nodes: number;
  numHeads: number[];
  kvNumHeads: number[];
  rotaryPositions?: number;
}
export interface GraphIo {
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  /** Present when the graph's attention is onnxruntime's fused GroupQueryAttention. */
  groupQueryAttention?: GroupQueryAttentionInfo;
}

const ELEMENT: Readonly<Record<number, TensorType | string>> = Object.freeze({
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  8: 'string',
  9: 'bool',
  10: 'float16',
  11: 'float64',
});

export function graphIo(model: onnx.IModelProto): GraphIo {
  const graph = model.graph;
  if (!graph) throw new WebqError('DataError', 'the ONNX model has no graph');
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  const describe = (v: onnx.IValueInfoProto): ValueInfo => {
    const tensor = v.type?.tensorType;
    return {
      name: v.name ?? '',
      type: ELEMENT[tensor?.elemType ?? 0] ?? `type${tensor?.elemType ?? 0}`,
      dims: (tensor?.shape?.dim ?? []).map((d) =>
        d.dimValue != null && Number(d.dimValue) > 0 ? Number(d.dimValue) : d.dimParam || '?',
      ),
    };
  };
  const groupQueryAttention = groupQueryAttentionOf(graph);
  return {
    // Older exporters list initializers among the inputs; those are weights, not feeds.
    inputs: (graph.input ?? []).filter((v) => !initializers.has(v.name)).map(describe),
    outputs: (graph.output ?? []).map(describe),
    ...(groupQueryAttention ? { groupQueryAttention } : {}),
  };
}

function groupQueryAttentionOf(graph: onnx.IGraphProto): GroupQueryAttentionInfo | undefined {
  const nodes = (graph.node ?? []).filter((n) => n.opType === 'GroupQueryAttention' && n.domain === 'com.microsoft');
  if (nodes.length === 0) return undefined;
  const cacheRows = new Map((graph.initializer ?? []).map((t) => [t.name, Number(t.dims?.[0] ?? NaN)]));
  const attr = (n: onnx.INodeProto, name: string) => Number(n.attribute?.find((a) => a.name === name)?.i ?? 0);
  let rotaryPositions: number | undefined;
  for (const n of nodes) {
    const rows = attr(n, 'do_rotary') ? cacheRows.get(n.input?.[7] ?? '') : undefined;
    if (rows !== undefined && Number.isInteger(rows) && rows >= 0)
      rotaryPositions = Math.min(rotaryPositions ?? Infinity, rows);
  }
  return {
    nodes: nodes.length,
    numHeads: nodes.map((n) => attr(n, 'num_heads')),
    kvNumHeads: nodes.map((n) => attr(n, 'kv_num_heads')),
    ...(rotaryPositions === undefined ? {} : { rotaryPositions }),
  };
}

/**
 * Free dimensions pinned from actual feeds (WebNN needs static shapes). Symbolic dims are matched by name
 * across inputs; a conflicting value is a DataError.
 */
export function freeDimensionsFrom(io: GraphIo, feeds: Record<string, { dims: number[] }>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const input of io.inputs) {
    const feed = feeds[input.name];
    if (!feed) continue;
    input.dims.forEach((d, i) => {
      if (typeof d !== 'string' || d === '?') return;
      const value = feed.dims[i]!;
      if (out[d] !== undefined && out[d] !== value)
        throw new WebqError(
          'DataError',
          `dimension ${d} is ${out[d]} in one input and ${value} in input ${input.name}`,
        );
      out[d] = value;
    });
  }
  return out;
}

/** Checks feeds against the graph's inputs: every input given, no unknown names, types and static dims right. */
export function checkFeeds(io: GraphIo, feeds: Record<string, { type: string; dims: number[] }>): void {
  const known = new Map(io.inputs.map((i) => [i.name, i]));
  for (const name of Object.keys(feeds)) {
    if (!known.has(name))
      throw new WebqError(
        'DataError',
        `input ${JSON.stringify(name)} is not an input of this model; its inputs are ${[...known.keys()].join(', ')}`,
      );
  }
  for (const input of io.inputs) {
    const feed = feeds[input.name];
    if (!feed)
      throw new WebqError(
        'DataError',
        `input ${JSON.stringify(input.name)} is missing (${input.type} [${input.dims.join(', ')}])`,
      );
    if (feed.type !== input.type)
      throw new WebqError('DataError', `input ${JSON.stringify(input.name)} must be ${input.type}, got ${feed.type}`);
    if (input.dims.length > 0 && feed.dims.length !== input.dims.length) {
      throw new WebqError(
        'DataError',
        `input ${JSON.stringify(input.name)} must have rank ${input.dims.length} ([${input.dims.join(', ')}]), got [${feed.dims.join(', ')}]`,
      );
    }
    input.dims.forEach((d, i) => {
      if (typeof d === 'number' && feed.dims[i] !== d) {
        throw new WebqError(
          'DataError',
          `input ${JSON.stringify(input.name)} dimension ${i} must be ${d}, got ${feed.dims[i]} ([${feed.dims.join(', ')}])`,
        );
      }
    });
  }
}
