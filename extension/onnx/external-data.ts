/**
 * ONNX external data: the Hugging Face layout stores an LLM's weights beside its graph (`onnx/model.onnx` +
 * `onnx/model.onnx_data`; protobuf caps a graph at 2 GiB), each initializer naming its file, offset and length
 * (`data_location: EXTERNAL`). A graph is untrusted, so what it names is checked before any byte is read: file
 * names are plain names beside the graph (never a path, `..` or a URL, so a graph cannot point the engine at
 * another file of the site), and every tensor's bytes lie inside its file and match its shape.
 *
 * `inlineExternalData` then points each tensor at its bytes as a view of a file held in memory (no copy).
 * `ExternalDataLoader` instead reads each tensor from its file when the rewrite reaches the first node that reads
 * it, and lets go of it once the rewrite has replaced it: quantizing a model from files that are never whole in
 * memory (read in pieces from IndexedDB, storage/stored-file.ts) holds about one weight in fp32 besides its output
 * (docs/generation.md).
 */
import { dataError } from '../quant/errors';
import { forEachGraph, type NodeProto, type onnx, type TensorProto } from './model';
import type { RewriteSteps } from './rewrite';
import { dimsOf, elementBits, elementCount, isExternal } from './tensor';
import { forEachConstantTensor } from './weights';

/** One tensor's bytes in an external file. */
export interface ExternalRef {
  tensor: TensorProto;
  location: string;
  offset: number;
  length: number;
}

/** A graph naming more files than this is refused: each is a download (exporters write one file, or one per weight). */
export const MAX_EXTERNAL_FILES = 1024;
const FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,254}$/;

/** Whether `name` is a plain file name beside the graph (no folder, no `..`, no scheme). */
export function isPlainFileName(name: string): boolean {
  return FILE_NAME.test(name);
}

/** Every tensor of the model (initializers and Constant node values, subgraphs included) stored externally. */
function externalTensors(model: onnx.IModelProto): TensorProto[] {
  const found: TensorProto[] = [];
  forEachConstantTensor(model, (t) => {
    if (isExternal(t)) found.push(t);
  });
  return found;
}

/** Reads and checks one tensor's external_data entries (not yet against the file's size). */
function refOf(tensor: TensorProto): ExternalRef {
  const name = tensor.name ?? '';
  const entries = new Map((tensor.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
  const location = entries.get('location') ?? '';
  if (!isPlainFileName(location))
    throw dataError(
      `model external data of tensor ${name.slice(0, 100)}`,
      `names the file "${location.slice(0, 100)}"; webq reads only plain file names beside the graph (no folder, "..", or URL)`,
    );
  const number = (key: string): number | undefined => {
    const text = entries.get(key);
    if (text === undefined) return undefined;
    if (!/^\d{1,16}$/.test(text) || !Number.isSafeInteger(Number(text)))
      throw dataError(
        `model external data ${location}`,
        `tensor ${name.slice(0, 100)} has ${key} "${text.slice(0, 40)}"`,
      );
    return Number(text);
  };
  const bits = elementBits(tensor.dataType ?? 0);
  if (bits === 0)
    throw dataError(
      `model external data ${location}`,
      `tensor ${name.slice(0, 100)} has a type that cannot be external`,
    );
  const expected = Math.ceil((elementCount(tensor) * bits) / 8);
  const offset = number('offset') ?? 0;
  const length = number('length') ?? expected;
  if (length !== expected)
    throw dataError(
      `model external data ${location}`,
      `tensor ${name.slice(0, 100)} has length ${length}, but its shape [${dimsOf(tensor).join(', ')}] takes ${expected} bytes`,
    );
  return { tensor, location, offset, length };
}

/**
 * The files the model's external tensors name, each once, in order of first use; throws a DataError naming the
 * tensor for a name that is not a plain file name, a bad offset or length, or more than MAX_EXTERNAL_FILES files.
 */
export function externalDataFiles(model: onnx.IModelProto): string[] {
  const files = new Set<string>();
  for (const t of externalTensors(model)) files.add(refOf(t).location);
  if (files.size > MAX_EXTERNAL_FILES)
    throw dataError('model external data', `names ${files.size} files; webq reads at most ${MAX_EXTERNAL_FILES}`);
  return [...files];
}

/** Checks every external tensor against the sizes of the files it names; a DataError names the file otherwise. */
export function checkExternalData(model: onnx.IModelProto, sizes: ReadonlyMap<string, number>): ExternalRef[] {
  const refs = externalTensors(model).map(refOf);
  for (const ref of refs) {
    const size = sizes.get(ref.location);
    if (size === undefined) throw dataError(`model external data ${ref.location}`, 'was not given');
    if (ref.offset + ref.length > size)
      throw dataError(
        `model external data ${ref.location}`,
        `tensor ${(ref.tensor.name ?? '').slice(0, 100)} lies at bytes ${ref.offset}–${ref.offset + ref.length}, past the file's end (${size} bytes)`,
      );
  }
  return refs;
}

/**
 * Makes the model self-contained: each external tensor's raw_data becomes a view of its file's bytes (no copy) and
 * its external_data entries are dropped. A tensor the rewriter replaces is then read once, when it is quantized;
 * one it keeps is copied into the serialized model.
 */
export function inlineExternalData(model: onnx.IModelProto, files: ReadonlyMap<string, Uint8Array>): void {
  const sizes = new Map([...files].map(([name, bytes]) => [name, bytes.byteLength]));
  for (const { tensor, location, offset, length } of checkExternalData(model, sizes)) {
    tensor.rawData = files.get(location)!.subarray(offset, offset + length);
    // Absent, not default: an inlined tensor serializes exactly as one that was never external.
    delete tensor.externalData;
    delete tensor.dataLocation;
  }
}

/** A file that can be read in byte ranges: in memory, or in IndexedDB chunks (storage/stored-file.ts). */
export interface RangeReader {
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** A file held in memory, as a RangeReader (its ranges are views, no copy). */
export function memoryReader(bytes: Uint8Array): RangeReader {
  return { size: bytes.byteLength, read: async (offset, length) => bytes.subarray(offset, offset + length) };
}

/**
 * The steps of a stepwise rewrite (rewrite.ts `rewriteModelStepwise`) that read a model's external tensors from their
 * files as the rewrite reaches them. Made before the rewrite, it takes every external tensor over: each loses its
 * external_data entries and holds no bytes until loaded, so the rewrite and its dry run (`quantizationRequests`)
 * see it as a weight of the graph. A tensor is read before the first node that reads it is visited, let go of
 * (its bytes dropped) after the last such node when the rewrite has replaced it everywhere, and a tensor kept as
 * it is stays for the serialized model. `held` and `peak` count the fp32 (source) bytes in memory.
 */
export class ExternalDataLoader implements RewriteSteps {
  held = 0;
  peak = 0;
  /** Bytes read so far, of `total` (every external tensor's). */
  read = 0;
  readonly total: number;
  /** By the name nodes read it under (an initializer's name, a Constant node's output). */
  private readonly byName = new Map<string, ExternalRef>();
  private readonly pending = new Set<ExternalRef>();
  private readonly released = new Set<TensorProto>();
  /** Nodes left to visit that read each tensor. */
  private readonly readers = new Map<string, number>();
  private current: string[] = [];

  constructor(
    private readonly model: onnx.IModelProto,
    private readonly files: ReadonlyMap<string, RangeReader>,
  ) {
    const refs = checkExternalData(model, new Map([...files].map(([name, f]) => [name, f.size])));
    const byTensor = new Map(refs.map((r) => [r.tensor, r]));
    forEachConstantTensor(model, (t, name) => {
      const ref = byTensor.get(t);
      if (ref) this.byName.set(name, ref);
    });
    forEachGraph(model.graph!, (graph) => {
      for (const node of graph.node ?? [])
        for (const name of new Set(node.input ?? [])) this.readers.set(name, (this.readers.get(name) ?? 0) + 1);
    });
    this.total = refs.reduce((n, r) => n + r.length, 0);
    for (const ref of refs) {
      delete ref.tensor.externalData;
      delete ref.tensor.dataLocation;
      ref.tensor.rawData = new Uint8Array(0);
      this.pending.add(ref);
    }
  }

  async before(node: NodeProto): Promise<void> {
    this.current = [...new Set(node.input ?? [])].filter((name) => this.byName.has(name));
    for (const name of this.current) await this.load(this.byName.get(name)!);
  }

  after(_node: NodeProto, dropped: (name: string) => boolean): void {
    for (const name of this.current) {
      const left = (this.readers.get(name) ?? 1) - 1;
      this.readers.set(name, left);
      const ref = this.byName.get(name)!;
      if (left > 0 || !dropped(name) || this.released.has(ref.tensor)) continue;
      ref.tensor.rawData = new Uint8Array(0);
      this.released.add(ref.tensor);
      this.held -= ref.length;
    }
    this.current = [];
  }

  /** Reads every tensor still in the model and not read yet (read by no node the rewrite visits). */
  async end(): Promise<void> {
    const byTensor = new Map([...this.pending].map((r) => [r.tensor, r]));
    const left: TensorProto[] = [];
    forEachConstantTensor(this.model, (t) => left.push(t));
    for (const t of left) {
      // A tensor let go of must be one the rewrite dropped: anything else would be serialized without its bytes.
      if (this.released.has(t))
        throw new Error(`external tensor ${t.name ?? ''} was let go of but is still in the model`);
      const ref = byTensor.get(t);
      if (ref) await this.load(ref);
    }
  }

  private async load(ref: ExternalRef): Promise<void> {
    if (!this.pending.delete(ref)) return;
    ref.tensor.rawData = await this.files.get(ref.location)!.read(ref.offset, ref.length);
    this.held += ref.length;
    this.read += ref.length;
    this.peak = Math.max(this.peak, this.held);
  }
}
