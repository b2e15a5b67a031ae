/**
 * Builders for the quantized nodes webq writes: com.microsoft MatMulNBits (and GatherBlockQuantized),
 * ai.onnx DequantizeLinear and Cast. Each returns the node plus the tensors it needs, named from
 * the weight they replace so a report can point at them. And the reader of a MatMulNBits weight back, for what
 * runs it another way (webq's decode engine, the wasm integer form).
 */
import type { Bits, QuantizedWeight } from '../quant/types';
import { intAttr, intAttribute, makeNode, MS_DOMAIN, type NodeProto, onnx } from './model';
import { DataType, floatTensor, float16Tensor, rawTensor } from './tensor';
import { toFloat16 } from '../quant/fp16';

export interface QuantizedNode {
  node: onnx.NodeProto;
  tensors: onnx.TensorProto[];
}

/** Scales are stored in the activation's float type (MatMulNBits requires T1 for A and scales). */
function scaleTensor(name: string, dims: number[], scales: Float32Array, floatType: number): onnx.TensorProto {
  return floatType === DataType.FLOAT16
    ? float16Tensor(name, dims, toFloat16(scales))
    : floatTensor(name, dims, scales);
}

/**
 * Y = A · B with B given as MatMulNBits: B uint8 [N, kBlocks, blockBytes], scales [N, kBlocks],
 * zero_points uint8 [N, ceil(kBlocks·bits/8)] when asymmetric (absent = 2^(bits-1)).
 */
export function matMulNBits(
  q: QuantizedWeight,
  input: string,
  output: string,
  weightName: string,
  floatType: number = DataType.FLOAT,
): QuantizedNode {
  const blockBytes = (q.blockSize * q.bits) / 8;
  const names = { data: `${weightName}_Q${q.bits}`, scales: `${weightName}_scales`, zeroPoints: `${weightName}_zp` };
  const tensors = [
    rawTensor(names.data, DataType.UINT8, [q.N, q.kBlocks, blockBytes], q.data),
    scaleTensor(names.scales, [q.N, q.kBlocks], q.scales, floatType),
  ];
  const inputs = [input, names.data, names.scales];
  if (q.zeroPoints) {
    tensors.push(rawTensor(names.zeroPoints, DataType.UINT8, [q.N, Math.ceil((q.kBlocks * q.bits) / 8)], q.zeroPoints));
    inputs.push(names.zeroPoints);
  }
  const node = makeNode(
    'MatMulNBits',
    inputs,
    [output],
    `${weightName}_MatMulNBits`,
    [intAttr('K', q.K), intAttr('N', q.N), intAttr('bits', q.bits), intAttr('block_size', q.blockSize)],
    MS_DOMAIN,
  );
  return { node, tensors };
}

/** A MatMulNBits node's layout from its attributes (K, N, bits, block_size), or why webq does not read it. */
export function matMulNBitsShape(
  node: NodeProto,
): Pick<QuantizedWeight, 'K' | 'N' | 'bits' | 'blockSize' | 'kBlocks'> | string {
  const K = intAttribute(node, 'K', 0);
  const N = intAttribute(node, 'N', 0);
  const bits = intAttribute(node, 'bits', 4);
  const blockSize = intAttribute(node, 'block_size', 0);
  if (bits !== 2 && bits !== 4 && bits !== 8) return `${bits}-bit MatMulNBits`;
  if (!(blockSize >= 16) || (blockSize & (blockSize - 1)) !== 0) return `block_size ${blockSize}`;
  return { K, N, bits: bits as Bits, blockSize, kBlocks: Math.ceil(K / blockSize) };
}

/** The weight of a MatMulNBits node of that layout from its tensors, or why their sizes do not fit it. */
export function matMulNBitsWeight(
  shape: Pick<QuantizedWeight, 'K' | 'N' | 'bits' | 'blockSize' | 'kBlocks'>,
  data: Uint8Array,
  scales: Float32Array,
  zeroPoints?: Uint8Array,
): QuantizedWeight | string {
  const { K, N, bits, blockSize, kBlocks } = shape;
  if (data.length !== (N * kBlocks * blockSize * bits) / 8 || scales.length !== N * kBlocks)
    return `tensors do not match K ${K}, N ${N}, block_size ${blockSize}`;
  return {
    ...shape,
    scheme: zeroPoints ? 'asymmetric' : 'symmetric',
    groupSize: blockSize,
    data,
    scales,
    ...(zeroPoints ? { zeroPoints } : {}),
  };
}

/**
 * Gather on a table stored row-blocked: data uint8 [V, D·bits/8] (two codes per byte at 4 bits, low
 * nibble first), scales [V, D/blockSize], zero_points packed the same way per row. `q` comes from
 * quantizeRows(table, D, V, ..., blockSize) with blockSize dividing D, so its blocks carry no padding.
 */
export function gatherBlockQuantized(
  q: QuantizedWeight,
  indices: string,
  output: string,
  weightName: string,
  floatType: number = DataType.FLOAT,
): QuantizedNode {
  const names = { data: `${weightName}_Q${q.bits}`, scales: `${weightName}_scales`, zeroPoints: `${weightName}_zp` };
  const rowBytes = (q.K * q.bits) / 8;
  const tensors = [
    rawTensor(names.data, DataType.UINT8, [q.N, rowBytes], q.data),
    scaleTensor(names.scales, [q.N, q.kBlocks], q.scales, floatType),
  ];
  const inputs = [names.data, indices, names.scales];
  if (q.zeroPoints) {
    tensors.push(rawTensor(names.zeroPoints, DataType.UINT8, [q.N, Math.ceil((q.kBlocks * q.bits) / 8)], q.zeroPoints));
    inputs.push(names.zeroPoints);
  }
  const node = makeNode(
    'GatherBlockQuantized',
    inputs,
    [output],
    `${weightName}_GatherBlockQuantized`,
    [
      intAttr('gather_axis', 0),
      intAttr('quantize_axis', 1),
      intAttr('block_size', q.blockSize),
      intAttr('bits', q.bits),
    ],
    MS_DOMAIN,
  );
  return { node, tensors };
}

export function castNode(input: string, output: string, to: number): onnx.NodeProto {
  return makeNode('Cast', [input], [output], `${output}_Cast`, [intAttr('to', to)]);
}
