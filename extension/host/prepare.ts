/**
 * Load-time preparation of a model: parse, rewrite its weights to the precision policy (when one is asked
 * for), serialize, and report every weight as stored. Pure and synchronous, so it runs in a worker
 * (prepare-worker.ts) off the host's main thread, or inline where no worker can be started.
 */
import { makePolicy, parseModel, reportWeights, rewriteModel, serializeModel, type PrecisionPolicy } from '../onnx';
import type { ModelReport } from '../onnx';
import { graphIo, type GraphIo } from './graph';

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
