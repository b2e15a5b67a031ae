/**
 * The greedy next-token head webq adds to a text-generation graph at preparation (SPEC §8): the last position of
 * `logits`, limited to the tokenizer's vocabulary, reduced by ArgMax in the graph, so a greedy step reads back one
 * int64 instead of a vocabulary-wide row (128k floats for Llama, 512 KB per token on WebGPU):
 *
 *   webq_next_token_last = Slice(logits, [-1], [INT64_MAX], axes [1])                 [batch, 1, vocab]
 *   webq_next_token_row  = Slice(webq_next_token_last, [0], webq_vocab_limit, axes [2]) [batch, 1, limit]
 *   webq_next_token      = ArgMax(webq_next_token_row, axis 2, keepdims 0)            [batch, 1] int64
 *
 * The limit is an input (int64 [1]) because only the tokenizer knows it: ids past it are padding of the embedding
 * table and must never be chosen. ArgMax keeps the first maximum (select_last_index 0), as sampling.ts's greedy pick
 * does. A graph without a float `logits` output, with an opset below 10 (Slice with inputs) or with these names
 * taken is left as it is, and the decode loop reads logits as before.
 *
 * Where `logits` comes from the output head itself (a MatMulNBits, or a MatMul by a constant [hidden, vocab] matrix
 * or the Transpose of a tied [vocab, hidden] table), the head also runs on the last position only:
 *
 *   webq_next_token_hidden = Slice(hidden, [-1], [INT64_MAX], axes [1])               [batch, 1, hidden]
 *   logits                 = head(webq_next_token_hidden)                           [batch, 1, vocab]
 *
 * A prefill of n tokens otherwise computes n vocabulary-wide rows and keeps one: the head is 32.8 M of the bench
 * Llama's 35.6 M multiply-adds per position, 136 M of Qwen2.5-0.5B's 494 M (docs/generation.md). The logits
 * output then has one position; sampling reads the last one either way (decode-loop.ts `lastLogits`).
 */
import { NEXT_TOKEN_OUTPUT, VOCAB_LIMIT_INPUT } from '../shared/next-token';
import { intAttr, makeNode, MS_DOMAIN, onnx, opsetVersion } from './model';
import { DataType, rawTensor } from './tensor';
import { indexModel } from './weights';

export { hasNextToken, NEXT_TOKEN_OUTPUT, VOCAB_LIMIT_INPUT } from '../shared/next-token';

const LAST = `${NEXT_TOKEN_OUTPUT}_last`;
const HIDDEN = `${NEXT_TOKEN_OUTPUT}_hidden`;
const ROW = `${NEXT_TOKEN_OUTPUT}_row`;
const CONSTANTS = {
  minusOne: [`${NEXT_TOKEN_OUTPUT}_minus_one`, -1n],
  end: [`${NEXT_TOKEN_OUTPUT}_end`, 0x7fffffffffffffffn],
  zero: [`${NEXT_TOKEN_OUTPUT}_zero`, 0n],
  one: [`${NEXT_TOKEN_OUTPUT}_one`, 1n],
  two: [`${NEXT_TOKEN_OUTPUT}_two`, 2n],
} as const;

function int64(name: string, value: bigint): onnx.TensorProto {
  return rawTensor(name, DataType.INT64, [1], new Uint8Array(BigInt64Array.of(value).buffer));
}

/** Adds the head to `model` in place; false (and nothing changed) when the graph cannot take it. */
export function appendNextToken(model: onnx.ModelProto): boolean {
  const graph = model.graph;
  if (!graph || opsetVersion(model) < 10) return false;
  const logits = (graph.output ?? []).find((o) => o.name === 'logits');
  const tensorType = logits?.type?.tensorType;
  const elemType = tensorType?.elemType;
  if (!logits || (elemType !== DataType.FLOAT && elemType !== DataType.FLOAT16)) return false;
  const dims = tensorType?.shape?.dim;
  if (dims && dims.length !== 3) return false;
  const taken = new Set<string>();
  for (const v of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.initializer ?? [])])
    if (v.name) taken.add(v.name);
  for (const n of graph.node ?? []) for (const o of n.output ?? []) taken.add(o);
  const names = [VOCAB_LIMIT_INPUT, NEXT_TOKEN_OUTPUT, LAST, HIDDEN, ROW, ...Object.values(CONSTANTS).map(([n]) => n)];
  if (names.some((n) => taken.has(n))) return false;

  graph.initializer ??= [];
  for (const [name, value] of Object.values(CONSTANTS)) graph.initializer.push(int64(name, value));
  const { minusOne, end, zero, one, two } = CONSTANTS;
  graph.node ??= [];
  const lastPosition = dims?.length === 3 ? lastPositionHead(model) : undefined;
  if (lastPosition) {
    const at = graph.node.indexOf(lastPosition);
    const hidden = lastPosition.input![0]!;
    graph.node.splice(
      at,
      0,
      makeNode('Slice', [hidden, minusOne[0], end[0], one[0]], [HIDDEN], `${NEXT_TOKEN_OUTPUT}/last_hidden`),
    );
    lastPosition.input![0] = HIDDEN;
    dims![1] = { dimValue: 1 };
  } else {
    graph.node.push(
      makeNode('Slice', ['logits', minusOne[0], end[0], one[0]], [LAST], `${NEXT_TOKEN_OUTPUT}/last_position`),
    );
  }
  graph.node.push(
    makeNode(
      'Slice',
      [lastPosition ? 'logits' : LAST, zero[0], VOCAB_LIMIT_INPUT, two[0]],
      [ROW],
      `${NEXT_TOKEN_OUTPUT}/vocabulary`,
    ),
    makeNode(
      'ArgMax',
      [ROW],
      [NEXT_TOKEN_OUTPUT],
      `${NEXT_TOKEN_OUTPUT}/argmax`,
      // select_last_index exists from opset 12; its default (0, the first maximum) is what is wanted anyway.
      [intAttr('axis', 2), intAttr('keepdims', 0)],
    ),
  );
  graph.input ??= [];
  graph.input.push(valueInfo(VOCAB_LIMIT_INPUT, [{ dimValue: 1 }]));
  graph.output ??= [];
  graph.output.push(valueInfo(NEXT_TOKEN_OUTPUT, [dims?.[0] ?? { dimParam: 'batch_size' }, { dimValue: 1 }]));
  return true;
}

/**
 * The node that makes `logits` when it is the output head: a MatMulNBits, or a MatMul whose weight is a constant
 * rank-2 matrix or the Transpose of one (a tied embedding table). Its rows are independent positions, so slicing its
 * input gives the last row alone; anything else (a graph input as weight, a softcap or bias after the head) is not.
 */
function lastPositionHead(model: onnx.ModelProto): onnx.INodeProto | undefined {
  const head = (model.graph?.node ?? []).find((n) => n.output?.includes('logits'));
  if (!head?.input?.[0]) return undefined;
  if (head.opType === 'MatMulNBits' && head.domain === MS_DOMAIN) return head;
  if (head.opType !== 'MatMul' || head.domain) return undefined;
  const ix = indexModel(model);
  const matrix = (name: string | null | undefined) => !!name && ix.constants.get(name)?.tensor.dims?.length === 2;
  const weight = head.input[1];
  if (matrix(weight)) return head;
  const transpose = weight ? ix.producers.get(weight) : undefined;
  return transpose?.opType === 'Transpose' && !transpose.domain && matrix(transpose.input?.[0]) ? head : undefined;
}

function valueInfo(name: string, dim: onnx.TensorShapeProto.IDimension[]): onnx.ValueInfoProto {
  return onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType: DataType.INT64, shape: { dim: dim.map((d) => ({ ...d })) } } },
  });
}
