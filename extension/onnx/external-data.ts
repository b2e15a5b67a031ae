/**
 * ONNX external data: the Hugging Face layout stores an LLM's weights beside its graph (`onnx/model.onnx` +
 * `onnx/model.onnx_data`; protobuf caps a graph at 2 GiB), each initializer naming its file, offset and length
 * (`data_location: EXTERNAL`). A graph is untrusted, so what it names is checked before any byte is read: file
 * names are plain names beside the graph (never a path, `..` or a URL, so a graph cannot point the engine at
 * another file of the site), and every tensor's bytes lie inside its file and match its shape.
 *
 * `inlineExternalData` then points each tensor at its bytes as a view of the file (no copy): the rewriter reads one
 * weight at a time from there, so quantizing never holds a second fp32 copy of the model (docs/generation.md).
 */
import { dataError } from '../quant/errors';
import { forEachGraph, type onnx, type TensorProto } from './model';
import { dimsOf, elementBits, elementCount, isExternal } from './tensor';
import { constantNodeTensor } from './weights';

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
  forEachGraph(model.graph!, (graph) => {
    for (const t of graph.initializer ?? []) if (isExternal(t)) found.push(t);
    for (const node of graph.node ?? []) {
      if (node.opType !== 'Constant') continue;
      const t = constantNodeTensor(node);
      if (t && isExternal(t)) found.push(t);
    }
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
