/** Small hand-built graphs for the rewriter tests; names are meaningless on purpose (roles come from structure). */
import { intAttr, makeNode, onnx } from '../../../extension/onnx/model';
import { DataType, floatTensor } from '../../../extension/onnx/tensor';
import { gaussian } from '../quant/random';
import { singleGraphModel, valueInfo } from './ort';

export const floatAttr = (name: string, f: number) =>
  onnx.AttributeProto.create({ name, f, type: onnx.AttributeProto.AttributeType.FLOAT });
export const intsAttr = (name: string, ints: number[]) =>
  onnx.AttributeProto.create({ name, ints, type: onnx.AttributeProto.AttributeType.INTS });

export function weight(name: string, dims: number[], seed: number, scale = 0.2): onnx.TensorProto {
  return floatTensor(
    name,
    dims,
    gaussian(
      dims.reduce((a, b) => a * b, 1),
      seed,
    ).map((v) => v * scale),
  );
}

/**
 * One transformer block: q/k/v projections (w1, w2, w3), scaled scores, Softmax, context, output
 * projection w4 + bias b4, a decomposed layer norm (g, h), a feed-forward w5, and the head w6.
 */
export function tinyTransformer(T = 4, D = 32, V = 48): onnx.ModelProto {
  const c = (name: string, value: number) => floatTensor(name, [], Float32Array.of(value));
  const n = makeNode;
  return singleGraphModel(
    {
      name: 'tiny',
      input: [valueInfo('x', DataType.FLOAT, [1, T, D])],
      output: [valueInfo('y', DataType.FLOAT, [1, T, V])],
      initializer: [
        weight('w1', [D, D], 1),
        weight('w2', [D, D], 2),
        weight('w3', [D, D], 3),
        weight('w4', [D, D], 4),
        weight('b4', [D], 5),
        weight('g', [D], 6, 1),
        weight('h', [D], 7),
        weight('w5', [D, D], 8),
        weight('w6', [D, V], 9),
        c('sqrtD', Math.sqrt(D)),
        c('two', 2),
        c('eps', 1e-5),
      ],
      node: [
        n('MatMul', ['x', 'w1'], ['q'], 'n1'),
        n('MatMul', ['x', 'w2'], ['k'], 'n2'),
        n('MatMul', ['x', 'w3'], ['v'], 'n3'),
        n('Transpose', ['k'], ['kt'], 'n4', [intsAttr('perm', [0, 2, 1])]),
        n('MatMul', ['q', 'kt'], ['s'], 'n5'),
        n('Div', ['s', 'sqrtD'], ['s2'], 'n6'),
        n('Softmax', ['s2'], ['p'], 'n7', [intAttr('axis', -1)]),
        n('MatMul', ['p', 'v'], ['ctx'], 'n8'),
        n('MatMul', ['ctx', 'w4'], ['o'], 'n9'),
        n('Add', ['o', 'b4'], ['ob'], 'n10'),
        n('Add', ['ob', 'x'], ['r'], 'n11'),
        n('ReduceMean', ['r'], ['mu'], 'n12', [intsAttr('axes', [-1])]),
        n('Sub', ['r', 'mu'], ['dev'], 'n13'),
        n('Pow', ['dev', 'two'], ['sq'], 'n14'),
        n('ReduceMean', ['sq'], ['var'], 'n15', [intsAttr('axes', [-1])]),
        n('Add', ['var', 'eps'], ['ve'], 'n16'),
        n('Sqrt', ['ve'], ['sd'], 'n17'),
        n('Div', ['dev', 'sd'], ['nrm'], 'n18'),
        n('Mul', ['nrm', 'g'], ['ng'], 'n19'),
        n('Add', ['ng', 'h'], ['nh'], 'n20'),
        n('MatMul', ['nh', 'w5'], ['f'], 'n21'),
        n('Relu', ['f'], ['fr'], 'n22'),
        n('MatMul', ['fr', 'w6'], ['y'], 'n23'),
      ],
    },
    17,
  );
}
