/** The task pipelines by task name (SPEC §5), and by model type where a task has several. */
import { WebqError } from '../shared/errors';
import type { Task } from '../shared/types';
import { featureExtraction } from './feature-extraction';
import { imageClassification } from './image-classification';
import { imageFeatureExtraction } from './image-feature-extraction';
import { zeroShotImageClassification } from './zero-shot-image-classification';
import { speechRecognition, speechRecognitionMerged } from './speech-recognition';
import { speechRecognitionCtc } from './speech-recognition-ctc';
import { textGeneration } from './generation';
import { text2textGeneration } from './text2text-generation';
import type { TaskPipeline } from './types';

import { WHISPER_MERGED } from './model-type';

export { modelTypeOfGraph } from './model-type';

const PIPELINES: Readonly<Record<Task, TaskPipeline>> = Object.freeze({
  'feature-extraction': featureExtraction as TaskPipeline,
  'image-classification': imageClassification as TaskPipeline,
  'zero-shot-image-classification': zeroShotImageClassification as TaskPipeline,
  'image-feature-extraction': imageFeatureExtraction as TaskPipeline,
  'automatic-speech-recognition': speechRecognition as TaskPipeline,
  'text-generation': textGeneration as TaskPipeline,
  'text2text-generation': text2textGeneration as TaskPipeline,
});

/**
 * Pipelines other than the task's default, by the `model_type` of the model's config.json. Speech recognition has
 * two model families with nothing in common past the audio input: Whisper (encoder, decoders, a KV cache; the
 * default, and 'whisper-merged' for an export with decoder_model_merged.onnx only) and CTC models (wav2vec2: one
 * graph, a letter per frame). Which one a model is must be known before its
 * files are fetched, since the pipeline names the graphs: a registry entry says it (`modelType`), and for a URL
 * resolve.ts infers it from the graph's file name (model-type.ts).
 */
const BY_MODEL_TYPE: Readonly<Partial<Record<Task, Readonly<Record<string, TaskPipeline>>>>> = Object.freeze({
  'automatic-speech-recognition': Object.freeze({
    wav2vec2: speechRecognitionCtc as TaskPipeline,
    // Whisper exported with the merged decoder only (speech-recognition.ts).
    [WHISPER_MERGED]: speechRecognitionMerged as TaskPipeline,
  }),
});

export function pipelineFor(task: Task, modelType?: string): TaskPipeline {
  const pipeline = Object.hasOwn(PIPELINES, task) ? PIPELINES[task] : undefined;
  if (!pipeline)
    throw new WebqError(
      'NotSupportedError',
      `task "${String(task).slice(0, 60)}" is not one webq runs; tasks: ${Object.keys(PIPELINES).join(', ')}`,
    );
  if (modelType === undefined) return pipeline;
  const variants = BY_MODEL_TYPE[task];
  const variant = variants && Object.hasOwn(variants, modelType) ? variants[modelType] : undefined;
  if (!variant)
    throw new WebqError(
      'NotSupportedError',
      `model type "${modelType.slice(0, 60)}" is not one webq runs as ${task}${variants ? `; it runs ${Object.keys(variants).join(', ')} and the default` : ''}`,
    );
  return variant;
}
