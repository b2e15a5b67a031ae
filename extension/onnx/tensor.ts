/**
 * Reading and writing TensorProto contents. Weights arrive either as raw_data (little-endian bytes,
 * possibly at an unaligned offset inside the decoded protobuf buffer, hence the copies) or in the
 * typed repeated fields (float_data, int32_data for fp16, ...). Typed arrays are host-endian; every
 * browser and Node target is little-endian, like ONNX raw_data.
 */
import { float16BitsToFloat32 } from '../quant/fp16';
import { onnx, toNumber, type TensorProto } from './model';

export const DataType = onnx.TensorProto.DataType;
/** ONNX 1.15+ element types that onnx-proto 8 (ONNX 1.10) does not name. */
export const UINT4 = 21;
export const INT4 = 22;

const ELEMENT_BITS: Record<number, number> = {
  [DataType.FLOAT]: 32,
  [DataType.UINT8]: 8,
  [DataType.INT8]: 8,
  [DataType.UINT16]: 16,
  [DataType.INT16]: 16,
  [DataType.INT32]: 32,
  [DataType.INT64]: 64,
  [DataType.BOOL]: 8,
  [DataType.FLOAT16]: 16,
  [DataType.DOUBLE]: 64,
  [DataType.UINT32]: 32,
  [DataType.UINT64]: 64,
  [DataType.BFLOAT16]: 16,
  [UINT4]: 4,
  [INT4]: 4,
};

export function isFloatType(dataType: number): boolean {
  return (
    dataType === DataType.FLOAT ||
    dataType === DataType.FLOAT16 ||
    dataType === DataType.DOUBLE ||
    dataType === DataType.BFLOAT16
  );
}

export function dimsOf(t: TensorProto): number[] {
  return (t.dims ?? []).map((d) => toNumber(d));
}

export function elementCount(t: TensorProto): number {
  return dimsOf(t).reduce((a, b) => a * b, 1);
}

/** Bits per element of an ONNX element type (0 when unknown, e.g. STRING). */
export function elementBits(dataType: number): number {
  return ELEMENT_BITS[dataType] ?? 0;
}

/** Bytes the tensor's values take as stored (raw or typed fields), i.e. what a runtime must hold. */
export function storedByteCount(t: TensorProto): number {
  return Math.ceil((elementCount(t) * elementBits(t.dataType ?? 0)) / 8);
}

export function isExternal(t: TensorProto): boolean {
  return t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL;
}

function rawCopy(t: TensorProto): ArrayBuffer | undefined {
  const raw = t.rawData;
  if (!raw || raw.length === 0) return undefined;
  // An explicit copy: in Node protobufjs hands out Buffer views, whose slice() does not copy, and
  // whose .buffer is the whole decoded message (and raw_data may sit at an odd offset in it).
  const copy = new Uint8Array(raw.length);
  copy.set(raw);
  return copy.buffer;
}

/** Values of a float tensor (FLOAT, FLOAT16, DOUBLE, BFLOAT16) as float32. */
export function readFloats(t: TensorProto): Float32Array {
  const count = elementCount(t);
  const raw = rawCopy(t);
  let out: Float32Array;
  switch (t.dataType) {
    case DataType.FLOAT:
      out = raw ? new Float32Array(raw) : Float32Array.from(t.floatData ?? []);
      break;
    case DataType.DOUBLE:
      out = Float32Array.from(raw ? new Float64Array(raw) : (t.doubleData ?? []));
      break;
    case DataType.FLOAT16: {
      // Without raw_data, fp16 bit patterns sit one per int32_data entry.
      const bits = raw ? new Uint16Array(raw) : Uint16Array.from(t.int32Data ?? []);
      out = new Float32Array(bits.length);
      for (let i = 0; i < bits.length; i++) out[i] = float16BitsToFloat32(bits[i]!);
      break;
    }
    case DataType.BFLOAT16: {
      const bits = raw ? new Uint16Array(raw) : Uint16Array.from(t.int32Data ?? []);
      out = new Float32Array(new Uint32Array(Array.from(bits, (b) => b << 16)).buffer);
      break;
    }
    default:
      throw new Error(`readFloats: tensor ${t.name ?? ''} has non-float type ${String(t.dataType)}`);
  }
  if (out.length !== count)
    throw new Error(`tensor ${t.name ?? ''}: ${out.length} values for dims [${dimsOf(t).join(', ')}]`);
  return out;
}

/** A tensor whose values are `bytes` (raw_data). */
export function rawTensor(name: string, dataType: number, dims: number[], bytes: Uint8Array): onnx.TensorProto {
  return onnx.TensorProto.create({ name, dataType, dims, rawData: bytes });
}

export function floatTensor(name: string, dims: number[], values: Float32Array): onnx.TensorProto {
  return rawTensor(
    name,
    DataType.FLOAT,
    dims,
    new Uint8Array(values.buffer, values.byteOffset, values.byteLength).slice(),
  );
}

export function float16Tensor(name: string, dims: number[], bits: Uint16Array): onnx.TensorProto {
  return rawTensor(name, DataType.FLOAT16, dims, new Uint8Array(bits.buffer, bits.byteOffset, bits.byteLength).slice());
}
