/**
 * The wasm execution form of webq's quantized MatMuls. onnxruntime-web's wasm build computes MatMulNBits in fp32
 * (it dequantizes each block and runs a float GEMM; `accuracy_level` 4 is a no-op there: bench/wasm-int8.ts), so
 * 4-bit weights run slower than fp32 on wasm. onnxruntime's integer path is fast on wasm: com.microsoft
 * DynamicQuantizeMatMul quantizes the activations to uint8 per call (one scale and zero point per tensor) and runs
 * MLAS's integer GEMM, which has WebAssembly SIMD kernels. It is a contrib op, so it needs no particular ai.onnx
 * opset (PP-OCRv4 is opset 9, before DynamicQuantizeLinear).
 *
 * Each MatMulNBits weight becomes an int8 weight with one scale per output column: the stored blocks are dequantized
 * (so the values are the 2-, 4- or 8-bit ones the model was quantized to) and rounded to int8 per column. Where the
 * weight has a single symmetric block per column the int8 values are the codes themselves, exactly. The weights
 * then take one byte each: the caller reports the bytes this form holds (`bytesAfter`).
 */
import { dequantize } from '../quant/quantize';
import type { QuantizedWeight } from '../quant/types';
import { forEachGraph, makeNode, MS_DOMAIN, type NodeProto, onnx } from './model';
import { matMulNBitsShape, matMulNBitsWeight } from './nodes';
import { DataType, floatTensor, isExternal, rawTensor, readFloats, storedByteCount } from './tensor';
import { indexModel, type ModelIndex } from './weights';

export interface IntegerForm {
  /** MatMulNBits nodes rewritten, of `matMulNBits` in the graph. */
  rewritten: number;
  matMulNBits: number;
  /** Bytes their weights (data, scales, zero points) held before, and hold as int8 weights and column scales. */
  bytesBefore: number;
  bytesAfter: number;
}

/**
 * Rewrites, in place, every MatMulNBits on a constant float32 weight with at least `minWeights` elements (K·N) to
 * the integer form (a bias input goes with it). Nodes with a g_idx input, fp16 activations, or external weights are
 * left as they are.
 */
export function toIntegerMatMuls(model: onnx.ModelProto, minWeights = 0): IntegerForm {
  const form: IntegerForm = { rewritten: 0, matMulNBits: 0, bytesBefore: 0, bytesAfter: 0 };
  const ix = indexModel(model);
  const dropped = new Set<string>();
  forEachGraph(model.graph!, (graph) => {
    const nodes: NodeProto[] = [];
    for (const node of graph.node ?? []) {
      const isMatMulNBits = node.opType === 'MatMulNBits' && node.domain === MS_DOMAIN;
      if (isMatMulNBits) form.matMulNBits++;
      const weight = isMatMulNBits ? readWeight(ix, node) : undefined;
      if (!weight || weight.K * weight.N < minWeights) {
        nodes.push(node);
        continue;
      }
      const inputs = node.input!.slice(1, 4).filter((n): n is string => !!n);
      form.bytesBefore += inputs.reduce((sum, n) => sum + storedByteCount(ix.constants.get(n)!.tensor), 0);
      inputs.forEach((n) => dropped.add(n));
      const { values, scales } = int8Columns(weight);
      const p = node.name || node.output![0]!;
      (graph.initializer ??= []).push(
        rawTensor(`${p}_int8`, DataType.INT8, [weight.K, weight.N], new Uint8Array(values.buffer)),
        floatTensor(`${p}_int8_scales`, [weight.N], scales),
      );
      form.bytesAfter += values.byteLength + scales.byteLength;
      const [a, , , , , bias] = node.input!;
      nodes.push(
        makeNode(
          'DynamicQuantizeMatMul',
          bias ? [a!, `${p}_int8`, `${p}_int8_scales`, '', bias] : [a!, `${p}_int8`, `${p}_int8_scales`],
          [node.output![0]!],
          `${p}_DynamicQuantizeMatMul`,
          [],
          MS_DOMAIN,
        ),
      );
      form.rewritten++;
    }
    graph.node = nodes;
  });
  // The replaced tensors (initializers, or Constant nodes), unless another node still reads them.
  forEachGraph(model.graph!, (graph) => {
    const read = new Set((graph.node ?? []).flatMap((n) => n.input ?? []));
    const unread = (name: string) => dropped.has(name) && !read.has(name);
    graph.initializer = (graph.initializer ?? []).filter((t) => !unread(t.name!));
    graph.node = (graph.node ?? []).filter((n) => n.opType !== 'Constant' || !unread(n.output![0]!));
  });
  return form;
}

/** The node's weight, when it is one this form can take. */
function readWeight(ix: ModelIndex, node: NodeProto): QuantizedWeight | undefined {
  const inputs = node.input ?? [];
  if (inputs[4]) return undefined; // g_idx: blocks in another order
  const shape = matMulNBitsShape(node);
  if (typeof shape === 'string') return undefined;
  const tensor = (i: number) => {
    const t = inputs[i] ? ix.constants.get(inputs[i])?.tensor : undefined;
    return t && !isExternal(t) ? t : undefined;
  };
  const data = tensor(1);
  const scales = tensor(2);
  const zeroPoints = inputs[3] ? tensor(3) : undefined;
  if (data?.dataType !== DataType.UINT8 || !data.rawData || scales?.dataType !== DataType.FLOAT) return undefined;
  if (inputs[3] && (zeroPoints?.dataType !== DataType.UINT8 || !zeroPoints.rawData)) return undefined;
  const weight = matMulNBitsWeight(
    shape,
    Uint8Array.from(data.rawData),
    readFloats(scales),
    zeroPoints ? Uint8Array.from(zeroPoints.rawData!) : undefined,
  );
  return typeof weight === 'string' ? undefined : weight;
}

/** B[K, N] as int8 with one scale per column n: max |B[:, n]| / 127 (symmetric, as MatMulInteger's int8 B wants). */
function int8Columns(q: QuantizedWeight): { values: Int8Array; scales: Float32Array } {
  const { K, N } = q;
  const w = dequantize(q);
  const scales = new Float32Array(N);
  if (q.kBlocks === 1 && q.scheme === 'symmetric') {
    // One symmetric block per column: w = (code − 2^(bits−1)) × scale, an int8 value times the block's scale.
    for (let n = 0; n < N; n++) scales[n] = q.scales[n]!;
  } else {
    for (let k = 0; k < K; k++)
      for (let n = 0; n < N; n++) scales[n] = Math.max(scales[n]!, Math.abs(w[k * N + n]!) / 127);
  }
  const values = new Int8Array(K * N);
  for (let i = 0; i < K * N; i++) {
    const s = scales[i % N]!;
    // A block's scale may be negative (the quantizer maps the larger-magnitude end to −2^(bits−1)).
    values[i] = s !== 0 ? Math.max(-128, Math.min(127, Math.round(w[i]! / s))) : 0;
  }
  return { values, scales };
}
