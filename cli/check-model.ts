/**
 * The shape of what `webq check` runs: a model, how the page feeds it (a plan) and how a quantized run is judged
 * against the fp32 one. Types only, shared by the bundled models (models.ts) and the registry tasks (tasks.ts).
 */
import type { Route } from '../tools/server';
import type { B64Tensor } from './tensors';

export type Outputs = Record<string, B64Tensor>;

/** Raw tensors: steps run in order within one pass; `carry` feeds an output to the next step's input (recurrent state).
 * */
export interface TensorPlan {
  kind: 'tensors';
  steps: Record<string, B64Tensor>[];
  carry: Record<string, string>;
  collect: string[] | null;
}

/**
 * A task model's input as the page rebuilds it (page/check.js): a string, chat messages, a Blob of the file, or
 * audio samples.
 */
export type TaskInput =
  | { text: string }
  | { messages: { role: 'system' | 'user' | 'assistant'; content: string }[] }
  | { image: { b64: string; type: string } }
  | { audio: { b64: string; sampleRate: number } };

/** A registry id: one `webq.run(id, input)` per pass; `keep` names the output fields the page sends back. */
export interface TaskPlan {
  kind: 'task';
  input: TaskInput;
  keep: string[];
  /** Run options of the task (zero-shot's candidateLabels), added to the load options in each run. */
  options?: Record<string, unknown>;
}

export type Plan = TensorPlan | TaskPlan;

export interface Agreement {
  agrees: boolean;
  summary: string;
  cosine?: number;
  text?: string;
  label?: string;
  maxDiff?: number;
  decisionsDiffer?: number;
}

/** A task's output in brief, for its row: embedding dims and norm, the top label and its score, or the transcript. */
export interface OutputBrief {
  summary: string;
  dims?: number[];
  norm?: number;
  label?: string;
  score?: number;
  text?: string;
}

/** The part of ModelInfo the plans need (the page returns the whole report). */
export interface InputInfo {
  name: string;
  type: string;
  dims: (number | string | null)[];
}

/** `O`: what the page returns of a run (named tensors, or the kept fields of a task's output). */
export interface CheckModel<O = unknown> {
  label: string;
  routes: Record<string, Route>;
  /** The model reference given to window.webq: a URL, or a registry id. */
  ref(origin: string): string;
  plan(inputs: InputInfo[]): Plan;
  compare(reference: O, got: O): Agreement;
  /** Task models: what the run produced, briefly (every row that ran shows it). */
  brief?(got: O): OutputBrief;
}
