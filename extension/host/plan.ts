/**
 * Planning a load (SPEC §2, §6): which options apply to this model, which backend runs it, at which precision, and
 * the keys its graphs are kept under. Pure: what it needs to know of the device (is a backend there, WebNN's
 * smallest bit width) comes through a `DeviceProbe`, so every rule is unit-tested without a browser.
 */
import type { PrecisionPolicy } from '../onnx';
import { WebqError } from '../shared/errors';
import { isWhisperTask, RUN_ONLY_OPTIONS, type NormalizedOptions, type OptionName } from '../shared/options';
import type { ConcreteBackend, ModalityDefaults, Profile } from '../shared/types';
import type { TaskPipeline } from '../tasks/types';
import type { Resolved } from './resolve';
import type { WebnnDevice } from './webnn';

export interface Target {
  backend: ConcreteBackend;
  webnnDevice?: WebnnDevice;
}

/** How every graph of one load is placed and quantized. */
export interface Plan {
  target: Target;
  policy: PrecisionPolicy | null;
  /** The quantized variant's name in the cache ('src': the weights as they are). */
  variant: string;
  shaderPrecompilation: boolean;
  /** Quantize with webq's GPU kernels at this workgroup; such a load bypasses the quantized-variant cache. */
  workgroupSize?: [number, number, number];
  /** Add the greedy next-token head (onnx/next-token.ts); set per graph by `graphPlan`. `false`: never (the engine
   * rules it out where it is known to be wrong). */
  nextToken?: boolean;
  /**
   * Text generation on WebGPU may run on webq's own decode engine (native/): the graph's prepared bytes are kept
   * after its session is made, for the engine to read its weights from on first use.
   */
  native?: boolean;
  /**
   * wasm: the quantized MatMuls run in onnxruntime's integer form (onnx/integer-matmul.ts), where onnxruntime-web's
   * wasm computes MatMulNBits in fp32 and so runs quantized models slower than fp32. Single-pass models only.
   */
  integerMatMul?: boolean;
}

/** What planning asks of the device. */
export interface DeviceProbe {
  /** Why `backend` cannot run here, or null when it can. */
  unavailable(backend: ConcreteBackend, webnnDevice: WebnnDevice): Promise<string | null>;
  /** The smallest weight width WebNN runs on that device. */
  webnnMinBits(webnnDevice: WebnnDevice): Promise<number>;
}

/** Options that only mean something when weights are quantized (workgroupSize: of webq's GPU quantize kernels). */
const QUANTIZATION_OPTIONS: readonly OptionName[] = [
  'scheme',
  'groupSize',
  'mixedPrecision',
  'attentionPrecision',
  'embeddingPrecision',
  'skipLayerNorm',
  'workgroupSize',
];

/** SPEC §2: no option is accepted and ignored. Throws DataError naming an option that would have no effect. */
export function checkOptions(options: NormalizedOptions, pipeline: TaskPipeline | null, builtIn: boolean): void {
  const quantizing = options.useQuantization === true || (options.bits !== undefined && options.bits !== 32);
  // Built-in models are quantized by their profile unless told not to, so their quantization options apply.
  const profileQuantizes = builtIn && options.useQuantization !== false && options.bits === undefined;
  for (const key of QUANTIZATION_OPTIONS) {
    if (options[key] !== undefined && !quantizing && !profileQuantizes) {
      throw new WebqError(
        'DataError',
        `option ${key} applies when weights are quantized: add bits (2, 4, 8 or 16) or useQuantization: true`,
      );
    }
  }
  for (const key of ['attentionPrecision', 'embeddingPrecision'] as const) {
    if (options[key] !== undefined && options.mixedPrecision !== true) {
      throw new WebqError('DataError', `option ${key} applies under mixed precision: add mixedPrecision: true`);
    }
  }
  if (options.engine !== undefined && pipeline?.task !== 'text-generation') {
    throw new WebqError('DataError', 'option engine applies to text-generation models');
  }
  // task: 'translate' | 'transcribe' picks a decoder's task token, which only a Whisper pipeline has.
  if (isWhisperTask(options.task) && !pipeline?.decodingTasks?.includes(options.task)) {
    const what = pipeline
      ? `task "${pipeline.task}"${pipeline.task === 'automatic-speech-recognition' ? ' (CTC)' : ''}`
      : 'a raw ONNX model';
    throw new WebqError(
      'DataError',
      `option task "${options.task}" applies to Whisper speech recognition only; this model is ${what}`,
    );
  }
  for (const key of RUN_ONLY_OPTIONS) {
    if (options[key] === undefined) continue;
    if (!pipeline)
      throw new WebqError('DataError', `option ${key} applies to task models only; this model is a raw ONNX model`);
    if (!(pipeline.runOptions as readonly string[]).includes(key)) {
      const takes = pipeline.runOptions.length ? `; it takes ${pipeline.runOptions.join(', ')}` : '';
      throw new WebqError('DataError', `option ${key} does not apply to task "${pipeline.task}"${takes}`);
    }
  }
}

/** The backend asked for (NotSupportedError if absent), or the first of the profile's order that is here. */
export async function chooseBackend(
  options: NormalizedOptions,
  profile: Profile,
  emulated: boolean,
  probe: DeviceProbe,
  fallbacks: string[],
): Promise<Target> {
  const asked = options.backend ?? 'auto';
  const webnnDevice: WebnnDevice = options.devicePreference ?? 'gpu';
  if (options.devicePreference && asked !== 'auto' && asked !== 'webnn') {
    throw new WebqError(
      'DataError',
      `option devicePreference selects a WebNN device; it does not apply to backend "${asked}"`,
    );
  }
  const target = (backend: ConcreteBackend): Target => (backend === 'webnn' ? { backend, webnnDevice } : { backend });
  if (asked !== 'auto') {
    const reason = await probe.unavailable(asked, webnnDevice);
    if (reason) throw new WebqError('NotSupportedError', `backend "${asked}" is not available here: ${reason}`);
    return target(asked);
  }
  for (const backend of profile.backendOrder) {
    const reason = await probe.unavailable(backend, webnnDevice);
    if (!reason) {
      if (emulated && backend !== 'webgpu')
        fallbacks.push(`webgpu: the adapter is emulated on the CPU, auto chose ${backend}`);
      return target(backend);
    }
    fallbacks.push(`${backend}: ${reason}`);
  }
  return { backend: 'wasm' };
}

/**
 * The precision policy of a load, or null to run the weights as they are. A raw model URL is quantized only
 * when the options ask for it (SPEC §2); a built-in model (`defaults`: its modality's profile entry) at its
 * profile's precision unless the options say otherwise. Unspecified fields come from the profile. Backends that
 * cannot run a bit width get the nearest they can, recorded in `fallbacks`.
 */
export async function precisionPolicy(
  options: NormalizedOptions,
  target: Target,
  defaults: ModalityDefaults | null,
  profile: Profile,
  probe: DeviceProbe,
  fallbacks: string[],
): Promise<PrecisionPolicy | null> {
  if (options.useQuantization === false) return null;
  const base = defaults ?? { bits: profile.bits, mixedPrecision: profile.mixedPrecision };
  let bits = options.bits ?? (options.useQuantization || defaults ? base.bits : 32);
  if (bits === 32) return null;
  if (target.backend === 'webnn' && bits < 16) {
    const min = await probe.webnnMinBits(target.webnnDevice ?? 'gpu');
    if (bits < min) {
      fallbacks.push(`webnn: ${bits}-bit unsupported, used ${min}-bit`);
      bits = min as typeof bits;
    }
  }
  return {
    bits,
    scheme: options.scheme ?? profile.scheme,
    groupSize: options.groupSize ?? profile.groupSize,
    mixedPrecision: options.mixedPrecision ?? (options.bits === undefined ? base.mixedPrecision : false),
    attentionPrecision: options.attentionPrecision ?? 8,
    embeddingPrecision: options.embeddingPrecision ?? 8,
    skipLayerNorm: options.skipLayerNorm ?? true,
    // onnxruntime-web has GatherBlockQuantized on WebGPU only (see PrecisionPolicy).
    quantizeEmbeddingTables: target.backend === 'webgpu',
    // WebNN runs quantized weights as MatMulNBits only (see PrecisionPolicy).
    dequantizeLinear: target.backend !== 'webnn',
  };
}

/**
 * The cache's name for a precision policy's variant of a model, e.g. `q4s128m8.8` ('src': as stored); then `n`:
 * norm weights quantized, `e`: embedding tables as stored, `d`: no DequantizeLinear forms (WebNN), `i`: the MatMuls
 * in the integer form (`Plan.integerMatMul`).
 */
export function variantOf(policy: PrecisionPolicy | null, integerMatMul = false): string {
  if (!policy) return 'src';
  const mixed = policy.mixedPrecision ? `m${policy.attentionPrecision}.${policy.embeddingPrecision}` : '';
  return `q${policy.bits}${policy.scheme[0]}${policy.groupSize}${mixed}${policy.skipLayerNorm ? '' : 'n'}${policy.quantizeEmbeddingTables ? '' : 'e'}${policy.dequantizeLinear === false ? 'd' : ''}${integerMatMul ? 'i' : ''}`;
}

/** Tasks that decode step by step: their graphs keep MatMulNBits (their outputs are checked token for token). */
const DECODING_TASKS: readonly string[] = ['text-generation', 'text2text-generation'];

/**
 * Whether a load on wasm runs its quantized MatMuls in the integer form: measured 1.7–2.3× faster than fp32 and
 * 2.4–3.0× faster than MatMulNBits for BERT- and ViT-base-sized encoders on onnxruntime-web's wasm
 * (bench/wasm-int8.ts, docs/benchmarks.md). Single-pass models only: a raw model, or a task of one graph that does
 * not decode (Whisper's and T5's decoders, and text generation, keep MatMulNBits, so their tokens stay those of
 * onnxruntime on the graph as quantized).
 */
function runsIntegerMatMul(resolved: Resolved, target: Target, policy: PrecisionPolicy | null): boolean {
  if (target.backend !== 'wasm' || !policy) return false;
  if (resolved.kind === 'raw') return true;
  const { pipeline } = resolved;
  return !DECODING_TASKS.includes(pipeline.task) && Object.keys(pipeline.graphs).length === 1;
}

/**
 * The plan of one graph of a task model: the pipeline's `nextTokenGraphs` get the greedy next-token head, and so
 * another variant name, so that a raw load of the same file (whose outputs a page sees) never shares their bytes.
 */
export function graphPlan(
  plan: Plan,
  pipeline: (Pick<TaskPipeline, 'nextTokenGraphs'> & { task?: string }) | null,
  role: string,
): Plan {
  const { native, ...rest } = plan;
  const nextTokenGraph = pipeline?.nextTokenGraphs?.includes(role) === true;
  // Only the decoder graph of text generation can run on the native engine.
  const base = native && nextTokenGraph && pipeline?.task === 'text-generation' ? plan : rest;
  if (plan.nextToken === false || !nextTokenGraph) return base;
  return { ...base, nextToken: true, variant: `${plan.variant}+next2` };
}

/** The key a loaded graph is kept under in memory: its partition, URL, and everything the plan changes about it. */
export function graphKey(partition: string, url: URL, plan: Plan): string {
  const { target } = plan;
  const device = target.webnnDevice ? `:${target.webnnDevice}` : '';
  const extras =
    `${plan.shaderPrecompilation ? '+warm' : ''}${plan.workgroupSize ? `+wg${plan.workgroupSize.join('x')}` : ''}` +
    (plan.native ? '+native' : '');
  return `${partition}|${url.href}#${target.backend}${device}#${plan.variant}${extras}`;
}

/**
 * The whole plan of a load: options checked, backend chosen, precision from the options or the profile. Every
 * choice the profile made for a built-in model is written to `fallbacks` (SPEC §6: the report shows it).
 */
export async function planLoad(
  resolved: Resolved,
  options: NormalizedOptions,
  profile: Profile,
  emulated: boolean,
  probe: DeviceProbe,
  fallbacks: string[],
): Promise<Plan> {
  const builtIn = resolved.kind === 'task' && resolved.builtIn;
  checkOptions(options, resolved.kind === 'task' ? resolved.pipeline : null, builtIn);
  const target = await chooseBackend(options, profile, emulated, probe, fallbacks);
  const defaults = builtIn ? profile.modalities[resolved.pipeline.modality] : null;
  const policy = await precisionPolicy(options, target, defaults, profile, probe, fallbacks);
  const shaderPrecompilation = options.shaderPrecompilation ?? defaults?.shaderPrecompilation ?? false;
  if (builtIn && options.bits === undefined && options.useQuantization === undefined) {
    const precision = policy ? `${policy.bits}-bit${policy.mixedPrecision ? ' with mixed precision' : ''}` : 'fp32';
    const warm = shaderPrecompilation && options.shaderPrecompilation === undefined ? ', shaders compiled at load' : '';
    fallbacks.push(`profile ${profile.name}: ${resolved.pipeline.modality} models at ${precision}${warm}`);
  }
  const engine = options.engine ?? 'auto';
  if (engine === 'webq' && target.backend !== 'webgpu')
    throw new WebqError(
      'NotSupportedError',
      `option engine 'webq' runs on WebGPU; this load runs on ${target.backend} (use backend 'webgpu' or engine 'ort')`,
    );
  const native = engine !== 'ort' && target.backend === 'webgpu' && resolved.kind === 'task';
  const integerMatMul = runsIntegerMatMul(resolved, target, policy);
  return {
    target,
    policy,
    variant: variantOf(policy, integerMatMul),
    shaderPrecompilation,
    workgroupSize: options.workgroupSize,
    ...(native ? { native } : {}),
    ...(integerMatMul ? { integerMatMul } : {}),
  };
}
