/**
 * text-generation (SPEC §8): a page's string or chat messages → prompt ids (chat template, tokenizer) → the decode
 * loop over the model's one graph → `{ text, tokens, finishReason, usage }`, with text deltas for streaming and the
 * prefill/decode timings for the metrics. Files in the Hugging Face ONNX layout (onnx-community/Qwen2.5-0.5B-Instruct,
 * onnx-community/Llama-3.2-1B-Instruct): onnx/model.onnx, config.json, generation_config.json, tokenizer.json,
 * tokenizer_config.json.
 *
 * Registered as the 'text-generation' TaskPipeline (tasks/index.ts); `generateText` also serves callers that keep a
 * session's KV cache between runs.
 */
import { nativeConfig, type NativeConfig, type NotNative } from '../../native/decoder-weights';
import { dataError, WebqError } from '../../shared/errors';
import type { WireInput } from '../../shared/protocol';
import { readObject } from '../model-files';
import { tokenizers, type TextTokenizer } from '../tokenizer';
import type { GraphRunner, ModelFiles, RunHooks } from '../types';
import { checkMessages, compileChatTemplate, renderChat, type ChatTemplate } from './chat-template';
import { createCache, DecodeLoop, releaseCache, type GenerationResult, type KvCache } from './decode-loop';
import { checkStopStrings } from './detokenize';
import { parseDecoderConfig, type DecoderConfig } from './model-config';
import { checkSamplingOptions, type SamplingOptions } from './sampling';

export type { ChatMessage } from './chat-template';
export {
  appendTokens,
  cloneCache,
  contextUsage,
  createCache,
  DecodeLoop,
  releaseCache,
  type GenerationResult,
  type KvCache,
} from './decode-loop';

/** A string arrives as the text kind with one string; chat messages as the messages kind. */
export type GenerationInput = WireInput;

export interface GenerationOptions extends SamplingOptions {
  maxNewTokens?: number;
  stop?: string[];
}

export interface TextGenerationAssets {
  tokenizer: TextTokenizer;
  config: DecoderConfig;
  chat: ChatTemplate | undefined;
  /** Ids the tokenizer can decode (config vocab_size may be padded past them). */
  vocabLimit: number;
  /** config.json's fields for webq's own decode engine (native/), or why they are missing or bad. */
  native: NativeConfig | NotNative;
}

export interface TextGenerationOutput {
  text: string;
  tokens: number[];
  finishReason: GenerationResult['finishReason'];
  usage: GenerationResult['usage'];
}

export interface GenerationHooks {
  onDelta?: (delta: string) => void;
  signal?: AbortSignal;
  /** A session's cache to continue from (it is updated); absent = a fresh one per run. */
  cache?: KvCache;
}

/** The largest maxNewTokens a request may ask for; the context window may allow fewer (then finishReason 'length'). */
export const MAX_NEW_TOKENS = 32_768;
export const GENERATION_OPTIONS = [
  'maxNewTokens',
  'temperature',
  'topK',
  'topP',
  'repetitionPenalty',
  'seed',
  'stop',
] as const;

/** Validates the generation options among `raw` (other keys are the shared normaliser's business). */
export function checkGenerationOptions(raw: Readonly<Record<string, unknown>>): GenerationOptions {
  const out: GenerationOptions = checkSamplingOptions(raw);
  const max = raw.maxNewTokens;
  if (max !== undefined) {
    if (typeof max !== 'number' || !Number.isInteger(max) || max < 1 || max > MAX_NEW_TOKENS) {
      throw dataError(
        `option maxNewTokens must be an integer from 1 to ${MAX_NEW_TOKENS}, got ${String(max).slice(0, 40)}`,
      );
    }
    out.maxNewTokens = max;
  }
  if (raw.stop !== undefined) out.stop = checkStopStrings(raw.stop);
  return out;
}

export const ROLE = 'model';

export interface TextGenerationPipeline {
  readonly task: 'text-generation';
  readonly modality: 'text';
  readonly graphs: Readonly<Record<string, string>>;
  readonly nextTokenGraphs: readonly string[];
  readonly runOptions: typeof GENERATION_OPTIONS;
  prepare(files: ModelFiles): Promise<TextGenerationAssets>;
  run(
    assets: TextGenerationAssets,
    input: GenerationInput,
    options: Readonly<Record<string, unknown>>,
    graphs: GraphRunner,
    hooks?: RunHooks,
  ): Promise<TextGenerationOutput>;
}

export const textGeneration: TextGenerationPipeline = {
  task: 'text-generation',
  modality: 'text',
  graphs: { [ROLE]: 'onnx/model.onnx' },
  nextTokenGraphs: [ROLE],
  runOptions: GENERATION_OPTIONS,

  async prepare(files) {
    const configJson = await readObject(files, 'config.json', true);
    const generationJson = (await readObject(files, 'generation_config.json', false)) ?? {};
    const tokenizerJson = await readObject(files, 'tokenizer.json', true);
    const tokenizerConfig = (await readObject(files, 'tokenizer_config.json', false)) ?? {};
    // The cheap checks first: a bad config should not cost a tokenizer.
    const config = parseDecoderConfig(configJson, generationJson);
    const chat = compileChatTemplate(tokenizerConfig);
    const tokenizer = await tokenizers().load(tokenizerJson, tokenizerConfig);
    let native: NativeConfig | NotNative;
    try {
      native = nativeConfig(configJson);
    } catch (err) {
      native = { notNative: (err as Error).message };
    }
    const vocabLimit = Math.min(config.vocabSize, tokenizerVocabSize(tokenizerJson));
    return { tokenizer, config, chat, vocabLimit, native };
  },

  async run(assets, input, options, graphs, hooks = {}) {
    const result = await generateText(assets, input, options, graphs, {
      signal: graphs.signal,
      onDelta: hooks.onDelta,
    });
    const { timeToFirstTokenMs, prefillTokensPerSecond, decodeTokensPerSecond } = result.timings;
    hooks.report?.({ timeToFirstTokenMs, prefillTokensPerSecond, decodeTokensPerSecond });
    const { text, tokens, finishReason, usage } = result;
    return { text, tokens, finishReason, usage };
  },
};

/** The whole result, timings included (the engine turns them into performanceMetrics). */
export async function generateText(
  assets: TextGenerationAssets,
  input: GenerationInput,
  options: Readonly<Record<string, unknown>>,
  graphs: GraphRunner,
  hooks: GenerationHooks = {},
): Promise<GenerationResult> {
  const checked = checkGenerationOptions(options);
  const prompt = await promptIds(assets, input);
  if (hooks.cache) return continueGeneration(assets, hooks.cache, prompt, checked, graphs, hooks);
  // A one-shot run's cache dies with it: its GPU tensors are freed however the run ends (stop, abort, error).
  const cache = createCache();
  try {
    return await continueGeneration(assets, cache, prompt, checked, graphs, hooks);
  } finally {
    releaseCache(cache);
  }
}

/**
 * Runs `feed` after what `cache` holds and generates; the cache is updated in place (a session keeps it, so its
 * history is never prefilled again).
 */
export function continueGeneration(
  assets: TextGenerationAssets,
  cache: KvCache,
  feed: readonly number[],
  options: GenerationOptions,
  graphs: GraphRunner,
  hooks: Pick<GenerationHooks, 'onDelta' | 'signal'> = {},
): Promise<GenerationResult> {
  const { maxNewTokens, stop, ...sampling } = options;
  const loop = new DecodeLoop({ graphs, role: ROLE, config: assets.config, vocabLimit: assets.vocabLimit });
  return loop.continue(cache, feed, {
    sampling,
    stop,
    onDelta: hooks.onDelta,
    signal: hooks.signal,
    ...(maxNewTokens === undefined ? {} : { maxNewTokens }),
    decode: (ids: number[]) => (ids.length ? assets.tokenizer.decode(ids, { skipSpecialTokens: true }) : ''),
  });
}

/** The engine-speed probe's prompt (host/engine-choice.ts): any short text. */
const PROBE_TEXT = 'The quick brown fox';
/** Decode steps the probe times at most, and the time after which it stops (at least one step is timed). */
const PROBE_STEPS = 4;
const PROBE_BUDGET_MS = 300;

/**
 * Greedy decode speed on `graphs` in tokens per second, for `engine: 'auto'` to choose by (host/engine-choice.ts):
 * a short prompt, then single steps timed one by one (end-of-sequence or not) until PROBE_STEPS or PROBE_BUDGET_MS,
 * so that a slow engine (onnxruntime's WebGPU EP compiles shaders per step on a CPU-emulated adapter) costs about
 * one step. The median step gives the rate. AbortError when aborted.
 */
export async function decodeSpeed(assets: TextGenerationAssets, graphs: GraphRunner): Promise<number> {
  const prompt = await promptIds(assets, { kind: 'text', text: [PROBE_TEXT], batched: false });
  const loop = new DecodeLoop({ graphs, role: ROLE, config: assets.config, vocabLimit: assets.vocabLimit });
  // One token per call: the sampled token stays pending, and the next call's step runs it.
  const params = { maxNewTokens: 1, decode: () => '' };
  const cache = createCache();
  try {
    const steps: number[] = [];
    let result = await loop.continue(cache, prompt, params); // the prefill
    while (result.finishReason !== 'abort' && steps.length < PROBE_STEPS) {
      const started = performance.now();
      result = await loop.continue(cache, [], params);
      steps.push(performance.now() - started);
      if (steps.reduce((a, b) => a + b) > PROBE_BUDGET_MS) break;
    }
    if (result.finishReason === 'abort') throw new WebqError('AbortError', 'the request was aborted');
    steps.sort((a, b) => a - b);
    return 1000 / Math.max(steps[steps.length >> 1]!, 1e-3);
  } finally {
    releaseCache(cache);
  }
}

/**
 * The ids of the input: messages through the chat template (its text holds the special tokens already), a string
 * as it is with the tokenizer's special tokens (see chat-template.ts for why).
 */
export async function promptIds(assets: TextGenerationAssets, input: GenerationInput): Promise<number[]> {
  let text: string;
  let addSpecialTokens: boolean;
  if (input.kind === 'messages') {
    if (!assets.chat)
      throw dataError("this model's tokenizer_config.json has no chat_template; pass the prompt as a string");
    text = renderChat(assets.chat, checkMessages(input.messages));
    addSpecialTokens = false;
  } else if (input.kind === 'text') {
    if (input.text.length !== 1 || input.batched)
      throw dataError('text-generation takes one string (or { messages }) per run, not an array');
    text = input.text[0]!;
    addSpecialTokens = true;
  } else {
    throw dataError(`text-generation takes a string or { messages: [{ role, content }] }, got ${input.kind} input`);
  }
  const [encoded] = await assets.tokenizer.encode([text], { addSpecialTokens });
  const ids = encoded!.ids;
  const bad = ids.findIndex((id) => !Number.isInteger(id));
  if (bad >= 0)
    throw dataError(
      `the model's tokenizer.json has no id for token ${bad} of the prompt (no unknown token in its vocab?)`,
    );
  if (ids.length === 0) throw dataError('the prompt gives no tokens; pass some text');
  return ids as number[];
}

/** One past the largest id of tokenizer.json (model vocab and added tokens). */
export function tokenizerVocabSize(json: Readonly<Record<string, unknown>>): number {
  let max = -1;
  const model = json.model as { vocab?: unknown } | undefined;
  const vocab = model?.vocab;
  if (Array.isArray(vocab)) max = vocab.length - 1;
  else if (typeof vocab === 'object' && vocab !== null)
    for (const id of Object.values(vocab)) if (typeof id === 'number' && id > max) max = id;
  const added = json.added_tokens;
  if (Array.isArray(added))
    for (const t of added) {
      const id = (t as { id?: unknown })?.id;
      if (typeof id === 'number' && id > max) max = id;
    }
  if (max < 0) throw dataError("the model's tokenizer.json has no vocabulary");
  return max + 1;
}
