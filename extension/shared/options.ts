/**
 * Option normalisation (SPEC §2): camelCase names and the seed framework's snake_case aliases, every value
 * range-checked, unknown names rejected. "No option is accepted and ignored": the engine refuses with
 * NotSupportedError any option this build cannot honour yet (see `UNSUPPORTED_YET` in the host).
 */
import { dataError } from './errors';
// The generation options' rules live with the sampler and detokenizer that apply them (one definition).
import { checkSamplingOptions } from '../tasks/generation/sampling';
import { checkStopStrings } from '../tasks/generation/detokenize';
import { TASKS, type Task } from './types';

/**
 * Whisper's decoding tasks (issue 18): `task: 'translate'` as a page writes it for transformers.js. They share the
 * `task` option with the pipeline tasks (TASKS) but pick the decoder's task token, not a model: a run option, and
 * `modelTask` leaves them out of what is loaded.
 */
export const WHISPER_TASKS = Object.freeze(['transcribe', 'translate'] as const);
export type WhisperTask = (typeof WHISPER_TASKS)[number];
export const isWhisperTask = (task: unknown): task is WhisperTask =>
  (WHISPER_TASKS as readonly unknown[]).includes(task);
/** The pipeline task the `task` option names, if it names one (a Whisper decoding task names none). */
export const modelTask = (task: NormalizedOptions['task']): Task | undefined =>
  task === undefined || isWhisperTask(task) ? undefined : task;

export type Backend = 'auto' | 'webgpu' | 'webnn' | 'wasm';
export type DevicePreference = 'gpu' | 'cpu' | 'npu';

export interface NormalizedOptions {
  useQuantization?: boolean;
  bits?: 2 | 4 | 8 | 16 | 32;
  scheme?: 'symmetric' | 'asymmetric';
  groupSize?: number;
  mixedPrecision?: boolean;
  attentionPrecision?: 4 | 8 | 16 | 32;
  embeddingPrecision?: 4 | 8 | 16 | 32;
  skipLayerNorm?: boolean;
  backend?: Backend;
  devicePreference?: DevicePreference;
  workgroupSize?: [number, number, number];
  shaderPrecompilation?: boolean;
  /** Text generation on WebGPU: webq's own decode engine, onnxruntime-web, or webq's where the model maps onto it. */
  engine?: 'auto' | 'webq' | 'ort';
  /**
   * Which of a registry id's tasks to load (an id may serve several, e.g. CLIP); for a model URL, its task. Or, in
   * run() on Whisper, its decoding task ('transcribe', the default, or 'translate': WHISPER_TASKS).
   */
  task?: Task | WhisperTask;
  // Task run options (SPEC §5).
  normalize?: boolean;
  topK?: number;
  maxNewTokens?: number;
  language?: string;
  /** Whisper: segment timestamps as `chunks` in the output. */
  returnTimestamps?: boolean;
  /** Zero-shot image classification: the candidate texts, and the sentence each is put in ('{}' marks where). */
  candidateLabels?: string[];
  hypothesisTemplate?: string;
  // Text generation (SPEC §8).
  temperature?: number;
  topP?: number;
  repetitionPenalty?: number;
  seed?: number;
  stop?: string[];
}
export type OptionName = keyof NormalizedOptions;

/** Options that only make sense per run; `load` rejects them. */
export const RUN_ONLY_OPTIONS = Object.freeze([
  'normalize',
  'topK',
  'maxNewTokens',
  'language',
  'returnTimestamps',
  'candidateLabels',
  'hypothesisTemplate',
  'temperature',
  'topP',
  'repetitionPenalty',
  'seed',
  'stop',
] as const) satisfies readonly OptionName[];
export type RunOnlyOption = (typeof RUN_ONLY_OPTIONS)[number];
const isRunOnly = (name: OptionName): boolean => (RUN_ONLY_OPTIONS as readonly OptionName[]).includes(name);

const ALIASES: Readonly<Record<string, OptionName>> = Object.freeze({
  use_quantization: 'useQuantization',
  mixed_precision: 'mixedPrecision',
  attention_precision: 'attentionPrecision',
  embedding_precision: 'embeddingPrecision',
  group_size: 'groupSize',
  skip_layernorm: 'skipLayerNorm',
  workgroup_size: 'workgroupSize',
  shader_precompilation: 'shaderPrecompilation',
  execution_provider: 'backend',
  device_preference: 'devicePreference',
  top_k: 'topK',
  max_new_tokens: 'maxNewTokens',
  return_timestamps: 'returnTimestamps',
  top_p: 'topP',
  repetition_penalty: 'repetitionPenalty',
  stop_strings: 'stop',
  candidate_labels: 'candidateLabels',
  hypothesis_template: 'hypothesisTemplate',
});

const oneOf =
  <T>(values: readonly T[]) =>
  (v: unknown, name: string): T => {
    if (!values.includes(v as T))
      throw dataError(
        `option ${name} must be one of ${values.map((x) => JSON.stringify(x)).join(', ')}, got ${describe(v)}`,
      );
    return v as T;
  };
const bool = (v: unknown, name: string): boolean => {
  if (typeof v !== 'boolean') throw dataError(`option ${name} must be true or false, got ${describe(v)}`);
  return v;
};
const intIn =
  (min: number, max: number) =>
  (v: unknown, name: string): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
      throw dataError(`option ${name} must be an integer from ${min} to ${max}, got ${describe(v)}`);
    return v;
  };

function groupSize(v: unknown, name: string): number {
  if (v === 0 || v === -1) return v;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 16 && v <= 65536 && (v & (v - 1)) === 0) return v;
  throw dataError(`option ${name} must be a power of two ≥ 16, 0 (per channel) or -1 (per tensor), got ${describe(v)}`);
}

function workgroupSize(v: unknown, name: string): [number, number, number] {
  if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => Number.isInteger(x) && x >= 1 && x <= 1024)) {
    throw dataError(`option ${name} must be [x, y, z] with integers from 1 to 1024, got ${describe(v)}`);
  }
  const [x, y, z] = v as number[];
  if (x! * y! * z! > 1024) throw dataError(`option ${name}: x·y·z = ${x! * y! * z!} exceeds 1024 invocations`);
  return [x!, y!, z!];
}

function task(v: unknown, name: string): Task | WhisperTask {
  if (isWhisperTask(v)) return v;
  if (TASKS.includes(v as Task)) return v as Task;
  throw dataError(
    `option ${name} must be one of ${[...TASKS, ...WHISPER_TASKS].map((x) => JSON.stringify(x)).join(', ')}, got ${describe(v)}`,
  );
}

function language(v: unknown, name: string): string {
  if (typeof v !== 'string' || !/^[a-z]{2,3}(-[A-Za-z]{2,4})?$/.test(v))
    throw dataError(`option ${name} must be a language code such as "en", got ${describe(v)}`);
  return v;
}

/** Zero-shot candidates: each one becomes a row of the text tower's batch, so their count and length are capped. */
export const MAX_CANDIDATE_LABELS = 64;
export const MAX_CANDIDATE_CHARACTERS = 200;

function candidateLabels(v: unknown, name: string): string[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_CANDIDATE_LABELS)
    throw dataError(`option ${name} must be an array of 1 to ${MAX_CANDIDATE_LABELS} strings, got ${describe(v)}`);
  v.forEach((label, i) => {
    if (typeof label !== 'string' || label.trim().length === 0 || label.length > MAX_CANDIDATE_CHARACTERS)
      throw dataError(
        `option ${name}[${i}] must be a non-empty string of at most ${MAX_CANDIDATE_CHARACTERS} characters, got ${describe(label)}`,
      );
  });
  if (new Set(v).size !== v.length) throw dataError(`option ${name} names a label twice`);
  return [...(v as string[])];
}

function hypothesisTemplate(v: unknown, name: string): string {
  if (typeof v !== 'string' || !v.includes('{}') || v.length > MAX_CANDIDATE_CHARACTERS)
    throw dataError(
      `option ${name} must be a string of at most ${MAX_CANDIDATE_CHARACTERS} characters with {} where the label goes, got ${describe(v)}`,
    );
  return v;
}

const CHECKS: { readonly [K in OptionName]-?: (v: unknown, name: string) => NonNullable<NormalizedOptions[K]> } = {
  useQuantization: bool,
  bits: oneOf([2, 4, 8, 16, 32] as const),
  scheme: oneOf(['symmetric', 'asymmetric'] as const),
  groupSize,
  mixedPrecision: bool,
  attentionPrecision: oneOf([4, 8, 16, 32] as const),
  embeddingPrecision: oneOf([4, 8, 16, 32] as const),
  skipLayerNorm: bool,
  backend: oneOf(['auto', 'webgpu', 'webnn', 'wasm'] as const),
  devicePreference: oneOf(['gpu', 'cpu', 'npu'] as const),
  workgroupSize,
  shaderPrecompilation: bool,
  engine: oneOf(['auto', 'webq', 'ort'] as const),
  task,
  normalize: bool,
  topK: intIn(1, 1000),
  maxNewTokens: intIn(1, 32_768), // a task may allow fewer (Whisper: its decoder's room)
  language,
  returnTimestamps: bool,
  candidateLabels,
  hypothesisTemplate,
  temperature: sampling('temperature'),
  topP: sampling('topP'),
  repetitionPenalty: sampling('repetitionPenalty'),
  seed: sampling('seed'),
  stop: (v) => checkStopStrings(v),
};

/** One generation option, checked by the sampler's own rule (which names the option). */
function sampling<K extends 'temperature' | 'topP' | 'repetitionPenalty' | 'seed'>(key: K) {
  return (v: unknown): number => checkSamplingOptions({ [key]: v })[key]!;
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.slice(0, 40));
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return typeof v;
}

/**
 * A plain object of any realm: its prototype is null or some realm's Object.prototype (whose own prototype is
 * null). Data from the page arrives in another realm in Firefox content scripts, so `=== Object.prototype` fails.
 */
export function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return (
    proto === null || (Object.getPrototypeOf(proto) === null && Object.prototype.toString.call(v) === '[object Object]')
  );
}

/** Fields the page API itself consumes before anything is sent (they are functions, never cloned). */
export const PAGE_ONLY_OPTIONS = Object.freeze(['signal', 'onProgress']);
const MAX_OPTION_KEYS = 64;

/**
 * The options of a method that takes only the page-side ones (`capabilities`, `unload`): SPEC §2 "No option is
 * accepted and ignored", so any other key — known to load/run or not — is a DataError naming it.
 */
export function checkCallOnlyOptions(raw: unknown, method: string): void {
  if (raw === undefined || raw === null) return;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw dataError(`options must be an object, got ${describe(raw)}`);
  for (const key of Object.keys(raw)) {
    if (PAGE_ONLY_OPTIONS.includes(key)) continue;
    const takes = PAGE_ONLY_OPTIONS.join(' and ');
    throw dataError(`option ${JSON.stringify(key.slice(0, 60))} does not apply to ${method}(); it takes only ${takes}`);
  }
}

/**
 * Validates and normalises an options object. `kind` says whether run-only options are allowed.
 * Throws DataError naming the option that is wrong.
 */
export function normalizeOptions(raw: unknown, kind: 'load' | 'run'): NormalizedOptions {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw dataError(`options must be an object, got ${describe(raw)}`);
  if (!isPlainObject(raw)) throw dataError('options must be a plain object');
  const keys = Object.keys(raw);
  if (keys.length > MAX_OPTION_KEYS)
    throw dataError(`options has ${keys.length} keys; webq knows ${Object.keys(CHECKS).length}`);
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    if (PAGE_ONLY_OPTIONS.includes(key)) continue;
    const name: OptionName | undefined = Object.hasOwn(CHECKS, key)
      ? (key as OptionName)
      : ALIASES[key] && Object.hasOwn(ALIASES, key)
        ? ALIASES[key]
        : undefined;
    if (!name)
      throw dataError(`unknown option ${JSON.stringify(key.slice(0, 60))}; see the options table in the webq docs`);
    if (Object.hasOwn(out, name)) throw dataError(`option ${name} is given twice (as ${key} and its other spelling)`);
    if (kind === 'load' && isRunOnly(name))
      throw dataError(`option ${name} is a run option; pass it to run(), not load()`);
    const value = (raw as Record<string, unknown>)[key];
    if (value === undefined) continue;
    out[name] = CHECKS[name](value, key);
  }
  if (kind === 'load' && isWhisperTask(out.task))
    throw dataError(
      `option task ${JSON.stringify(out.task)} is a Whisper decoding choice: pass it to run(); load() takes a model's task`,
    );
  if (out.useQuantization === false && out.bits !== undefined && out.bits !== 32) {
    throw dataError(`options useQuantization: false and bits: ${String(out.bits)} contradict each other`);
  }
  return out as NormalizedOptions;
}
