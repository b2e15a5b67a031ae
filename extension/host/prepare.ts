/**
 * Load-time preparation of a model: parse, rewrite its weights to the precision policy (when one is asked
 * for), serialize, and report every weight as stored. `prepareModel` is pure and synchronous (the TypeScript
 * quantizer only); `prepareModelWith` first quantizes the MatMul/Gemm weights on a GPU where gpu-quantize.ts
 * chooses to (measured, or asked for with `workgroupSize`) and rewrites with those. Both run in a worker
 * (prepare-worker.ts) off the host's main thread, or inline where no worker can be started.
 *
 * A graph with external data (`model.onnx` + `model.onnx_data`) comes with its files by name: quantizing reads each
 * weight from them one at a time (external-data.ts); a graph run as stored hands them on to onnxruntime-web.
 * A graph that came quantized (MatMulNBits, QDQ, ...: q4 and q4f16 exports) is run as stored even when a policy
 * asks for quantization: quantizing its remaining float weights again would run neither what was published nor
 * what was asked for; a request for other bits is said in the notes (they become `fallbacks`).
 *
 * A text-generation graph (`nextToken`) gets webq's greedy next-token head (onnx/next-token.ts), quantized or run as
 * stored: its weights are untouched, only three small nodes, one input and one output are added.
 */
import { makePolicy, parseModel, reportWeights, rewriteModel, serializeModel, type PrecisionPolicy } from '../onnx';
import type { ModelReport } from '../onnx';
import { checkExternalData, inlineExternalData } from '../onnx/external-data';
import type { onnx } from '../onnx/model';
import { appendNextToken } from '../onnx/next-token';
import { toIntegerMatMuls, type IntegerForm } from '../onnx/integer-matmul';
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
  /**
   * The weights are the source's, not rewritten (no policy, or the model came quantized); `bytes` are the source
   * itself unless the next-token head was added.
   */
  asStored: boolean;
  /** The graph's external data files, for a graph run as stored (onnxruntime-web's `externalData` option). */
  externalData?: ExternalFile[];
  /** Present when quantized MatMuls were put in the integer form (`PrepareFor.integerMatMul`): what it holds. */
  integerForm?: IntegerForm;
}

/** One external data file: `path` as the graph names it (a plain file name), its bytes. */
export interface ExternalFile {
  path: string;
  data: Uint8Array;
}

/** What a graph is prepared for besides its precision. */
export interface PrepareFor {
  /** Add the greedy next-token head (text-generation's main graph). */
  nextToken?: boolean;
  /** Put the quantized MatMuls in the integer form for wasm (plan.ts `Plan.integerMatMul`). */
  integerMatMul?: boolean;
}

/**
 * MatMuls with fewer weights keep MatMulNBits in the integer form: they cost little time, and the int8 activations
 * would round their outputs for a small gain (bench/wasm-int8.ts; a 256×256 layer is where the form starts).
 */
export const INTEGER_MATMUL_MIN_WEIGHTS = 256 * 256;

export function prepareModel(
  source: Uint8Array,
  policy: PrecisionPolicy | null,
  external: ExternalFile[] = [],
  purpose: PrepareFor = {},
): Prepared {
  const model = parseModel(source);
  const stored = asStored(source, model, graphIo(model), policy, external);
  if (stored) return withHead(stored, model, purpose);
  inlineExternalData(model, filesByName(external));
  const { report, notes } = rewriteModel(model, makePolicy(policy!));
  return finish(model, report, [], notes, purpose);
}

export async function prepareModelWith(
  source: Uint8Array,
  policy: PrecisionPolicy | null,
  env: QuantizerEnv,
  external: ExternalFile[] = [],
  purpose: PrepareFor = {},
): Promise<Prepared> {
  if (!policy) {
    if (env.workgroupSize)
      throw new WebqError(
        'DataError',
        'option workgroupSize applies when weights are quantized: add bits (2, 4 or 8) or useQuantization: true',
      );
    return prepareModel(source, policy, external, purpose);
  }
  const model = parseModel(source);
  const stored = asStored(source, model, graphIo(model), policy, external);
  if (stored) {
    if (env.workgroupSize)
      throw new WebqError(
        'DataError',
        `option workgroupSize applies when webq quantizes the weights; this model came quantized (${stored.report.preQuantized.formats.join(', ')}) and runs as stored`,
      );
    return withHead(stored, model, purpose);
  }
  inlineExternalData(model, filesByName(external));
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
  return finish(model, report, quantizer, notes, purpose);
}

/** A rewritten graph: the next-token head and the integer form where asked for, serialized with its notes. */
function finish(
  model: onnx.ModelProto,
  report: ModelReport,
  quantizerNotes: string[],
  rewriteNotes: ReturnType<typeof rewriteModel>['notes'],
  purpose: PrepareFor,
): Prepared {
  if (purpose.nextToken) appendNextToken(model);
  const notes = [...quantizerNotes, ...rewriteNotes.map((n) => `${n.name} (${n.op}): ${n.message}`)];
  const integerForm = purpose.integerMatMul ? toIntegerMatMuls(model, INTEGER_MATMUL_MIN_WEIGHTS) : undefined;
  if (integerForm && integerForm.rewritten > 0)
    notes.push(
      `wasm: int8 weights and activations for ${integerForm.rewritten} of ${integerForm.matMulNBits} quantized MatMuls ` +
        `(DynamicQuantizeMatMul, activations quantized per call: onnxruntime-web's wasm computes MatMulNBits in ` +
        `fp32); their weights hold one byte each, ${integerForm.bytesAfter} bytes (${integerForm.bytesBefore} as ` +
        `stored blocks)`,
    );
  return {
    bytes: serializeModel(model),
    io: graphIo(model),
    report,
    notes,
    asStored: false,
    ...(integerForm && integerForm.rewritten > 0 ? { integerForm } : {}),
  };
}

/**
 * The source as it is, when nothing is to be rewritten: no policy, or a model that came quantized (then a request
 * for other bits is noted, never silently applied). Its external data goes with it to the session.
 */
function asStored(
  source: Uint8Array,
  model: onnx.ModelProto,
  io: GraphIo,
  policy: PrecisionPolicy | null,
  external: ExternalFile[],
): Prepared | undefined {
  // Checked here too when run as stored: onnxruntime-web must never be handed offsets outside a file.
  checkExternalData(model, new Map(external.map((f) => [f.path, f.data.byteLength])));
  const report = reportWeights(model);
  const pre = report.preQuantized;
  if (policy && !pre.detected) return undefined;
  const notes: string[] = [];
  if (policy && (pre.bits.length !== 1 || pre.bits[0] !== policy.bits))
    notes.push(
      `prequantized: the model stores ${pre.bits.join('/')}-bit weights (${pre.formats.join(', ')}); run as stored, not quantized again to ${policy.bits} bits`,
    );
  const prepared: Prepared = { bytes: source, io, report, notes, asStored: true };
  if (external.length > 0) prepared.externalData = external;
  return prepared;
}

/**
 * A graph run as stored, with the next-token head when asked for and the graph takes it: serialized again (external
 * tensors stay references to their files; a graph holding its weights inline is copied once here).
 */
function withHead(stored: Prepared, model: onnx.ModelProto, purpose: PrepareFor): Prepared {
  if (!purpose.nextToken || !appendNextToken(model)) return stored;
  return { ...stored, bytes: serializeModel(model), io: graphIo(model) };
}

function filesByName(external: ExternalFile[]): Map<string, Uint8Array> {
  return new Map(external.map((f) => [f.path, f.data]));
}
