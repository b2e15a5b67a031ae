/**
 * What each weight is for, read from the graph's structure rather than from names (exporters name
 * things arbitrarily: PP-OCR's attention projections are "linear_77.w_0"):
 *   attention  MatMul/Gemm weights that feed (through reshapes, transposes, slices, bias adds, scaling, a KV
 *              cache's Concat, the Expand/Tile that repeats grouped kv heads)
 *              either operand of an activation×activation MatMul whose output goes into a Softmax whose
 *              output is multiplied by another activation (q, k, v), or that consume that product (o);
 *              and the same around onnxruntime's fused attention ops (com.microsoft GroupQueryAttention,
 *              MultiHeadAttention, ...): the projections into their query/key/value inputs (packed QKV too) and
 *              the one that reads their output. The fused node itself is not rewritten (rewrite.ts leaves
 *              every non-default-domain node alone), its rotary caches stay float
 *   embedding  Gather on a constant rank-2 float table along axis 0 with computed (integer) indices
 *   head       the last MatMul/Gemm before a graph output (only elementwise/shape/softmax ops between)
 *   norm       inputs of normalisation ops, and the scale/shift after a decomposed one
 *              (x - mean) / sqrt(var + eps) * gamma + beta, found by the Sqrt it divides by
 *   bias       the constant addend right after a MatMul/Gemm/Conv, and Conv's third input
 *   linear / conv   every other MatMul/Gemm B, Conv W
 *   other      remaining float tensors (LSTM weights, constants of elementwise ops)
 */
import type { NodeProto } from './model';
import { isConstant, type ModelIndex } from './weights';

export type WeightRole = 'attention' | 'embedding' | 'head' | 'norm' | 'bias' | 'linear' | 'conv' | 'other';

/** Ops that move or rescale an activation without mixing it with another activation. */
const PASS_THROUGH = new Set([
  'Reshape',
  'Transpose',
  'Squeeze',
  'Unsqueeze',
  'Slice',
  'Split',
  'Gather',
  'Cast',
  'Identity',
  'Flatten',
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Dropout',
  'Where',
  // Grouped-query attention written with standard ops: the cache concatenation and the kv heads repeated.
  'Concat',
  'Expand',
  'Tile',
]);
const OUTPUT_TAIL = new Set([
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Softmax',
  'LogSoftmax',
  'Sigmoid',
  'Tanh',
  'Reshape',
  'Transpose',
  'Squeeze',
  'Unsqueeze',
  'Cast',
  'Identity',
  'Flatten',
]);
const NORM_OPS = new Set([
  'LayerNormalization',
  'SimplifiedLayerNormalization',
  'SkipLayerNormalization',
  'SkipSimplifiedLayerNormalization',
  'BatchNormalization',
  'InstanceNormalization',
  'GroupNormalization',
  'RMSNormalization',
]);
const LINEAR_OPS = new Set(['MatMul', 'Gemm']);

const isLinearWithWeight = (ix: ModelIndex, n: NodeProto): boolean =>
  LINEAR_OPS.has(n.opType ?? '') && isConstant(ix, n.input?.[1]);

/** The activation (non-constant) inputs of a node. */
function activations(ix: ModelIndex, n: NodeProto): string[] {
  return (n.input ?? []).filter((name) => name && !isConstant(ix, name));
}

/** Walks producers back from `value` through pass-through ops; returns the first node `stop` accepts. */
function traceBack(
  ix: ModelIndex,
  value: string,
  stop: (n: NodeProto) => boolean,
  through: Set<string>,
  depth = 12,
): NodeProto | undefined {
  const node = ix.producers.get(value);
  if (!node || depth === 0) return undefined;
  if (stop(node)) return node;
  // A KV cache joins the past (a graph input) and the new keys/values: any of the pieces may lead to the projection.
  if (node.opType === 'Concat' && through.has('Concat')) {
    for (const input of activations(ix, node)) {
      const found = traceBack(ix, input, stop, through, depth - 1);
      if (found) return found;
    }
    return undefined;
  }
  if (!through.has(node.opType ?? '')) return undefined;
  const inputs = activations(ix, node);
  // Shape arithmetic (Reshape's shape, Slice's starts) is an activation too; the data input comes first.
  const first = inputs[0];
  return first ? traceBack(ix, first, stop, through, depth - 1) : undefined;
}

/** Walks consumers forward from `value` through pass-through ops; returns every node `stop` accepts. */
function traceForward(
  ix: ModelIndex,
  value: string,
  stop: (n: NodeProto, input: number) => boolean,
  through: Set<string>,
  depth = 8,
): NodeProto[] {
  if (depth === 0) return [];
  const found: NodeProto[] = [];
  for (const use of ix.uses.get(value) ?? []) {
    if (stop(use.node, use.index)) found.push(use.node);
    else if (through.has(use.node.opType ?? '') && use.index === 0) {
      for (const out of use.node.output ?? []) found.push(...traceForward(ix, out, stop, through, depth - 1));
    }
  }
  return found;
}

/**
 * onnxruntime's fused attention ops (com.microsoft) → how many leading inputs are query/key/value activations.
 * Their first output is the attention's result, which the output projection reads.
 */
const FUSED_ATTENTION: ReadonlyMap<string, number> = new Map([
  ['GroupQueryAttention', 3],
  ['MultiHeadAttention', 3],
  ['PackedMultiHeadAttention', 3],
  ['SparseAttention', 3],
  ['PagedAttention', 3],
  ['DecoderMaskedMultiHeadAttention', 3],
]);
const SHAPE_ONLY = new Set(['Reshape', 'Transpose', 'Cast', 'Identity', 'Squeeze', 'Unsqueeze', 'Flatten']);

/** MatMul/Gemm nodes whose weights are attention projections (q, k, v and the output projection). */
export function attentionProjections(ix: ModelIndex): Set<NodeProto> {
  const projections = new Set<NodeProto>();
  const isActivationMatMul = (n: NodeProto) => n.opType === 'MatMul' && activations(ix, n).length === 2;
  const isProjection = (n: NodeProto) => isLinearWithWeight(ix, n);
  const outputProjections = (value: string) => {
    for (const o of traceForward(ix, value, (n, i) => isProjection(n) && i === 0, SHAPE_ONLY)) projections.add(o);
  };
  for (const node of ix.producers.values()) {
    const qkv = node.domain === 'com.microsoft' ? FUSED_ATTENTION.get(node.opType ?? '') : undefined;
    if (qkv === undefined) continue;
    for (const operand of (node.input ?? []).slice(0, qkv)) {
      if (!operand || isConstant(ix, operand)) continue; // absent key/value when QKV is packed into the query
      const projection = traceBack(ix, operand, isProjection, PASS_THROUGH);
      if (projection) projections.add(projection);
    }
    if (node.output?.[0]) outputProjections(node.output[0]);
  }
  for (const softmax of ix.producers.values()) {
    if (softmax.opType !== 'Softmax') continue;
    const scores = traceBack(ix, softmax.input![0]!, isActivationMatMul, PASS_THROUGH);
    const context = traceForward(ix, softmax.output![0]!, (n, i) => isActivationMatMul(n) && i === 0, PASS_THROUGH);
    if (!scores || context.length === 0) continue;
    for (const operand of [scores.input![0]!, scores.input![1]!, ...context.map((c) => c.input![1]!)]) {
      const projection = traceBack(ix, operand, isProjection, PASS_THROUGH);
      if (projection) projections.add(projection);
    }
    for (const c of context) outputProjections(c.output![0]!);
  }
  return projections;
}

/** The MatMul/Gemm nodes nearest to each graph output of the main graph. */
export function outputHeads(ix: ModelIndex, outputs: string[]): Set<NodeProto> {
  const heads = new Set<NodeProto>();
  for (const output of outputs) {
    const head = traceBack(ix, output, (n) => isLinearWithWeight(ix, n), OUTPUT_TAIL);
    if (head) heads.add(head);
  }
  return heads;
}

/** A value that is (x - mean) / sqrt(...) or x * 1/sqrt(...): the output of a decomposed normalisation. */
function isNormalized(ix: ModelIndex, value: string | undefined): boolean {
  const node = value ? ix.producers.get(value) : undefined;
  if (!node || (node.opType !== 'Div' && node.opType !== 'Mul')) return false;
  const divisor =
    node.opType === 'Div' ? node.input?.[1] : node.input?.find((i) => ix.producers.get(i)?.opType === 'Reciprocal');
  const through = new Set(['Add', 'Reciprocal', 'Cast', 'Identity']);
  return !!divisor && !!traceBack(ix, divisor, (n) => n.opType === 'Sqrt', through, 4);
}

export function isEmbeddingGather(ix: ModelIndex, n: NodeProto): boolean {
  if (n.opType !== 'Gather' || !isConstant(ix, n.input?.[0]) || isConstant(ix, n.input?.[1])) return false;
  const axis = (n.attribute ?? []).find((a) => a.name === 'axis');
  return (axis ? Number(axis.i) : 0) === 0 && (ix.constants.get(n.input![0]!)!.tensor.dims?.length ?? 0) === 2;
}

/** The role of the constant `name` as consumed by input `inputIndex` of `node`. */
export function roleOf(
  ix: ModelIndex,
  node: NodeProto,
  inputIndex: number,
  attention: Set<NodeProto>,
  heads: Set<NodeProto>,
): WeightRole {
  const op = node.opType ?? '';
  if (LINEAR_OPS.has(op) && inputIndex === 1)
    return attention.has(node) ? 'attention' : heads.has(node) ? 'head' : 'linear';
  if (op === 'Gemm' && inputIndex === 2) return 'bias';
  if (op === 'Conv' && inputIndex === 1) return 'conv';
  if (op === 'Conv' && inputIndex === 2) return 'bias';
  if (op === 'Gather' && inputIndex === 0 && isEmbeddingGather(ix, node)) return 'embedding';
  if (NORM_OPS.has(op) && inputIndex > 0) return 'norm';
  const other = (node.input ?? []).find((_, i) => i !== inputIndex);
  if (op === 'Mul' && isNormalized(ix, other)) return 'norm';
  if (op === 'Add' && other) {
    const producer = ix.producers.get(other);
    if (
      producer?.opType === 'Mul' &&
      isNormalized(
        ix,
        producer.input?.find((i) => !isConstant(ix, i)),
      )
    )
      return 'norm';
    if (producer && ['MatMul', 'Gemm', 'Conv', 'MatMulNBits'].includes(producer.opType ?? '')) return 'bias';
  }
  return 'other';
}
