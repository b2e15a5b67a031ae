/** Error of a reconstruction and the exact storage of a quantized weight. */
import { dataError } from './errors';
import type { QuantizationError, QuantizedWeight } from './types';

export function quantizationError(original: Float32Array, dequantized: Float32Array): QuantizationError {
  if (original.length !== dequantized.length) {
    throw dataError('dequantized', `length ${dequantized.length} differs from original length ${original.length}`);
  }
  let sumAbs = 0,
    maxAbs = 0,
    signal = 0,
    noise = 0,
    dot = 0,
    norm2 = 0;
  for (let i = 0; i < original.length; i++) {
    const w = original[i]!;
    const v = dequantized[i]!;
    const d = Math.abs(w - v);
    sumAbs += d;
    if (d > maxAbs) maxAbs = d;
    signal += w * w;
    noise += d * d;
    dot += w * v;
    norm2 += v * v;
  }
  const n = original.length;
  return {
    meanAbsError: n === 0 ? 0 : sumAbs / n,
    maxAbsError: maxAbs,
    // An exact reconstruction has no noise: infinite SNR, cosine 1 (also for two zero vectors).
    snrDb: noise === 0 ? Infinity : 10 * Math.log10(signal / noise),
    cosine: signal === 0 || norm2 === 0 ? (signal === norm2 ? 1 : 0) : dot / Math.sqrt(signal * norm2),
  };
}

/** Bytes actually stored: packed data + fp32 scales + packed zero points (none when symmetric). */
export function quantizedByteCount(q: QuantizedWeight): number {
  return q.data.byteLength + q.scales.byteLength + (q.zeroPoints?.byteLength ?? 0);
}
