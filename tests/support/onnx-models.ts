/**
 * Small ONNX models the tests generate (onnx-proto), for what no pretrained model exercises directly:
 * an Identity per tensor type, to prove that every type crosses every hop bit-exact.
 */
import { onnx } from 'onnx-proto';
import type { TensorType } from '../../extension/shared/tensor';

const ELEMENT: Readonly<Record<TensorType, number>> = Object.freeze({
  float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9, float16: 10,
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
