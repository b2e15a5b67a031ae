/**
 * Writes a generated model in the layouts real hub exports have, so the engine is tested on them:
 *   external data  `model.onnx` + `model.onnx_data`, as onnx's `save_model(..., save_as_external_data=True)` writes
 *                  it (every initializer of at least `threshold` bytes moved to the data file, its offset aligned,
 *                  `location`/`offset`/`length` entries, `data_location: EXTERNAL`);
 *   prequantized   `model_q4.onnx`: MatMul weights already in com.microsoft MatMulNBits, as onnxruntime's
 *                  matmul_4bits_quantizer writes q4 exports (made here with webq's quantizer, then stripped of
 *                  webq's markers so the engine sees a model that came quantized, as from the hub).
 * Written independently of the engine's reader (extension/onnx/external-data.ts): a test of one against the other.
 */
import { onnx } from 'onnx-proto';
import { prepareModel } from '../extension/host/prepare';
import type { PrecisionPolicy } from '../extension/onnx';

export interface ExternalLayout {
  graph: Uint8Array;
  data: Uint8Array;
}

/** Moves every initializer of at least `threshold` raw bytes to one data file named `location`. */
export function toExternalData(
  model: Uint8Array,
  location = 'model.onnx_data',
  threshold = 1024,
  alignment = 4096,
): ExternalLayout {
  const proto = onnx.ModelProto.decode(model);
  const pieces: { offset: number; bytes: Uint8Array }[] = [];
  let size = 0;
  for (const t of proto.graph?.initializer ?? []) {
    const raw = t.rawData;
    if (!raw || raw.length < threshold) continue;
    const offset = Math.ceil(size / alignment) * alignment;
    pieces.push({ offset, bytes: raw });
    size = offset + raw.length;
    t.rawData = new Uint8Array(0);
    t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    t.externalData = [
      { key: 'location', value: location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(raw.length) },
    ].map((e) => onnx.StringStringEntryProto.create(e));
  }
  const data = new Uint8Array(size);
  for (const p of pieces) data.set(p.bytes, p.offset);
  return { graph: onnx.ModelProto.encode(proto).finish(), data };
}

/** q4 as exporters write it: MatMul weights in MatMulNBits (4-bit, blocks of 32), everything else as it was. */
export const Q4_EXPORT_POLICY: PrecisionPolicy = {
  bits: 4,
  scheme: 'symmetric',
  groupSize: 32,
  mixedPrecision: false,
  attentionPrecision: 4,
  embeddingPrecision: 4,
  skipLayerNorm: true,
  quantizeEmbeddingTables: false,
};

/** The model with its MatMul weights prequantized, carrying no trace of webq (its `webq:` doc strings removed). */
export function prequantizedModel(model: Uint8Array, policy: PrecisionPolicy = Q4_EXPORT_POLICY): Uint8Array {
  const proto = onnx.ModelProto.decode(prepareModel(model, policy).bytes);
  for (const t of proto.graph?.initializer ?? []) if (t.docString?.startsWith('webq:')) t.docString = '';
  return onnx.ModelProto.encode(proto).finish();
}
