/**
 * TEST SUPPORT, not a kernel: encodes a one-node ONNX model running com.microsoft MatMulNBits on a given
 * quantized weight, so that onnxruntime (node or web) computes Y = A · dequant(B) from the very bytes webq
 * wrote. Agreement between ORT's output and webq's kernels is the proof that webq's layout is ORT's.
 */
import { onnx } from 'onnx-proto';
import type { QuantizedWeight } from '../layout';

export interface MatMulNBitsModelOptions {
  /** Fixed row count of A; symbolic ('M') when absent. */
  M?: number;
  /** fp32 [N] added to Y (MatMulNBits input 5). */
  bias?: Float32Array;
}

const bytesOf = (v: ArrayBufferView): Uint8Array => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);

function initializer(
  name: string,
  dataType: onnx.TensorProto.DataType,
  dims: number[],
  data: ArrayBufferView,
): onnx.ITensorProto {
  return { name, dataType, dims, rawData: bytesOf(data) };
}

function valueInfo(name: string, dims: (number | string)[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

const intAttr = (name: string, i: number): onnx.IAttributeProto => ({
  name,
  type: onnx.AttributeProto.AttributeType.INT,
  i,
});

/** The serialized model: input A [M, K] float, output Y [M, N] float. */
export function buildMatMulNBitsModel(q: QuantizedWeight, options: MatMulNBitsModelOptions = {}): Uint8Array {
  const { K, N, bits, blockSize, kBlocks } = q;
  const M = options.M ?? 'M';
  const blobBytes = (blockSize * bits) / 8;
  const inits: onnx.ITensorProto[] = [
    initializer('B', onnx.TensorProto.DataType.UINT8, [N, kBlocks, blobBytes], q.data),
    initializer('scales', onnx.TensorProto.DataType.FLOAT, [N * kBlocks], q.scales),
  ];
  // Optional inputs keep their positions: A, B, scales, zero_points, g_idx, bias ('' = absent).
  const inputs = ['A', 'B', 'scales', '', '', ''];
  if (q.zeroPoints) {
    inits.push(initializer('zero_points', onnx.TensorProto.DataType.UINT8, [q.zeroPoints.byteLength], q.zeroPoints));
    inputs[3] = 'zero_points';
  }
  if (options.bias) {
    inits.push(initializer('bias', onnx.TensorProto.DataType.FLOAT, [N], options.bias));
    inputs[5] = 'bias';
  }
  while (inputs[inputs.length - 1] === '') inputs.pop();
  const model: onnx.IModelProto = {
    irVersion: 8,
    producerName: 'webq-kernels-test',
    opsetImport: [
      { domain: '', version: 17 },
      { domain: 'com.microsoft', version: 1 },
    ],
    graph: {
      name: 'matmulnbits',
      node: [
        {
          opType: 'MatMulNBits',
          domain: 'com.microsoft',
          name: 'mm',
          input: inputs,
          output: ['Y'],
          attribute: [intAttr('K', K), intAttr('N', N), intAttr('bits', bits), intAttr('block_size', blockSize)],
        },
      ],
      initializer: inits,
      input: [valueInfo('A', [M, K])],
      output: [valueInfo('Y', [M, N])],
    },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}
