/**
 * A BERT-base-sized encoder generated with onnx-proto: real shapes (12 layers, hidden 768, 12 heads, FFN 3072,
 * sequence 128), random weights. No pretrained BERT ships offline in npm here, and latency/memory depend on
 * shapes, not on what the weights learned, so this is the honest stand-in for the seed's "BERT-base" rows.
 *
 * Input  x [1, seq, hidden] float32 (embeddings are left out: they are a Gather, not compute)
 * Output y [1, seq, hidden] float32
 * Each layer: post-LN attention (MatMul q/k/v/o, scaled Softmax) and GELU FFN, as in BERT. GELU is written with
 * Erf so every backend (wasm, WebGPU, WebNN) has the op; onnxruntime fuses it back into Gelu where it can.
 * Shapes are static so WebNN (which needs static shapes) can take it as is.
 */
import { createRequire } from 'node:module';
import type * as OnnxProto from 'onnx-proto';

// onnx-proto is a UMD bundle: Node's ESM loader (tsx runs bench/run.ts) sees no named exports in it, so it is
// required; Vite and Vitest would have handled `import { onnx }`, plain Node does not.
const { onnx } = createRequire(import.meta.url)('onnx-proto') as typeof OnnxProto;
type Tensor = OnnxProto.onnx.ITensorProto;
type Node = OnnxProto.onnx.INodeProto;
type Attribute = OnnxProto.onnx.IAttributeProto;

export interface EncoderShape {
  layers: number;
  hidden: number;
  heads: number;
  ffn: number;
  seq: number;
}

export const BERT_BASE: Readonly<EncoderShape> = Object.freeze({
  layers: 12,
  hidden: 768,
  heads: 12,
  ffn: 3072,
  seq: 128,
});

/** Weights the MatMuls read (the parameters quantization acts on), per the shape. */
export function matmulParams(s: EncoderShape): number {
  return s.layers * (4 * s.hidden * s.hidden + 2 * s.hidden * s.ffn);
}

/**
 * Deterministic uniform weights with BERT's initialiser spread (std 0.02 → half-width 0.02·√3). A plain LCG:
 * these are benchmark weights, not statistics, and the same seed must give the same model on every machine.
 */
function weights(count: number, seed: number, halfWidth: number): Float32Array {
  const out = new Float32Array(count);
  let s = (seed * 2654435761) >>> 0;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s / 2 ** 32) * 2 - 1) * halfWidth;
  }
  return out;
}

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;

export function bertEncoderModel(shape: EncoderShape = BERT_BASE): Uint8Array {
  const { layers, hidden, heads, ffn, seq } = shape;
  if (hidden % heads !== 0) throw new RangeError(`hidden ${hidden} is not a multiple of heads ${heads}`);
  const headDim = hidden / heads;
  const initializer: Tensor[] = [];
  const node: Node[] = [];
  let seed = 1;

  const floats = (name: string, dims: number[], data: Float32Array) => {
    initializer.push({
      name,
      dataType: FLOAT,
      dims,
      rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    });
    return name;
  };
  const ints = (name: string, values: number[]) => {
    initializer.push({
      name,
      dataType: INT64,
      dims: [values.length],
      rawData: new Uint8Array(new BigInt64Array(values.map(BigInt)).buffer),
    });
    return name;
  };
  const scalar = (name: string, value: number) => {
    initializer.push({ name, dataType: FLOAT, dims: [], rawData: new Uint8Array(new Float32Array([value]).buffer) });
    return name;
  };
  const op = (opType: string, name: string, input: string[], attribute: Attribute[] = []) => {
    node.push({ opType, name, input, output: [name], attribute });
    return name;
  };
  const linear = (p: string, input: string, k: number, n: number) => {
    const w = floats(`${p}.weight`, [k, n], weights(k * n, seed++, 0.02 * Math.sqrt(3)));
    const b = floats(`${p}.bias`, [n], weights(n, seed++, 0.01));
    return op('Add', `${p}.out`, [op('MatMul', `${p}.mm`, [input, w]), b]);
  };
  const layerNorm = (p: string, input: string) => {
    const gamma = floats(`${p}.gamma`, [hidden], new Float32Array(hidden).fill(1));
    const beta = floats(`${p}.beta`, [hidden], new Float32Array(hidden));
    return op(
      'LayerNormalization',
      `${p}.out`,
      [input, gamma, beta],
      [
        { name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: -1 },
        { name: 'epsilon', type: onnx.AttributeProto.AttributeType.FLOAT, f: 1e-12 },
      ],
    );
  };
  const perm = (values: number[]): Attribute => ({
    name: 'perm',
    type: onnx.AttributeProto.AttributeType.INTS,
    ints: values,
  });

  const splitHeads = ints('shape.heads', [1, seq, heads, headDim]);
  const mergeHeads = ints('shape.hidden', [1, seq, hidden]);
  const attnScale = scalar('attention.scale', 1 / Math.sqrt(headDim));
  const half = scalar('gelu.half', 0.5);
  const one = scalar('gelu.one', 1);
  const invSqrt2 = scalar('gelu.inv_sqrt2', Math.SQRT1_2);

  let x = 'x';
  for (let l = 0; l < layers; l++) {
    const p = `layer${l}`;
    const heads4 = (name: string, order: number[]) =>
      op(
        'Transpose',
        `${p}.${name}.t`,
        [op('Reshape', `${p}.${name}.r`, [linear(`${p}.attention.${name}`, x, hidden, hidden), splitHeads])],
        [perm(order)],
      );
    const q = heads4('query', [0, 2, 1, 3]);
    const k = heads4('key', [0, 2, 3, 1]); // pre-transposed for q·kᵀ
    const v = heads4('value', [0, 2, 1, 3]);
    const scores = op('Mul', `${p}.scores`, [op('MatMul', `${p}.qk`, [q, k]), attnScale]);
    const probs = op(
      'Softmax',
      `${p}.probs`,
      [scores],
      [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: -1 }],
    );
    const context = op('Reshape', `${p}.context`, [
      op('Transpose', `${p}.context.t`, [op('MatMul', `${p}.pv`, [probs, v])], [perm([0, 2, 1, 3])]),
      mergeHeads,
    ]);
    const attended = layerNorm(
      `${p}.attention.norm`,
      op('Add', `${p}.attention.residual`, [x, linear(`${p}.attention.output`, context, hidden, hidden)]),
    );
    const up = linear(`${p}.ffn.up`, attended, hidden, ffn);
    const erf = op('Erf', `${p}.ffn.erf`, [op('Mul', `${p}.ffn.scaled`, [up, invSqrt2])]);
    const gelu = op('Mul', `${p}.ffn.gelu`, [
      op('Mul', `${p}.ffn.halfx`, [up, half]),
      op('Add', `${p}.ffn.erf1`, [erf, one]),
    ]);
    x = layerNorm(
      `${p}.ffn.norm`,
      op('Add', `${p}.ffn.residual`, [attended, linear(`${p}.ffn.down`, gelu, ffn, hidden)]),
    );
  }
  node.push({ opType: 'Identity', name: 'y', input: [x], output: ['y'] });

  const io = (name: string) => ({
    name,
    type: {
      tensorType: { elemType: FLOAT, shape: { dim: [{ dimValue: 1 }, { dimValue: seq }, { dimValue: hidden }] } },
    },
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'webq-bench',
    opsetImport: [{ domain: '', version: 17 }],
    graph: { name: `bert_encoder_${layers}x${hidden}`, initializer, node, input: [io('x')], output: [io('y')] },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** A deterministic input for the encoder: [1, seq, hidden] values of embedding scale. */
export function bertInput(shape: EncoderShape = BERT_BASE): Float32Array {
  return weights(shape.seq * shape.hidden, 999, 1);
}
