/**
 * Which pipeline of a task a page's `{ url, task }` gets, where the task has several (tasks/index.ts), without
 * loading anything: the popup uses it too, to show the options that model takes.
 */
import type { Task } from '../shared/types';

/** The model type of a Whisper exported with the merged decoder only (decoder_model_merged.onnx). */
export const WHISPER_MERGED = 'whisper-merged';
/** Whether a speech model of this type is a Whisper (the default pipeline, or its merged export): Whisper's options. */
export const isWhisperType = (modelType: string | undefined): boolean =>
  modelType === undefined || modelType === WHISPER_MERGED;

/**
 * The model type of a page's `{ url, task }` from the graph's file name (its config.json is only read once the
 * graphs are chosen). Speech recognition: Optimum's Whisper export is entered by its encoder (a file name starting
 * with `encoder`: `encoder_model.onnx`, `encoder_model_quantized.onnx`, …; the decoders are found beside it), as
 * before, or by its merged decoder (`decoder_model_merged.onnx`, `decoder_model_merged_quantized.onnx`, …: model type
 * 'whisper-merged', the encoder beside it); any other graph is taken as a one-graph CTC model (wav2vec2's
 * `model.onnx`). The CTC pipeline refuses a
 * config.json that says whisper, pointing at the encoder. Other tasks: undefined (their one pipeline).
 */
export function modelTypeOfGraph(task: Task, url: URL): string | undefined {
  if (task !== 'automatic-speech-recognition') return undefined;
  const name = url.pathname.split('/').at(-1) ?? '';
  if (/^encoder/i.test(name)) return undefined;
  return /^decoder_model_merged/i.test(name) ? WHISPER_MERGED : 'wav2vec2';
}
