/**
 * Load-time preparation of a model: parse, rewrite its weights to the precision policy (when one is asked
 * for), serialize, and report every weight as stored. `prepareModel` is pure and synchronous (the TypeScript
 * quantizer only); `prepareModelWith` first quantizes the MatMul/Gemm weights on a GPU where gpu-quantize.ts
 * chooses to (measured, or asked for with `workgroupSize`) and rewrites with those. Both run in a worker
 * (prepare-worker.ts) off the host's main thread, or inline where no worker can be started.
 */
import { makePolicy, parseModel, reportWeights, rewriteModel, serializeModel, type PrecisionPolicy } from '../onnx';
import type { ModelReport } from '../onnx';
import { quantizationRequests } from '../onnx/rewrite';
import { WebqError } from '../shared/errors';
import { graphIo, type GraphIo } from './graph';
import { quantizeRequests, type QuantizerEnv } from './gpu-quantize';

export interface Prepared {
  /** The bytes to create the session from (the source bytes themselves when nothing was rewritten). */
  bytes: Uint8Array;
  io: GraphIo;
  report: ModelReport;
  notes: string[];
}

export function prepareModel(source: Uint8Array, policy: PrecisionPolicy | null): Prepared {
  const model = parseModel(source);
  const io = graphIo(model);
  if (!policy) return { bytes: source, io, report: reportWeights(model), notes: [] };
  const { report, notes } = rewriteModel(model, makePolicy(policy));
  return { bytes: serializeModel(model), io, report, notes: notes.map((n) => `${n.name} (${n.op}): ${n.message}`) };
}

export async function prepareModelWith(
  source: Uint8Array,
  policy: PrecisionPolicy | null,
  env: QuantizerEnv,
): Promise<Prepared> {
  if (!policy) {
    if (env.workgroupSize)
      throw new WebqError(
        'DataError',
        'option workgroupSize applies when weights are quantized: add bits (2, 4 or 8) or useQuantization: true',
      );
    return prepareModel(source, policy);
  }
  const model = parseModel(source);
  const io = graphIo(model);
  const checked = makePolicy(policy);
  const requests = quantizationRequests(model, checked);
  if (env.workgroupSize && requests.length === 0) {
    throw new WebqError(
      'DataError',
      `option workgroupSize applies to MatMul/Gemm weights quantized to 2, 4 or 8 bits on webq's GPU kernels; at ${checked.bits} bits this model has none`,
    );
  }
  const { quantized, notes: quantizer } = await quantizeRequests(requests, env);
  const { report, notes } = rewriteModel(model, checked, { quantized });
  return {
    bytes: serializeModel(model),
    io,
    report,
    notes: [...quantizer, ...notes.map((n) => `${n.name} (${n.op}): ${n.message}`)],
  };
}
