/**
 * Small ONNX models the tests generate (onnx-proto), for what no pretrained model exercises directly:
 * an Identity per tensor type, to prove that every type crosses every hop bit-exact.
 */
import { onnx } from 'onnx-proto';
import type { TensorType } from '../../extension/shared/tensor';

const ELEMENT: Readonly<Record<TensorType, number>> = Object.freeze({
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
});

/** y = Identity(x), x of `type` with dims [n] (n symbolic). */
export function identityModel(type: TensorType): Uint8Array {
  const tensorType = (name: string) => ({
    name,
    type: { tensorType: { elemType: ELEMENT[type], shape: { dim: [{ dimParam: 'n' }] } } },
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'webq-tests',
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: `identity_${type}`,
      node: [{ opType: 'Identity', input: ['x'], output: ['y'], name: 'identity' }],
      input: [tensorType('x')],
      output: [tensorType('y')],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Deterministic pseudo-random floats in [-scale, scale) (a small LCG: test weights, not statistics). */
function randomFloats(count: number, seed: number, scale: number): Float32Array {
  const out = new Float32Array(count);
  let s = seed >>> 0;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s / 2 ** 32) * 2 - 1) * scale;
  }
  return out;
}

/**
 * A small static-shape CNN: x[1,8,32,32] → Conv 3×3 (16) → Relu → Conv 3×3 (16) → Relu → GlobalAveragePool →
 * y[1,16,1,1].
 * Static shapes let shaderPrecompilation warm up with exactly the shapes of the real runs.
 */
export function staticConvModel(): Uint8Array {
  const conv = (name: string, input: string, cin: number, cout: number, seed: number) => ({
    weight: {
      name: `${name}.weight`,
      dataType: 1,
      dims: [cout, cin, 3, 3],
      rawData: new Uint8Array(randomFloats(cout * cin * 9, seed, 0.2).buffer),
    },
    bias: {
      name: `${name}.bias`,
      dataType: 1,
      dims: [cout],
      rawData: new Uint8Array(randomFloats(cout, seed + 1, 0.1).buffer),
    },
    node: {
      opType: 'Conv',
      name,
      input: [input, `${name}.weight`, `${name}.bias`],
      output: [`${name}.out`],
      attribute: [
        { name: 'kernel_shape', type: 7, ints: [3, 3] },
        { name: 'pads', type: 7, ints: [1, 1, 1, 1] },
      ],
    },
  });
  const c1 = conv('conv1', 'x', 8, 16, 11);
  const c2 = conv('conv2', 'relu1', 16, 16, 23);
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'webq-tests',
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'static_conv',
      initializer: [c1.weight, c1.bias, c2.weight, c2.bias],
      node: [
        c1.node,
        { opType: 'Relu', name: 'relu1', input: ['conv1.out'], output: ['relu1'] },
        c2.node,
        { opType: 'Relu', name: 'relu2', input: ['conv2.out'], output: ['relu2'] },
        { opType: 'GlobalAveragePool', name: 'pool', input: ['relu2'], output: ['y'] },
      ],
      input: [
        {
          name: 'x',
          type: {
            tensorType: {
              elemType: 1,
              shape: { dim: [{ dimValue: 1 }, { dimValue: 8 }, { dimValue: 32 }, { dimValue: 32 }] },
            },
          },
        },
      ],
      output: [
        {
          name: 'y',
          type: {
            tensorType: {
              elemType: 1,
              shape: { dim: [{ dimValue: 1 }, { dimValue: 16 }, { dimValue: 1 }, { dimValue: 1 }] },
            },
          },
        },
      ],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** A static-shape MLP: x[1,256] → MatMul 256×256 → Add → Relu → MatMul 256×64 → y[1,64]; MatMul weights to quantize. */
export function mlpModel(): Uint8Array {
  const tensor = (name: string, dims: number[], seed: number, scale: number) => ({
    name,
    dataType: 1,
    dims,
    rawData: new Uint8Array(
      randomFloats(
        dims.reduce((a, b) => a * b, 1),
        seed,
        scale,
      ).buffer,
    ),
  });
  const shape = (n: number) => ({ tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: n }] } } });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'webq-tests',
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'mlp',
      initializer: [tensor('w1', [256, 256], 5, 0.1), tensor('b1', [256], 6, 0.1), tensor('w2', [256, 64], 7, 0.1)],
      node: [
        { opType: 'MatMul', name: 'fc1', input: ['x', 'w1'], output: ['h'] },
        { opType: 'Add', name: 'bias1', input: ['h', 'b1'], output: ['hb'] },
        { opType: 'Relu', name: 'relu', input: ['hb'], output: ['a'] },
        { opType: 'MatMul', name: 'fc2', input: ['a', 'w2'], output: ['y'] },
      ],
      input: [{ name: 'x', type: shape(256) }],
      output: [{ name: 'y', type: shape(64) }],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
