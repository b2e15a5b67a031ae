/**
 * quantize/dequantize of a MatMul weight B[K, N] into onnxruntime's MatMulNBits layout (types.ts,
 * SPEC §7). The formulas (scale, zero point, rounding, clamp, search) are kernels/README.md's, coded
 * in block.ts and search.ts so that webq's GPU quantizer and this one give the same codes:
 *   symmetric:  zp = 2^(bits-1), scale = m * (-1 / 2^(bits-1)) with m the value of largest magnitude
 *   asymmetric: scale = (hi - lo) / (2^bits - 1) over a range widened to hold 0,
 *               zp = clamp(roundHalfEven(-lo / scale), 0, 2^bits - 1)
 *   q = clamp(roundHalfEven(w / scale) + zp, 0, 2^bits - 1), f32 intermediates.
 *
 * Group size → layout: a power of two g gives blocks of g along K. Per-channel (0) and per-tensor (-1)
 * use one block per column (block_size = K rounded up to a power of two >= 16, since MatMulNBits
 * needs a power of two); per-tensor repeats the one scale/zero point in every block.
 */
import { type BlockParams, levelsOf, quantizeValue } from './block';
import { dataError } from './errors';
import { readCode, writeCode } from './pack';
import { rtnParams, searchParams } from './search';
import type { QuantizedWeight, QuantizeOptions } from './types';
import { validateGroupSize, validateMatrix, validateOptions } from './validate';

export function quantize(weights: Float32Array, K: number, N: number, opts: QuantizeOptions): QuantizedWeight {
  validateOptions(opts);
  validateMatrix(weights, K, N);
  return quantizeRowsUnchecked(transpose(weights, K, N), K, N, opts, layoutBlockSize(K, opts.groupSize));
}

/**
 * Same as quantize, for a weight already stored one output channel per row: rows[n * K + k] = B[k, n].
 * Conv weights [M, C*kh*kw] and embedding tables [V, D] come this way, so no transpose is needed.
 * `blockSize` overrides the storage block (GatherBlockQuantized has no padding, so it wants a block
 * that divides K); with groupSize 0 or -1 the parameters are still shared per row / per tensor.
 */
export function quantizeRows(
  rows: Float32Array,
  K: number,
  N: number,
  opts: QuantizeOptions,
  blockSize = layoutBlockSize(K, opts.groupSize),
): QuantizedWeight {
  validateOptions(opts);
  validateMatrix(rows, K, N);
  if (!Number.isInteger(blockSize) || blockSize < 16 || (blockSize & (blockSize - 1)) !== 0) {
    throw dataError('blockSize', `must be a power of two >= 16, got ${blockSize}`);
  }
  if (opts.groupSize > 0 && blockSize !== opts.groupSize) {
    throw dataError('blockSize', `must equal groupSize ${opts.groupSize} when groups are blocks`);
  }
  return quantizeRowsUnchecked(rows, K, N, opts, blockSize);
}

/** MatMulNBits block_size for a group size: the group itself, or one block covering K. */
export function layoutBlockSize(K: number, groupSize: number): number {
  validateGroupSize(groupSize);
  if (groupSize > 0) return groupSize;
  let size = 16;
  while (size < K) size *= 2;
  return size;
}

function quantizeRowsUnchecked(
  rows: Float32Array,
  K: number,
  N: number,
  opts: QuantizeOptions,
  blockSize: number,
): QuantizedWeight {
  const { bits, scheme, groupSize } = opts;
  const search = opts.scaleSearch ?? bits === 2;
  const levels = levelsOf(bits);
  const kBlocks = Math.ceil(K / blockSize);
  const blockBytes = (blockSize * bits) / 8;
  const zpRowBytes = Math.ceil((kBlocks * bits) / 8);
  const data = new Uint8Array(N * kBlocks * blockBytes);
  const scales = new Float32Array(N * kBlocks);
  const zeroPoints = scheme === 'asymmetric' ? new Uint8Array(N * zpRowBytes) : undefined;

  const paramsFor = (values: Float32Array): BlockParams =>
    search ? searchParams(values, bits, scheme) : rtnParams(values, bits, scheme);
  const tensorParams = groupSize === -1 ? paramsFor(rows) : undefined;

  for (let n = 0; n < N; n++) {
    const row = rows.subarray(n * K, (n + 1) * K);
    const rowParams = tensorParams ?? (groupSize === 0 ? paramsFor(row) : undefined);
    for (let b = 0; b < kBlocks; b++) {
      const start = b * blockSize;
      const values = row.subarray(start, Math.min(K, start + blockSize));
      const p = rowParams ?? paramsFor(values);
      const offset = (n * kBlocks + b) * blockBytes;
      for (let i = 0; i < values.length; i++) writeCode(data, offset, i, quantizeValue(values[i]!, p, levels), bits);
      // K tail: pad with the zero point so the padding dequantizes to exactly 0 (it took no part in the params).
      for (let i = values.length; i < blockSize; i++) writeCode(data, offset, i, p.zeroPoint, bits);
      scales[n * kBlocks + b] = p.scale;
      if (zeroPoints) writeCode(zeroPoints, n * zpRowBytes, b, p.zeroPoint, bits);
    }
  }
  const result: QuantizedWeight = { bits, scheme, K, N, blockSize, groupSize, kBlocks, data, scales };
  if (zeroPoints) result.zeroPoints = zeroPoints;
  return result;
}

/** The block's zero point: packed per row for asymmetric, 2^(bits-1) for symmetric. */
export function zeroPointOf(q: QuantizedWeight, n: number, b: number): number {
  if (!q.zeroPoints) return 1 << (q.bits - 1);
  return readCode(q.zeroPoints, n * Math.ceil((q.kBlocks * q.bits) / 8), b, q.bits);
}

/** B[K, N] back from the packed form: (q - zp) * scale, padding dropped. */
export function dequantize(q: QuantizedWeight): Float32Array {
  validateQuantized(q);
  const { K, N, bits, blockSize, kBlocks } = q;
  const blockBytes = (blockSize * bits) / 8;
  const out = new Float32Array(K * N);
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < kBlocks; b++) {
      const p: BlockParams = { scale: q.scales[n * kBlocks + b]!, zeroPoint: zeroPointOf(q, n, b) };
      const offset = (n * kBlocks + b) * blockBytes;
      const end = Math.min(blockSize, K - b * blockSize);
      for (let i = 0; i < end; i++) {
        out[(b * blockSize + i) * N + n] = Math.fround((readCode(q.data, offset, i, bits) - p.zeroPoint) * p.scale);
      }
    }
  }
  return out;
}

/** Checks that the buffers have the sizes the layout implies (a corrupt cache entry must not read out of bounds). */
export function validateQuantized(q: QuantizedWeight): void {
  if (q.bits !== 2 && q.bits !== 4 && q.bits !== 8) throw dataError('bits', `must be 2, 4 or 8, got ${String(q.bits)}`);
  if (!Number.isInteger(q.blockSize) || q.blockSize < 16 || (q.blockSize & (q.blockSize - 1)) !== 0) {
    throw dataError('blockSize', `must be a power of two >= 16, got ${q.blockSize}`);
  }
  if (q.kBlocks !== Math.ceil(q.K / q.blockSize))
    throw dataError('kBlocks', `must be ceil(K / blockSize) = ${Math.ceil(q.K / q.blockSize)}`);
  const dataBytes = (q.N * q.kBlocks * q.blockSize * q.bits) / 8;
  if (q.data.length !== dataBytes) throw dataError('data', `has ${q.data.length} bytes, layout needs ${dataBytes}`);
  if (q.scales.length !== q.N * q.kBlocks)
    throw dataError('scales', `has ${q.scales.length} entries, layout needs ${q.N * q.kBlocks}`);
  const zpBytes = q.N * Math.ceil((q.kBlocks * q.bits) / 8);
  if (q.scheme === 'asymmetric' && q.zeroPoints?.length !== zpBytes) {
    throw dataError('zeroPoints', `asymmetric needs ${zpBytes} bytes, got ${q.zeroPoints?.length ?? 'none'}`);
  }
}

function transpose(b: Float32Array, K: number, N: number): Float32Array {
  const rows = new Float32Array(K * N);
  for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) rows[n * K + k] = b[k * N + n]!;
  return rows;
}
