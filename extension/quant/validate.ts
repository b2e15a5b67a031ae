/** Validation of quantizer inputs; every failure is a DataError naming the field. */
import { dataError } from './errors';
import type { QuantizeOptions } from './types';

export function validateOptions(opts: QuantizeOptions): void {
  if (opts === null || typeof opts !== 'object') throw dataError('options', 'expected an object');
  if (opts.bits !== 2 && opts.bits !== 4 && opts.bits !== 8) {
    throw dataError('bits', `must be 2, 4 or 8 for integer quantization (16 uses toFloat16), got ${String(opts.bits)}`);
  }
  if (opts.scheme !== 'symmetric' && opts.scheme !== 'asymmetric') {
    throw dataError('scheme', `must be 'symmetric' or 'asymmetric', got ${String(opts.scheme)}`);
  }
  validateGroupSize(opts.groupSize);
  if (opts.scaleSearch !== undefined && typeof opts.scaleSearch !== 'boolean') {
    throw dataError('scaleSearch', `must be a boolean, got ${String(opts.scaleSearch)}`);
  }
}

export function validateGroupSize(groupSize: unknown): void {
  const ok =
    groupSize === 0 ||
    groupSize === -1 ||
    (typeof groupSize === 'number' &&
      Number.isInteger(groupSize) &&
      groupSize >= 16 &&
      (groupSize & (groupSize - 1)) === 0);
  if (!ok) {
    throw dataError(
      'groupSize',
      `must be a power of two >= 16, 0 (per-channel) or -1 (per-tensor), got ${String(groupSize)}`,
    );
  }
}

export function validateMatrix(weights: Float32Array, K: number, N: number): void {
  if (!(weights instanceof Float32Array)) throw dataError('weights', 'expected a Float32Array');
  for (const [field, value] of [
    ['K', K],
    ['N', N],
  ] as const) {
    if (!Number.isSafeInteger(value) || value <= 0)
      throw dataError(field, `must be a positive integer, got ${String(value)}`);
  }
  if (weights.length !== K * N) {
    throw dataError('weights', `length ${weights.length} does not match K * N = ${K} * ${N} = ${K * N}`);
  }
  for (let i = 0; i < weights.length; i++) {
    if (!Number.isFinite(weights[i]!)) throw dataError('weights', `element ${i} is ${weights[i]}, not a finite number`);
  }
}
