/**
 * Tensors as they cross the hops: `{ type, dims, data }` with `data` a typed array of the type's own kind.
 * Structured clone carries typed arrays intact (BigInt64Array included) on every hop webq uses
 * (window.postMessage, and runtime ports with `message_serialization: structured_clone`).
 */
import { dataError } from './errors';
import { float32ToFloat16Bits } from '../quant/fp16';

export const TENSOR_TYPES = Object.freeze({
  float32: { bytes: 4, array: Float32Array },
  float16: { bytes: 2, array: Uint16Array }, // raw IEEE half bits; Float16Array is accepted where it exists
  int64: { bytes: 8, array: BigInt64Array },
  int32: { bytes: 4, array: Int32Array },
  int8: { bytes: 1, array: Int8Array },
  uint8: { bytes: 1, array: Uint8Array },
  bool: { bytes: 1, array: Uint8Array },
} as const);
export type TensorType = keyof typeof TENSOR_TYPES;
export type TensorData = Float32Array | Uint16Array | BigInt64Array | Int32Array | Int8Array | Uint8Array;

/** The one tensor type: a page's input (after toTensor), every hop's message, the engine's feeds and outputs. */
export interface Tensor {
  type: TensorType;
  dims: number[];
  data: TensorData;
}

/** Limits of one request (SPEC §3, issue 2: up to 64 MiB of tensors per request). */
export const LIMITS = Object.freeze({
  requestBytes: 64 * 1024 * 1024,
  tensorsPerRequest: 256,
  rank: 8,
  nameLength: 256,
});

export function isTensorType(value: unknown): value is TensorType {
  return typeof value === 'string' && Object.hasOwn(TENSOR_TYPES, value);
}

/**
 * Typed-array kind by its tag, not `instanceof`: data posted from the page arrives in another realm (Firefox
 * content scripts see the page's constructors), where `instanceof` is false for a perfectly good array.
 */
export function isTypedArrayOf(value: unknown, name: string): boolean {
  return ArrayBuffer.isView(value) && Object.prototype.toString.call(value) === `[object ${name}]`;
}

/** Float16Array (Chrome 135+, Firefox 129+) is not in every TS lib yet. */
const isFloat16Array = (value: unknown) => isTypedArrayOf(value, 'Float16Array');

function elementCount(dims: readonly number[], where: string): number {
  let count = 1;
  dims.forEach((d, i) => {
    if (!Number.isSafeInteger(d) || d < 0)
      throw dataError(`${where}.dims[${i}] must be a non-negative integer, got ${String(d)}`);
    count *= d;
  });
  if (!Number.isSafeInteger(count)) throw dataError(`${where}.dims describe too many elements`);
  return count;
}

function checkDims(value: unknown, where: string): number[] {
  if (!Array.isArray(value)) throw dataError(`${where}.dims must be an array of integers`);
  if (value.length > LIMITS.rank)
    throw dataError(`${where}.dims has rank ${value.length}; at most ${LIMITS.rank} is supported`);
  return value.map((d, i) => {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0 || d > 2 ** 31) {
      throw dataError(
        `${where}.dims[${i}] must be an integer between 0 and 2^31, got ${typeof d === 'number' ? d : typeof d}`,
      );
    }
    return d;
  });
}

/**
 * Page side: accepts the SPEC's TensorLike (typed array or number[]) and returns the wire form.
 * number[] is converted here so that every later hop only sees typed arrays of the right kind.
 */
export function toTensor(value: unknown, where: string): Tensor {
  if (typeof value !== 'object' || value === null) throw dataError(`${where} must be a tensor { type, data, dims }`);
  const v = value as Record<string, unknown>;
  if (!isTensorType(v.type))
    throw dataError(
      `${where}.type must be one of ${Object.keys(TENSOR_TYPES).join(', ')}, got ${JSON.stringify(v.type)}`,
    );
  const type = v.type;
  const dims = checkDims(v.dims, where);
  const count = elementCount(dims, where);
  let data: unknown = v.data;
  if (Array.isArray(data)) {
    if (data.length !== count)
      throw dataError(`${where}.data has ${data.length} elements but dims [${dims}] need ${count}`);
    data = fromNumbers(type, data, where);
  } else if (type === 'float16' && isFloat16Array(data)) {
    const f16 = data as unknown as { buffer: ArrayBuffer; byteOffset: number; length: number };
    data = new Uint16Array(f16.buffer, f16.byteOffset, f16.length);
  }
  return checkTensor({ type, dims, data }, where);
}

function fromNumbers(type: TensorType, values: unknown[], where: string): TensorData {
  values.forEach((x, i) => {
    // int64 from a number needs an integer: BigInt(NaN), BigInt(Infinity) and BigInt(1.5) throw RangeError, which
    // would reach the page as an unnamed error (found by the fuzz test, tests/e2e/security.test.ts); a bigint
    // outside int64 would wrap around silently.
    const ok =
      type === 'int64'
        ? Number.isSafeInteger(x) || (typeof x === 'bigint' && x >= -(2n ** 63n) && x < 2n ** 63n)
        : type === 'bool'
          ? typeof x === 'boolean' || x === 0 || x === 1
          : typeof x === 'number';
    if (!ok) throw dataError(`${where}.data[${i}] is not a valid ${type} value`);
  });
  switch (type) {
    case 'int64':
      return BigInt64Array.from(values as (number | bigint)[], (x) => BigInt(x));
    case 'bool':
      return Uint8Array.from(values as (number | boolean)[], (x) => (x ? 1 : 0));
    case 'float16':
      return Uint16Array.from(values as number[], toHalfBits);
    default:
      return (TENSOR_TYPES[type].array as unknown as { from(v: number[]): TensorData }).from(values as number[]);
  }
}

/** Every hop: the data is a typed array of the type's own kind, and dims × element size = byte length. */
export function checkTensor(value: unknown, where: string): Tensor {
  if (typeof value !== 'object' || value === null) throw dataError(`${where} must be a tensor { type, data, dims }`);
  const v = value as Record<string, unknown>;
  if (!isTensorType(v.type)) throw dataError(`${where}.type must be one of ${Object.keys(TENSOR_TYPES).join(', ')}`);
  const dims = checkDims(v.dims, where);
  const count = elementCount(dims, where);
  const spec = TENSOR_TYPES[v.type];
  if (!isTypedArrayOf(v.data, spec.array.name)) {
    const got = ArrayBuffer.isView(v.data) ? v.data.constructor.name : typeof v.data;
    throw dataError(`${where}.data must be a ${spec.array.name} (or a number[]) for type ${v.type}, got ${got}`);
  }
  const data = v.data as TensorData;
  if (data.byteLength !== count * spec.bytes) {
    throw dataError(
      `${where}: dims [${dims}] × ${spec.bytes} bytes = ${count * spec.bytes} bytes, but data holds ${data.byteLength}`,
    );
  }
  return { type: v.type, dims, data };
}

/** IEEE 754 binary16 bits of a number, round to nearest even (used for number[] float16 input). */
export const toHalfBits = float32ToFloat16Bits;
