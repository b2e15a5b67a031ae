/** Test-only helpers around onnxruntime-node (the CPU EP is the reference for every rewritten model). */
import * as ort from 'onnxruntime-node';
import { onnx, serializeModel } from '../../../extension/onnx/model';

export { ort };

export async function runModel(
  model: Uint8Array | onnx.IModelProto,
  feeds: Record<string, ort.Tensor>,
  options: ort.InferenceSession.SessionOptions = {},
): Promise<Record<string, ort.Tensor>> {
  const bytes = model instanceof Uint8Array ? model : serializeModel(model);
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled', ...options });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

/** A model around a single graph, with opset imports for ai.onnx and com.microsoft. */
export function singleGraphModel(graph: onnx.IGraphProto, opset = 17): onnx.ModelProto {
  return onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'webq-test',
    opsetImport: [
      { domain: '', version: opset },
      { domain: 'com.microsoft', version: 1 },
    ],
    graph,
  });
}

export { valueInfo } from '../../../extension/onnx/model';
