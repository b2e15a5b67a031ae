/**
 * The models the benchmark runs, with real inputs made on this machine (tools/fixtures.ts: espeak-ng
 * speech, ImageMagick text) and the way each one is fed: raw ONNX models by URL, one call per inference or a stream
 * of frames with state carried (Silero VAD, timed per frame); and the registry models by id (bench/models/registry.ts).
 */
import { readFileSync } from 'node:fs';
import { ctcDecode, MODELS, ocrInput, speech16k } from '../../tools/fixtures';
import type { PlainFeeds, StreamSpec } from '../page/wire';
import { BERT_BASE, bertEncoderModel, bertInput, matmulParams, type EncoderShape } from './bert';
import { SEED_BUILDS, TEST_BUILDS, taskWorkload, type TaskWorkload, type TaskWorkloadId } from './registry';

export type RawWorkloadId = 'ppocr' | 'silero' | 'bert' | 'bert-mini';
export type WorkloadId = RawWorkloadId | TaskWorkloadId;
export type Workload = RawWorkload | TaskWorkload;
export { SEED_BUILDS, TEST_BUILDS, type TaskWorkload, type TaskWorkloadId };

export interface RawWorkload {
  kind: 'raw';
  id: RawWorkloadId;
  label: string;
  /** Path the local server serves it at. */
  path: string;
  bytes(): Uint8Array;
  /** The output compared with fp32 (cosine) and, for OCR, decoded to text. */
  outputName: string;
  single?: () => PlainFeeds;
  stream?: () => StreamSpec;
  decode?: (data: ArrayLike<number>, dims: readonly number[]) => string;
  /** what the decoded text should read (the OCR input's text) */
  expectedText?: string;
}

const OCR_TEXT = 'Hello World 2024';
const VAD_FRAMES = 40; // 1.3 s around speech onset: silence, then voice

function ppocr(): RawWorkload {
  return {
    kind: 'raw',
    id: 'ppocr',
    expectedText: OCR_TEXT,
    label: 'PP-OCRv4 rec',
    path: '/models/ppocr_rec.onnx',
    outputName: 'softmax_11.tmp_0',
    bytes: () => readFileSync(MODELS.ppocrRec),
    single: () => {
      const { data, dims } = ocrInput(OCR_TEXT);
      return { x: { type: 'float32', dims, data: Array.from(data) } };
    },
    decode: (data, dims) => ctcDecode(Float32Array.from(data), dims),
  };
}

function silero(): RawWorkload {
  return {
    kind: 'raw',
    id: 'silero',
    label: 'Silero VAD v5 (per 32 ms frame)',
    path: '/models/silero_vad.onnx',
    outputName: 'output',
    bytes: () => readFileSync(MODELS.sileroVad),
    stream: () => {
      const all = speech16k();
      const start = 16000 * 0.5 - 512 * 10; // ten frames of silence before the voice starts
      return {
        audio: Array.from(all.subarray(start, start + 512 * VAD_FRAMES)),
        frame: 512,
        frames: VAD_FRAMES,
        input: 'input',
        state: 'state',
        stateDims: [2, 1, 128],
        extra: { sr: { type: 'int64', dims: [], data: ['16000'] } },
        score: 'output',
        stateOut: 'stateN',
      };
    },
  };
}

function encoder(id: 'bert' | 'bert-mini', shape: EncoderShape): RawWorkload {
  let cached: Uint8Array | null = null; // ~340 MB for BERT-base: generated once per process
  return {
    kind: 'raw',
    id,
    path: `/models/${id}.onnx`,
    outputName: 'y',
    label: `BERT-${id === 'bert' ? 'base' : 'mini'}-sized encoder (${shape.layers}×${shape.hidden}, seq ${shape.seq}, ${(matmulParams(shape) / 1e6).toFixed(1)} M MatMul params)`,
    bytes: () => (cached ??= bertEncoderModel(shape)),
    single: () => ({ x: { type: 'float32', dims: [1, shape.seq, shape.hidden], data: Array.from(bertInput(shape)) } }),
  };
}

/** A 2-layer encoder with BERT-base's widths: the smoke test's stand-in for the full one (same ops, 1/6 the size). */
export const BERT_MINI: Readonly<EncoderShape> = Object.freeze({ ...BERT_BASE, layers: 2, seq: 32 });

export function workload(id: WorkloadId): Workload {
  switch (id) {
    case 'ppocr':
      return ppocr();
    case 'silero':
      return silero();
    case 'bert':
      return encoder('bert', BERT_BASE);
    case 'bert-mini':
      return encoder('bert-mini', BERT_MINI);
    default:
      return taskWorkload(id);
  }
}

export { OCR_TEXT };
