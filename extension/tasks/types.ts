/**
 * What a task pipeline (SPEC §5) is to the engine: the ONNX graphs and companion files it needs, how it reads those
 * files once per model, and how it turns a page's input into the task's output by running its graphs.
 *
 * Pipelines are pure host-side code: no extension API, no onnxruntime import. The engine (or a unit test, with
 * onnxruntime-node) hands them a `GraphRunner`, so the same pipeline runs in every engine host and in Node.
 */
import type { NormalizedOptions, RunOnlyOption, WhisperTask } from '../shared/options';
import type { WireInput } from '../shared/protocol';
import type { Tensor } from '../shared/tensor';
import type { Modality, Task } from '../shared/types';

export type { Modality };

/** The companion files of a model, by their name in the model's folder (the hub's layout). */
export interface ModelFiles {
  /** A JSON file, parsed. Rejects with NotFoundError when the file is absent and `optional` is not set. */
  json(name: string): Promise<unknown>;
  /** A JSON file, or undefined when the model has none. */
  optionalJson(name: string): Promise<unknown | undefined>;
}

/**
 * A tensor left where the backend made it (GPU memory under WebGPU), not read back: the decoder's KV cache between
 * steps. It can only be fed back to the runner that made it (`GraphRunner.accepts`), and its memory is held until
 * `dispose()`: every holder must dispose it exactly once. `clone()` copies it (on the device) for a second holder.
 */
export interface DeviceTensor {
  readonly type: 'float32' | 'float16';
  readonly dims: number[];
  readonly location: 'gpu-buffer';
  clone(): DeviceTensor;
  dispose(): void;
}

/** What a cache slot holds: CPU data (wasm, Node) or a tensor kept on the device. */
export type HeldTensor = Tensor | DeviceTensor;

export function isDeviceTensor(t: HeldTensor): t is DeviceTensor {
  return (t as DeviceTensor).location === 'gpu-buffer';
}

/** Runs one of the model's graphs (by role, e.g. 'model', 'encoder', 'decoder', 'decoderWithPast'). */
export interface GraphRunner {
  run(role: string, feeds: Record<string, Tensor>): Promise<Record<string, Tensor>>;
  /**
   * Like `run`, but the outputs named in `keep` may stay on the device (as DeviceTensors, where the backend can:
   * WebGPU), and feeds may be DeviceTensors this runner made. Runners without it give CPU tensors only. With
   * `fetches`, the runner may give only those outputs (the others are not copied out of the runtime).
   */
  runKeeping?(
    role: string,
    feeds: Record<string, HeldTensor>,
    keep: readonly string[],
    fetches?: readonly string[],
  ): Promise<Record<string, HeldTensor>>;
  /** Whether a DeviceTensor can be fed to `role`'s graph now (same session, device not lost). */
  accepts?(role: string, tensor: DeviceTensor): boolean;
  /** The graph's declared inputs and outputs (names, types, dims), as parsed from its bytes. */
  io(role: string): {
    inputs: { name: string; type: string; dims: (number | string)[] }[];
    outputs: { name: string; type: string; dims: (number | string)[] }[];
    /** The graph's GroupQueryAttention nodes, when it has some (host/graph.ts). */
    groupQueryAttention?: { nodes: number; numHeads: number[]; kvNumHeads: number[]; rotaryPositions?: number };
  };
  /** Aborted when the request is: loops (a decoder) check it between steps. */
  readonly signal: AbortSignal;
  /**
   * webq's own decode engine for `role`'s graph, when the request runs on it (engine 'webq', or 'auto' where the
   * graph maps onto it): the decode loop then steps it instead of the graph.
   */
  native?(role: string): NativeStepper | undefined;
}

/**
 * What one decoder step gives: the greedy id, the last position's logits row, or (webq's engine, sampling with top-k)
 * the k best of that row as ids and logits, best first.
 */
export type StepResult =
  | { token: number; logits?: undefined; candidates?: undefined }
  | { token?: undefined; logits: Float32Array; candidates?: undefined }
  | { token?: undefined; logits?: undefined; candidates: { ids: Uint32Array; logits: Float32Array } };

/** What a step reads back: the greedy id, the logits row, or its `topK` best (ids and logits). */
export type StepWant = 'token' | 'logits' | { topK: number };

/** A decoder that keeps its own KV cache on the GPU (native/decoder.ts), as the decode loop sees it. */
export interface NativeStepper {
  /**
   * Runs `ids` after `history`, the ids `sequence` (the loop's KvCache) already holds, and gives the greedy id among
   * the first `vocabLimit`, the last logits row, or the `topK` best of the first `vocabLimit` logits (or, where the
   * engine picks them on the CPU anyway, the row). Steps run one at a time; the GPU cache holds the last sequence
   * stepped, and another one is prefilled from its history in the same step.
   */
  step(
    sequence: object,
    history: readonly number[],
    ids: readonly number[],
    want: StepWant,
    vocabLimit: number,
  ): Promise<StepResult>;
}

export interface TaskPipeline<Assets = unknown> {
  readonly task: Task;
  readonly modality: Modality;
  /**
   * The graphs by role, as file names relative to the model's folder in the hub layout (e.g.
   * `{ model: 'onnx/model.onnx' }`). The first role is the main graph (its precision is the one reported).
   */
  readonly graphs: Readonly<Record<string, string>>;
  /**
   * Roles whose graph gets webq's greedy next-token head at preparation (onnx/next-token.ts): text generation's
   * model, so a greedy step reads back one token id instead of the logits.
   */
  readonly nextTokenGraphs?: readonly string[];
  /** Which run options (SPEC §5, §8) the task takes; others are refused. */
  readonly runOptions: readonly RunOnlyOption[];
  /** The `task` values the pipeline takes in run() as a decoding choice (Whisper: transcribe, translate). */
  readonly decodingTasks?: readonly WhisperTask[];
  /** Reads the companion files once per model (tokenizer, labels, preprocessing config). Throws DataError on bad files.
   * */
  prepare(files: ModelFiles): Promise<Assets>;
  /**
   * Turns the input into the task's output (SPEC §5 "Task outputs"). `input.kind` must match `modality`
   * (text / image / audio); anything else is a DataError naming what the task takes.
   */
  run(
    assets: Assets,
    input: WireInput,
    options: NormalizedOptions,
    graphs: GraphRunner,
    hooks?: RunHooks,
  ): Promise<unknown>;
}

/** What a run may report besides its output: streamed text (text generation) and measured figures for the metrics. */
export interface RunHooks {
  /** Text decoded since the last call (valid UTF-8), when the caller streams. */
  onDelta?(text: string): void;
  /** Measured figures of this run (SPEC §8: time to first token, prefill and decode rates). */
  report?(metrics: {
    timeToFirstTokenMs?: number;
    prefillTokensPerSecond?: number;
    decodeTokensPerSecond?: number;
  }): void;
}
