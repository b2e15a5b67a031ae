/**
 * Tensor helpers for the popup, which runs raw ONNX models: build input tensors from a model's declared inputs
 * (free dimensions chosen by the user, contents generated or pasted as JSON), summarise outputs, and measure how
 * far two runs' outputs agree. Pure functions, so they are unit-tested in Node.
 */
import { mulberry32 } from '../shared/random';
import { float16BitsToFloat32, float32ToFloat16Bits } from '../quant/fp16';
import { TENSOR_TYPES, isTensorType, type TensorData, type TensorType, type Tensor } from '../shared/tensor';

export type Fill =
  | { kind: 'zeros' }
  | { kind: 'random'; seed: number }
  | { kind: 'constant'; value: number }
  | { kind: 'json'; text: string };

/** The engine's cap per request (64 MiB); refusing bigger inputs here gives the user a clearer message. */
const MAX_INPUT_BYTES = 64 * 1024 * 1024;

/** A declared dimension: a number is fixed; a string (or a negative number, some exporters write -1) is free. */
export const isFreeDim = (d: number | string): boolean => typeof d === 'string' || d < 0;

/** The concrete dims of an input: fixed dims as declared, free ones from `free` (by position), default 1. */
export function resolveDims(declared: readonly (number | string)[], free: readonly (number | undefined)[]): number[] {
  return declared.map((d, i) => {
    if (!isFreeDim(d)) return d as number;
    const v = free[i] ?? 1;
    if (!Number.isSafeInteger(v) || v < 1)
      throw new RangeError(`dimension ${i} (${String(d)}) must be a whole number ≥ 1, got ${String(v)}`);
    return v;
  });
}

const count = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/** Flattens a nested JSON array of numbers (or booleans) into one list. */
function flatten(value: unknown, out: number[], depth = 0): void {
  if (depth > 8) throw new SyntaxError('JSON input is nested deeper than rank 8');
  if (Array.isArray(value)) {
    for (const v of value) flatten(v, out, depth + 1);
    return;
  }
  if (typeof value === 'number' && Number.isFinite(value)) {
    out.push(value);
    return;
  }
  if (typeof value === 'boolean') {
    out.push(value ? 1 : 0);
    return;
  }
  throw new SyntaxError(`JSON input must hold only numbers, found ${JSON.stringify(value)?.slice(0, 30)}`);
}

/** Values for one tensor, as plain numbers, before conversion to the tensor's own array type. */
function values(type: TensorType, n: number, fill: Fill): number[] | null {
  switch (fill.kind) {
    case 'zeros':
      return null;
    case 'constant':
      return new Array<number>(n).fill(fill.value);
    case 'random': {
      const next = mulberry32(fill.seed);
      // Floats in [-1, 1) (typical of normalised inputs); integers in [0, 100) (plausible ids); bool 0/1.
      const integer = type !== 'float32' && type !== 'float16';
      const span = type === 'bool' ? 2 : 100;
      return Array.from({ length: n }, () => (integer ? Math.floor(next() * span) : next() * 2 - 1));
    }
    case 'json': {
      let parsed: unknown;
      try {
        parsed = JSON.parse(fill.text);
      } catch (err) {
        throw new SyntaxError(`not valid JSON: ${(err as Error).message}`);
      }
      const out: number[] = [];
      flatten(parsed, out);
      if (out.length !== n) throw new RangeError(`JSON input has ${out.length} values; the dims need ${n}`);
      return out;
    }
  }
}

export function makeTensor(type: string, dims: number[], fill: Fill): Tensor {
  if (!isTensorType(type)) throw new TypeError(`input type ${type} is not one webq can send`);
  const n = count(dims);
  if (n * TENSOR_TYPES[type].bytes > MAX_INPUT_BYTES)
    throw new RangeError(`dims ${JSON.stringify(dims)} need more than 64 MiB`);
  const v = values(type, n, fill);
  let data: TensorData;
  if (type === 'int64') data = v ? BigInt64Array.from(v, (x) => BigInt(Math.trunc(x))) : new BigInt64Array(n);
  else if (type === 'float16') data = v ? Uint16Array.from(v, float32ToFloat16Bits) : new Uint16Array(n);
  else if (type === 'bool') data = v ? Uint8Array.from(v, (x) => (x ? 1 : 0)) : new Uint8Array(n);
  else data = v ? TENSOR_TYPES[type].array.from(v) : new TENSOR_TYPES[type].array(n);
  return { type, dims, data };
}

/** Any output data as float64 numbers (int64 through Number, float16 decoded from its bits). */
export function asNumbers(type: string, data: ArrayLike<number | bigint>): Float64Array {
  const out = new Float64Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const x = data[i]!;
    out[i] = typeof x === 'bigint' ? Number(x) : type === 'float16' ? float16BitsToFloat32(x) : x;
  }
  return out;
}

export interface Summary {
  dims: number[];
  type: string;
  count: number;
  min: number;
  max: number;
  mean: number;
  first: number[];
  nonFinite: number;
}

export function summarize(
  tensor: { type: string; dims: number[]; data: ArrayLike<number | bigint> },
  firstCount = 8,
): Summary {
  const x = asNumbers(tensor.type, tensor.data);
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let finite = 0;
  for (const v of x) {
    if (!Number.isFinite(v)) continue;
    finite++;
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return {
    dims: [...tensor.dims],
    type: tensor.type,
    count: x.length,
    min: finite ? min : NaN,
    max: finite ? max : NaN,
    mean: finite ? sum / finite : NaN,
    first: Array.from(x.subarray(0, firstCount)),
    nonFinite: x.length - finite,
  };
}

export interface Agreement {
  cosine: number;
  maxAbsDiff: number;
}

/** Cosine similarity and largest absolute difference of two outputs of one shape. */
export function agreement(
  a: { type: string; data: ArrayLike<number | bigint> },
  b: { type: string; data: ArrayLike<number | bigint> },
): Agreement {
  const x = asNumbers(a.type, a.data);
  const y = asNumbers(b.type, b.data);
  if (x.length !== y.length) throw new RangeError(`outputs differ in size (${x.length} vs ${y.length})`);
  let dot = 0;
  let nx = 0;
  let ny = 0;
  let worst = 0;
  for (let i = 0; i < x.length; i++) {
    dot += x[i]! * y[i]!;
    nx += x[i]! * x[i]!;
    ny += y[i]! * y[i]!;
    worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
  }
  // Two all-zero outputs agree perfectly; one zero and one not do not.
  const cosine = nx === 0 && ny === 0 ? 1 : nx === 0 || ny === 0 ? 0 : dot / Math.sqrt(nx * ny);
  return { cosine, maxAbsDiff: worst };
}
