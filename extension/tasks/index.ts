/** The task pipelines by task name (SPEC §5). */
import { WebqError } from '../shared/errors';
import type { Task } from '../shared/types';
import { featureExtraction } from './feature-extraction';
import { imageClassification } from './image-classification';
import { imageFeatureExtraction } from './image-feature-extraction';
import { zeroShotImageClassification } from './zero-shot-image-classification';
import { speechRecognition } from './speech-recognition';
import { textGeneration } from './generation';
import type { TaskPipeline } from './types';

const PIPELINES: Readonly<Record<Task, TaskPipeline>> = Object.freeze({
  'feature-extraction': featureExtraction as TaskPipeline,
  'image-classification': imageClassification as TaskPipeline,
  'zero-shot-image-classification': zeroShotImageClassification as TaskPipeline,
  'image-feature-extraction': imageFeatureExtraction as TaskPipeline,
  'automatic-speech-recognition': speechRecognition as TaskPipeline,
  'text-generation': textGeneration as TaskPipeline,
});

export function pipelineFor(task: Task): TaskPipeline {
  const pipeline = Object.hasOwn(PIPELINES, task) ? PIPELINES[task] : undefined;
  if (!pipeline)
    throw new WebqError(
      'NotSupportedError',
      `task "${String(task).slice(0, 60)}" is not one webq runs; tasks: ${Object.keys(PIPELINES).join(', ')}`,
    );
  return pipeline;
}
