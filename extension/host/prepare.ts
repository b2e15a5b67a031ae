/**
 * Load-time preparation of a model: parse, rewrite its weights to the precision policy (when one is asked
 * for), serialize, and report every weight as stored. `prepareModel` is pure and synchronous (the TypeScript
 * quantizer only); `prepareModelWith` first quantizes the MatMul/Gemm weights on a GPU where gpu-quantize.ts
 * chooses to (measured, or asked for with `workgroupSize`) and rewrites with those. Both run in a worker
 * (prepare-worker.ts) off the host's main thread, or inline where no worker can be started.
 *
 * A graph with external data (`model.onnx` + `model.onnx_data`) comes with its files by name, in memory or as chunks
 * in IndexedDB (storage/stored-file.ts): quantizing reads each weight from them as the rewrite reaches it and lets
 * go of it once replaced (external-data.ts `ExternalDataLoader`), so a file is never whole in memory; a graph run as
 * stored reads them whole and hands them on to onnxruntime-web.
 * A graph that came quantized (MatMulNBits, QDQ, ...: q4 and q4f16 exports) is run as stored even when a policy
 * asks for quantization: quantizing its remaining float weights again would run neither what was published nor
 * what was asked for; a request for other bits is said in the notes (they become `fallbacks`).
 *
 * A text-generation graph (`nextToken`) gets webq's greedy next-token head (onnx/next-token.ts), quantized or run as
 * stored: its weights are untouched, only three small nodes, one input and one output are added.
 */
import { makePolicy, parseModel, reportWeights, rewriteModel, serializeModel, type PrecisionPolicy } from '../onnx';
import type { ModelReport } from '../onnx';
import {
  checkExternalData,
  ExternalDataLoader,
  inlineExternalData,
  memoryReader,
  type RangeReader,
} from '../onnx/external-data';
import type { onnx } from '../onnx/model';
import { appendNextToken } from '../onnx/next-token';
import { toIntegerMatMuls, type IntegerForm } from '../onnx/integer-matmul';
import { quantizationRequests, rewriteModelStepwise, type QuantizationRequest } from '../onnx/rewrite';
import type { QuantizedWeight } from '../quant/types';
import { WebqError } from '../shared/errors';
import { StoredFileReader, type StoredFile } from '../storage/stored-file';
import { graphIo, type GraphIo } from './graph';
import { gpuTallyNote, quantizeRequests, type GpuTally, type QuantizerEnv } from './gpu-quantize';

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

/** An external data file in IndexedDB chunks (the cache, or a download not yet committed), read in pieces. */
export interface StoredExternalFile {
  path: string;
  stored: StoredFile;
}

/** An external data file read through the caller's own reader (a file on disk, in Node tools); not for the worker. */
export interface ReadableExternalFile {
  path: string;
  reader: RangeReader;
}

export type ExternalInput = ExternalFile | StoredExternalFile | ReadableExternalFile;

/**
 * The most external data one file may hold for a graph run as stored: onnxruntime-web copies it into its wasm32
 * heap. Quantizing reads a larger file in pieces.
 */
export const AS_STORED_FILE_MAX_BYTES = 4 * 2 ** 30;

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
  const stored = asStored(source, model, graphIo(model), policy, sizesOf(external));
  if (stored) {
    if (external.length > 0) stored.externalData = external;
    return withHead(stored, model, purpose);
  }
  inlineExternalData(model, filesByName(external));
  const { report, notes } = rewriteModel(model, makePolicy(policy!));
  return finish(model, report, [], notes, purpose);
}

export async function prepareModelWith(
  source: Uint8Array,
  policy: PrecisionPolicy | null,
  env: QuantizerEnv,
  external: ExternalInput[] = [],
  purpose: PrepareFor = {},
): Promise<Prepared> {
  if (!policy && env.workgroupSize)
    throw new WebqError(
      'DataError',
      'option workgroupSize applies when weights are quantized: add bits (2, 4 or 8) or useQuantization: true',
    );
  const readers = new Map(external.map((f) => [f.path, readerOf(f)]));
  const model = parseModel(source);
  const stored = asStored(source, model, graphIo(model), policy, new Map([...readers].map(([p, r]) => [p, r.size])));
  if (stored) {
    if (policy && env.workgroupSize)
      throw new WebqError(
        'DataError',
        `option workgroupSize applies when webq quantizes the weights; this model came quantized (${stored.report.preQuantized.formats.join(', ')}) and runs as stored`,
      );
    if (readers.size > 0) stored.externalData = await wholeFiles(readers);
    return withHead(stored, model, purpose);
  }
  // Made before the dry run: it takes the external tensors over, so the dry run lists them as weights.
  const loader = readers.size > 0 ? new ExternalDataLoader(model, readers) : null;
  const checked = makePolicy(policy!);
  const requests = quantizationRequests(model, checked);
  if (env.workgroupSize && requests.length === 0) {
    throw new WebqError(
      'DataError',
      `option workgroupSize applies to MatMul/Gemm weights quantized to 2, 4 or 8 bits on webq's GPU kernels; at ${checked.bits} bits this model has none`,
    );
  }
  if (!loader) {
    const { quantized, notes: quantizer } = await quantizeRequests(requests, env);
    const { report, notes } = rewriteModel(model, checked, { quantized });
    return finish(model, report, quantizer, notes, purpose);
  }
  // Weights from external data are quantized as the rewrite reaches them, on the GPU where chosen, one at a time.
  const byWeight = new Map<string, QuantizationRequest[]>();
  for (const r of requests) byWeight.set(r.name, [...(byWeight.get(r.name) ?? []), r]);
  const quantized = new Map<string, QuantizedWeight>();
  const quantizer = new Set<string>();
  const tally: GpuTally = { weights: 0, params: 0, ms: 0 };
  let gpu: ReturnType<QuantizerEnv['gpu']> | undefined;
  const once: QuantizerEnv = { ...env, gpu: () => (gpu ??= env.gpu()) };
  const { report, notes } = await rewriteModelStepwise(
    model,
    checked,
    {
      before: async (node) => {
        if (env.signal?.aborted) throw new WebqError('AbortError', 'the load was aborted');
        const read = loader.read;
        await loader.before(node);
        if (loader.read > read) env.progress?.(loader.read, loader.total);
        for (const name of new Set(node.input ?? [])) {
          const weight = byWeight.get(name);
          if (!weight) continue;
          byWeight.delete(name);
          const done = await quantizeRequests(weight, once, tally);
          for (const [key, q] of done.quantized) quantized.set(key, q);
          for (const note of done.notes) quantizer.add(note);
        }
      },
      after: (node, dropped) => loader.after(node, dropped),
      end: () => loader.end(),
    },
    { quantized },
  );
  if (tally.weights > 0) quantizer.add(gpuTallyNote(tally, requests.length));
  return finish(model, report, [...quantizer], notes, purpose);
}

function readerOf(file: ExternalInput): RangeReader {
  if ('data' in file) return memoryReader(file.data);
  return 'stored' in file ? new StoredFileReader(file.stored) : file.reader;
}

/** External data read whole, for a graph run as stored. */
async function wholeFiles(readers: ReadonlyMap<string, RangeReader>): Promise<ExternalFile[]> {
  const files: ExternalFile[] = [];
  for (const [path, reader] of readers) {
    if (reader.size > AS_STORED_FILE_MAX_BYTES)
      throw new WebqError(
        'NotSupportedError',
        `external data file ${path} holds ${reader.size} bytes; a model run as stored can hold at most ${AS_STORED_FILE_MAX_BYTES} per file (onnxruntime-web reads it into its 4 GiB wasm heap): quantize it (option bits) to run it`,
      );
    const data = await reader.read(0, reader.size);
    // A memory file's range is a view of it: own the bytes, so they can be moved to the session.
    files.push({ path, data: data.byteLength === data.buffer.byteLength ? data : data.slice() });
  }
  return files;
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
  sizes: ReadonlyMap<string, number>,
): Prepared | undefined {
  // Checked here too when run as stored: onnxruntime-web must never be handed offsets outside a file.
  checkExternalData(model, sizes);
  const report = reportWeights(model);
  const pre = report.preQuantized;
  if (policy && !pre.detected) return undefined;
  const notes: string[] = [];
  if (policy && (pre.bits.length !== 1 || pre.bits[0] !== policy.bits))
    notes.push(
      `prequantized: the model stores ${pre.bits.join('/')}-bit weights (${pre.formats.join(', ')}); run as stored, not quantized again to ${policy.bits} bits`,
    );
  return { bytes: source, io, report, notes, asStored: true };
}

/**
 * A graph run as stored, with the next-token head when asked for and the graph takes it: serialized again (external
 * tensors stay references to their files; a graph holding its weights inline is copied once here).
 */
function withHead(stored: Prepared, model: onnx.ModelProto, purpose: PrepareFor): Prepared {
  if (!purpose.nextToken || !appendNextToken(model)) return stored;
  return { ...stored, bytes: serializeModel(model), io: graphIo(model) };
}

function sizesOf(external: ExternalFile[]): Map<string, number> {
  return new Map(external.map((f) => [f.path, f.data.byteLength]));
}

function filesByName(external: ExternalFile[]): Map<string, Uint8Array> {
  return new Map(external.map((f) => [f.path, f.data]));
}
