/**
 * Tensors between Node and the check page (base64 of the raw bytes, see page/check.js), deterministic inputs for
 * arbitrary models, and the comparisons used for agreement with fp32.
 */
import { mulberry32 } from '../extension/shared/random';
export { cosine, maxAbsDiff } from '../extension/shared/compare';

/** Cosine this close to 1 counts as agreement: any model's raw outputs, and a text model's embeddings. */
export const COSINE_AGREES = 0.99;
import { float32ToFloat16Bits } from '../extension/quant/fp16';
export type WireType = 'float32' | 'float16' | 'int64' | 'int32' | 'int8' | 'uint8' | 'bool';
export interface B64Tensor {
  type: WireType;
  dims: number[];
  b64: string;
}

type Numeric = Float32Array | Uint16Array | BigInt64Array | Int32Array | Int8Array | Uint8Array;

export function toB64(type: WireType, dims: number[], data: Numeric): B64Tensor {
  return { type, dims, b64: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64') };
}

/** Decodes a page tensor to plain numbers (float16 bits expanded), which is all the comparisons need. */
export function fromB64(t: B64Tensor): { dims: number[]; values: Float64Array } {
  const bytes = Buffer.from(t.b64, 'base64');
  const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  const raw: ArrayLike<number | bigint> =
    t.type === 'float32'
      ? new Float32Array(buf)
      : t.type === 'float16'
        ? Array.from(new Uint16Array(buf), halfToFloat)
        : t.type === 'int64'
          ? new BigInt64Array(buf)
          : t.type === 'int32'
            ? new Int32Array(buf)
            : t.type === 'int8'
              ? new Int8Array(buf)
              : new Uint8Array(buf);
  return { dims: t.dims, values: Float64Array.from(raw as ArrayLike<number>, (x) => Number(x)) };
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/** A seeded generator, so the same model gets the same inputs in every browser and run. */
export const prng = mulberry32;

/**
 * Inputs for a model the CLI knows nothing about: floats uniform in [-1, 1), integers in [0, 10) (small enough to
 * be valid token ids or indices for most models), booleans alternating.
 */
export function syntheticTensor(type: string, dims: number[], random: () => number): B64Tensor {
  const n = dims.reduce((a, b) => a * b, 1);
  switch (type) {
    case 'float32':
      return toB64(
        type,
        dims,
        Float32Array.from({ length: n }, () => random() * 2 - 1),
      );
    case 'float16':
      return toB64(
        type,
        dims,
        Uint16Array.from({ length: n }, () => float32ToFloat16Bits(random() * 2 - 1)),
      );
    case 'int64':
      return toB64(
        type,
        dims,
        BigInt64Array.from({ length: n }, () => BigInt(Math.floor(random() * 10))),
      );
    case 'int32':
      return toB64(
        type,
        dims,
        Int32Array.from({ length: n }, () => Math.floor(random() * 10)),
      );
    case 'int8':
      return toB64(
        type,
        dims,
        Int8Array.from({ length: n }, () => Math.floor(random() * 10)),
      );
    case 'uint8':
      return toB64(
        type,
        dims,
        Uint8Array.from({ length: n }, () => Math.floor(random() * 10)),
      );
    case 'bool':
      return toB64(
        type,
        dims,
        Uint8Array.from({ length: n }, (_, i) => i & 1),
      );
    default:
      throw new Error(`input type ${type} is not one webq accepts`);
  }
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
