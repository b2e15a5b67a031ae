/**
 * The mixed-precision policy of SPEC §2, as data: which precision each weight role gets.
 *   without mixedPrecision: every quantizable weight at `bits`
 *   with mixedPrecision:    embeddings at embeddingPrecision (default 8), attention q/k/v/o at
 *                           attentionPrecision (default 8), the output head at 8 (or `bits` when
 *                           that is higher: the head is protected, never degraded), the rest at `bits`
 *   always:                 biases fp32; normalisation weights fp32 when skipLayerNorm (default true)
 * What a precision becomes depends on the op (rewrite.ts): MatMul/Gemm run 2/4/8 as MatMulNBits,
 * Conv and norms only have an 8-bit form (DequantizeLinear), Gather has 4/8 (GatherBlockQuantized);
 * the report gives the precision actually stored, not the one asked for.
 */
import { dataError } from '../quant/errors';
import type { Scheme } from '../quant/types';
import { validateGroupSize } from '../quant/validate';
import type { WeightRole } from './roles';

export type Precision = 2 | 4 | 8 | 16 | 32;

export interface PrecisionPolicy {
  bits: Precision;
  scheme: Scheme;
  groupSize: number;
  mixedPrecision: boolean;
  attentionPrecision: 4 | 8 | 16 | 32;
  embeddingPrecision: 4 | 8 | 16 | 32;
  skipLayerNorm: boolean;
  /** Clipping search (quant/search.ts); undefined = on at 2 bits only. */
  scaleSearch?: boolean;
  /**
   * Whether embedding tables may become GatherBlockQuantized (undefined = yes). onnxruntime-web 1.30 has that op on
   * WebGPU only: its wasm backend (and WebNN, which falls back to wasm) fails to create the session, so the engine
   * turns this off there and the tables stay as stored.
   */
  quantizeEmbeddingTables?: boolean;
  /**
   * Whether weights whose only quantized form is an 8-bit DequantizeLinear (Conv weights, other matrices, norm
   * weights) may take it (undefined = yes). On Chromium's WebNN a DequantizeLinear before a Conv stalls the graph
   * build (PP-OCRv4 rec at 8 bits: no session after 240 s) and one before an LSTM weight's Slice fails the session
   * (Silero VAD), while MatMulNBits runs (docs/webnn.md): the engine turns this off on WebNN, where those weights
   * stay as stored (noted once per model) and only MatMul/Gemm weights are quantized.
   */
  dequantizeLinear?: boolean;
}

export const DEFAULT_POLICY: Readonly<PrecisionPolicy> = Object.freeze({
  bits: 4,
  scheme: 'symmetric',
  groupSize: 128,
  mixedPrecision: false,
  attentionPrecision: 8,
  embeddingPrecision: 8,
  skipLayerNorm: true,
});

export function makePolicy(overrides: Partial<PrecisionPolicy>): PrecisionPolicy {
  const policy = { ...DEFAULT_POLICY, ...overrides };
  if (![2, 4, 8, 16, 32].includes(policy.bits))
    throw dataError('bits', `must be 2, 4, 8, 16 or 32, got ${String(policy.bits)}`);
  if (policy.scheme !== 'symmetric' && policy.scheme !== 'asymmetric')
    throw dataError('scheme', `must be 'symmetric' or 'asymmetric', got ${String(policy.scheme)}`);
  validateGroupSize(policy.groupSize);
  for (const field of ['attentionPrecision', 'embeddingPrecision'] as const) {
    if (![4, 8, 16, 32].includes(policy[field]))
      throw dataError(field, `must be 4, 8, 16 or 32, got ${String(policy[field])}`);
  }
  for (const field of ['mixedPrecision', 'skipLayerNorm'] as const) {
    if (typeof policy[field] !== 'boolean') throw dataError(field, `must be a boolean, got ${String(policy[field])}`);
  }
  return policy;
}

/** The precision a weight of `role` is asked to have under `policy` (before op constraints). */
export function requestedPrecision(role: WeightRole, policy: PrecisionPolicy): Precision {
  switch (role) {
    case 'bias':
      return 32;
    case 'norm':
      return policy.skipLayerNorm ? 32 : policy.bits;
    case 'attention':
      return policy.mixedPrecision ? policy.attentionPrecision : policy.bits;
    case 'embedding':
      return policy.mixedPrecision ? policy.embeddingPrecision : policy.bits;
    case 'head':
      return policy.mixedPrecision ? (Math.max(8, policy.bits) as Precision) : policy.bits;
    case 'linear':
    case 'conv':
    case 'other':
      return policy.bits;
  }
}
