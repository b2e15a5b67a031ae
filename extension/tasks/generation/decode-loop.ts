/**
 * The generation loop of a decoder-only model in the Hugging Face ONNX layout (SPEC §8): one graph with inputs
 * `input_ids`, `attention_mask`, `position_ids` (when declared), `past_key_values.N.key|value` and outputs `logits`,
 * `present.N.key|value`. The prompt is run once (prefill, empty past of dims [1, kvHeads, 0, headDim]); then each
 * sampled token is run alone with the presents of the step before as its past.
 *
 * The KV cache is an object of the caller's (`KvCache`): a session keeps it between prompts and `continue`s from it,
 * so the history is never prefilled again. Where the runner can (`runKeeping`: WebGPU), the presents stay on the GPU
 * as DeviceTensors and go back in as the next step's past; only the logits come to the CPU. A cache owns its
 * DeviceTensors: each step disposes the past it replaced, `cloneCache` copies them, and whoever drops a cache calls
 * `releaseCache`, so GPU memory holds one step's cache per live cache, never a growing pile. The last sampled token
 * (eos included) is not yet run when a call ends: it stays `pending` and is run first by the next call, so a
 * continued cache equals one built from the whole text at once.
 *
 * A graph prepared with webq's next-token head (onnx/next-token.ts: the last position's logits, limited to the
 * tokenizer's vocabulary, ArgMax in the graph) gives the greedy token as `webq_next_token`. When the pick needs
 * nothing but that argmax (`Sampler.argmaxOnly`), the loop reads only the token: on WebGPU the logits stay on the
 * device, so a step reads back 8 bytes instead of the vocabulary-wide row; on wasm the row is not fetched, so
 * onnxruntime never copies it out of its heap. Runners without `runKeeping` (Node tests) still get the logits, but
 * the argmax is the graph's, not a JavaScript loop over 128k–152k floats. Sampling and penalties read the logits.
 *
 * Turning a token into text is a round trip to the tokenizer's worker in the engine: it is asked before the next
 * step starts and awaited after it, so the two overlap. A stop string found in that text ends the generation one
 * step late; that step's token is the one just generated, so the cache stays what the whole text would give.
 *
 * When the runner offers webq's own decode engine for the graph (`GraphRunner.native`, engine 'webq' or 'auto'), each
 * step runs there instead: it keeps the cache's positions on the GPU itself, and `past` stays empty.
 *
 * No extension or onnxruntime imports: the loop runs on a `GraphRunner` in the engine and in Node tests alike.
 */
import { WebqError } from '../../shared/errors';
import type { Tensor } from '../../shared/tensor';
import { fromFloat16 } from '../../quant/fp16';
import { hasNextToken, NEXT_TOKEN_OUTPUT, VOCAB_LIMIT_INPUT } from '../../shared/next-token';
import {
  isDeviceTensor,
  type GraphRunner,
  type HeldTensor,
  type NativeStepper,
  type StepResult,
  type StepWant,
} from '../types';
import { MAX_TOP_K } from '../../../kernels/top-k';
import { disposeDevice, replaceHeld } from '../held-tensors';
import { Detokenizer, type Decode } from './detokenize';
import { graphContextWindow, type DecoderConfig } from './model-config';
import { Sampler, type SamplingOptions } from './sampling';

export type FinishReason = 'stop' | 'length' | 'abort';

export interface GenerationResult {
  text: string;
  /** Generated ids, stop-string tokens included, the end-of-sequence token not. */
  tokens: number[];
  finishReason: FinishReason;
  usage: { promptTokens: number; completionTokens: number };
  timings: {
    prefillMs: number;
    decodeMs: number;
    timeToFirstTokenMs: number;
    prefillTokensPerSecond: number;
    decodeTokensPerSecond: number;
  };
}

export interface KvCache {
  /** `past_key_values.*` input name → the tensor the last step gave as the matching `present.*` (CPU or GPU). */
  past: Map<string, HeldTensor>;
  /** Ids already run through the model: the positions the past tensors hold. */
  tokens: number[];
  /** Ids accepted but not yet run (the last sampled token, appended input): run first by the next call. */
  pending: number[];
}

export interface GenerateParams {
  maxNewTokens?: number;
  sampling?: SamplingOptions;
  stop?: readonly string[];
  /** The tokenizer's decode (special tokens skipped) for the output text. */
  decode: Decode;
  /** Each text delta, as soon as it is safe to show (whole characters, no possible stop-string start). */
  onDelta?: (delta: string) => void;
  /** Aborts between steps, as the runner's own signal does. */
  signal?: AbortSignal;
}

export interface DecoderModel {
  graphs: GraphRunner;
  /** The graph's role in `graphs` (the pipeline's 'model'). */
  role: string;
  config: DecoderConfig;
  /** Ids the tokenizer knows: logits past it (padding of the embedding table) are never chosen. */
  vocabLimit?: number;
}

/** When neither the request nor generation_config.json says how many tokens to generate. */
export const DEFAULT_MAX_NEW_TOKENS = 256;

export function createCache(): KvCache {
  return { past: new Map(), tokens: [], pending: [] };
}

/**
 * An independent copy, the Prompt API's `clone()`: CPU tensors are never written, so they are shared; GPU tensors
 * are copied on the device, since each cache disposes its own.
 */
export function cloneCache(cache: KvCache): KvCache {
  const past = new Map<string, HeldTensor>();
  try {
    for (const [name, t] of cache.past) past.set(name, isDeviceTensor(t) ? t.clone() : t);
  } catch (err) {
    disposeDevice(past.values());
    throw err;
  }
  return { past, tokens: [...cache.tokens], pending: [...cache.pending] };
}

/**
 * Frees the cache's GPU tensors. The cache stays usable: what it held becomes pending again, so continuing from it
 * prefills the history anew (a session whose model was reloaded on a new device goes on this way).
 */
export function releaseCache(cache: KvCache): void {
  disposeDevice(cache.past.values());
  cache.past.clear();
  cache.pending = [...cache.tokens, ...cache.pending];
  cache.tokens = [];
}

/** Positions the cache uses once its pending ids are run. */
export function contextUsage(cache: KvCache): number {
  return cache.tokens.length + cache.pending.length;
}

function quotaError(used: number, adding: number, window: number): WebqError {
  return new WebqError(
    'QuotaExceededError',
    `the input needs ${adding} tokens, with ${used} already in the context that ` +
      `makes ${used + adding} of the model's ${window}-token context window, leaving no room to generate; ` +
      'shorten the input or start a new session',
  );
}

/** Adds input without generating (the Prompt API's `append`); refuses input that leaves no room to generate. */
export function appendTokens(cache: KvCache, ids: readonly number[], config: DecoderConfig): void {
  const used = contextUsage(cache);
  if (used + ids.length >= config.contextWindow) throw quotaError(used, ids.length, config.contextWindow);
  cache.pending.push(...ids);
}

const now = () => performance.now();

export class DecodeLoop {
  private readonly inputs: ReturnType<GraphRunner['io']>['inputs'];
  /** The present.* outputs the runner may keep on the device. */
  private readonly presentNames: string[];
  /** config.contextWindow, or fewer where the graph says so (model-config.ts). */
  private readonly contextWindow: number;
  /** The graph has webq's next-token head: it takes `webq_vocab_limit` and gives `webq_next_token`. */
  private readonly nextToken: boolean;
  /** webq's own decode engine, when the request runs on it instead of the graph. */
  private readonly native: NativeStepper | undefined;

  constructor(private readonly model: DecoderModel) {
    const io = model.graphs.io(model.role);
    this.inputs = io.inputs;
    this.presentNames = this.inputs
      .filter((i) => i.name.startsWith('past_key_values.'))
      .map((i) => `present.${i.name.slice('past_key_values.'.length)}`);
    this.nextToken = hasNextToken(io);
    this.native = model.graphs.native?.(model.role);
    this.checkGraph();
    this.contextWindow = graphContextWindow(model.config, io.groupQueryAttention);
  }

  /** Generates from a fresh cache; the cache is returned for the caller to continue from. */
  async run(prompt: readonly number[], params: GenerateParams): Promise<GenerationResult & { cache: KvCache }> {
    const cache = createCache();
    return { ...(await this.continue(cache, prompt, params)), cache };
  }

  /**
   * Runs the cache's pending ids and `input` (prefill), then generates until eos, a stop string, maxNewTokens, the
   * context window or an abort. The cache is updated in place and may be continued from again.
   */
  async continue(cache: KvCache, input: readonly number[], params: GenerateParams): Promise<GenerationResult> {
    const start = now();
    const { config } = this.model;
    // GPU tensors of a session since released (the model unloaded, the device lost): run the history again.
    const { graphs, role } = this.model;
    for (const t of cache.past.values()) {
      if (isDeviceTensor(t) && !graphs.accepts?.(role, t)) {
        releaseCache(cache);
        break;
      }
    }
    // A cache the other engine built (a session begun before `engine: 'auto'` chose anew): webq's engine keeps its
    // positions on the GPU itself, and onnxruntime's past is of no use to it. This one runs the history again.
    const otherEngine = this.native
      ? cache.past.size > 0
      : this.presentNames.length > 0 && cache.past.size === 0 && cache.tokens.length > 0;
    if (otherEngine) releaseCache(cache);
    const feed = [...cache.pending, ...input];
    if (feed.length === 0) throw new WebqError('DataError', 'there is no input to generate from');
    const used = cache.tokens.length;
    const room = this.contextWindow - used - feed.length;
    if (room < 1) throw quotaError(used, feed.length, this.contextWindow);
    const maxNew = Math.min(params.maxNewTokens ?? config.defaultMaxNewTokens ?? DEFAULT_MAX_NEW_TOKENS, room);
    const sampler = new Sampler(params.sampling);
    const detokenizer = new Detokenizer(params.decode, params.stop ?? []);
    const aborted = () => this.model.graphs.signal.aborted || params.signal?.aborted === true;
    const tokens: number[] = [];
    const emit = (delta: string) => {
      if (delta) params.onDelta?.(delta);
    };
    const result = (finishReason: FinishReason, prefillMs: number, firstTokenAt: number): GenerationResult => {
      const end = now();
      const decodeMs = firstTokenAt ? end - firstTokenAt : 0;
      const decodeSteps = Math.max(0, tokens.length - 1);
      return {
        text: detokenizer.text,
        tokens,
        finishReason,
        usage: { promptTokens: feed.length, completionTokens: tokens.length },
        timings: {
          prefillMs,
          decodeMs,
          timeToFirstTokenMs: firstTokenAt ? firstTokenAt - start : 0,
          prefillTokensPerSecond: prefillMs > 0 ? (feed.length * 1000) / prefillMs : 0,
          decodeTokensPerSecond: decodeMs > 0 ? (decodeSteps * 1000) / decodeMs : 0,
        },
      };
    };

    if (aborted()) {
      cache.pending = feed;
      return result('abort', 0, 0);
    }
    cache.pending = feed;
    // What a step reads back: the greedy id where the graph or webq's engine picks it; on webq's engine the top-k
    // best logits when they decide the draw (kernels/top-k.ts); else the logits row.
    const inGraph = (this.nextToken || this.native !== undefined) && sampler.argmaxOnly;
    const best = this.native ? sampler.bestNeeded(this.graphVocabLimit(), MAX_TOP_K) : undefined;
    const want: StepWant = inGraph ? 'token' : best !== undefined ? { topK: best } : 'logits';
    let out = await this.step(cache, feed, want);
    const prefillMs = now() - start;
    let firstTokenAt = 0;
    let reason: FinishReason;
    for (;;) {
      const next =
        out.token ??
        (out.candidates
          ? sampler.pickAmong(out.candidates)
          : sampler.pick(out.logits, cache.tokens, this.vocabLimit(out.logits.length)));
      firstTokenAt ||= now();
      cache.pending = [next];
      if (config.eosIds.includes(next)) {
        reason = 'stop';
        break;
      }
      tokens.push(next);
      const text = detokenizer.push(next);
      if (tokens.length >= maxNew || aborted()) {
        emit(await text);
        reason = detokenizer.stopped ? 'stop' : tokens.length >= maxNew ? 'length' : 'abort';
        break;
      }
      const stepping = this.step(cache, [next], want);
      // Handled from now on: a failed step is reported below, after the text it overlapped with.
      stepping.catch(() => undefined);
      emit(await settledAfter(text, stepping));
      if (detokenizer.stopped) {
        // The text is complete: a failure of the step that ran meanwhile leaves `next` pending, the cache whole.
        await stepping.catch(() => undefined);
        reason = 'stop';
        break;
      }
      out = await stepping;
    }
    emit(await detokenizer.finish());
    return result(reason, prefillMs, firstTokenAt);
  }

  private vocabLimit(width: number): number {
    return Math.min(width, this.model.config.vocabSize, this.model.vocabLimit ?? width);
  }

  /**
   * Runs `ids` after the cache's tokens; the cache takes the presents (kept on the GPU where the runner can) and the
   * past they replace is disposed. Returns the greedy token from the graph's next-token head when `want` is 'token'
   * (the logits then stay on the device where the runner can keep them, and are disposed here), else the last
   * position's logits; webq's engine also gives the top-k alone (`{ topK }`).
   */
  private async step(cache: KvCache, ids: readonly number[], want: StepWant): Promise<StepResult> {
    if (this.native) return this.nativeStep(this.native, cache, ids, want);
    const token = want === 'token';
    const past = cache.tokens.length;
    const { graphs, role } = this.model;
    const feeds = this.feeds(cache, ids);
    const keep = token ? [...this.presentNames, 'logits'] : this.presentNames;
    // A greedy step reads the head's token and the cache, never the vocabulary-wide logits row.
    const fetches = token ? [...this.presentNames, NEXT_TOKEN_OUTPUT] : undefined;
    const outputs: Record<string, HeldTensor> = graphs.runKeeping
      ? await graphs.runKeeping(role, feeds, keep, fetches)
      : await graphs.run(role, feeds as Record<string, Tensor>);
    const presents = new Map<string, HeldTensor>();
    let result: { token: number } | { logits: Float32Array };
    try {
      for (const input of this.inputs) {
        if (!input.name.startsWith('past_key_values.')) continue;
        const present = outputs[`present.${input.name.slice('past_key_values.'.length)}`];
        if (!present || present.dims[2] !== past + ids.length) {
          throw new WebqError(
            'OperationError',
            `the model gave no present.* of ${past + ids.length} positions for ${input.name} ` +
              `(got dims [${present?.dims.join(', ') ?? ''}])`,
          );
        }
        presents.set(input.name, present);
      }
      result = token ? { token: this.tokenOf(outputs) } : { logits: lastLogits(outputs) };
    } catch (err) {
      disposeDevice(Object.values(outputs));
      throw err;
    }
    // Read on the device by the head; never fed anywhere (and not fetched where the runner takes `fetches`).
    const logits = outputs.logits;
    if (logits && isDeviceTensor(logits)) logits.dispose();
    for (const [name, present] of presents) replaceHeld(cache.past, name, present);
    cache.tokens.push(...ids);
    // Only now are they in the cache: a step that fails leaves them pending, and the cache consistent.
    cache.pending = [];
    return result;
  }

  /** A step on webq's own decode engine, which keeps the cache's positions on the GPU itself. */
  private async nativeStep(
    native: NativeStepper,
    cache: KvCache,
    ids: readonly number[],
    want: StepWant,
  ): Promise<StepResult> {
    const out = await native.step(cache, cache.tokens, ids, want, this.graphVocabLimit());
    cache.tokens.push(...ids);
    cache.pending = [];
    return out;
  }

  /** The head's token, checked to lie in the vocabulary it was limited to. */
  private tokenOf(outputs: Record<string, HeldTensor>): number {
    const t = outputs[NEXT_TOKEN_OUTPUT];
    const data = t && !isDeviceTensor(t) && (t.type === 'int64' || t.type === 'int32') ? t.data : undefined;
    const id = data && data.length > 0 ? Number(data[data.length - 1]) : NaN;
    if (!Number.isInteger(id) || id < 0 || id >= this.graphVocabLimit()) {
      throw new WebqError(
        'OperationError',
        `the model gave no ${NEXT_TOKEN_OUTPUT} in its vocabulary (its outputs: ${Object.keys(outputs).join(', ')})`,
      );
    }
    return id;
  }

  /** The head's limit: the vocabulary the tokenizer and config know (the graph's Slice clamps it to the logits). */
  private graphVocabLimit(): number {
    const { config, vocabLimit } = this.model;
    return Math.min(config.vocabSize, vocabLimit ?? config.vocabSize);
  }

  private feeds(cache: KvCache, ids: readonly number[]): Record<string, HeldTensor> {
    const past = cache.tokens.length;
    const feeds: Record<string, HeldTensor> = {};
    for (const input of this.inputs) {
      const { name, type } = input;
      if (name === 'input_ids') feeds[name] = intTensor(type, [1, ids.length], (i) => ids[i]!);
      else if (name === 'attention_mask') feeds[name] = intTensor(type, [1, past + ids.length], () => 1);
      else if (name === 'position_ids') feeds[name] = intTensor(type, [1, ids.length], (i) => past + i);
      else if (name === VOCAB_LIMIT_INPUT && this.nextToken)
        feeds[name] = intTensor(type, [1], () => this.graphVocabLimit());
      else if (name.startsWith('past_key_values.'))
        feeds[name] = cache.past.get(name) ?? this.emptyPast(name, type, past);
      else
        throw new WebqError(
          'DataError',
          `the model's graph takes an input ${JSON.stringify(name)} that text-generation cannot feed`,
        );
    }
    return feeds;
  }

  private emptyPast(name: string, type: string, past: number): Tensor {
    if (past > 0) throw new WebqError('OperationError', `the KV cache has no ${name} after ${past} positions`);
    const { kvHeads, headDim } = this.model.config;
    const dims = [1, kvHeads, 0, headDim];
    return type === 'float16'
      ? { type, dims, data: new Uint16Array(0) }
      : { type: 'float32', dims, data: new Float32Array(0) };
  }

  /** The graph's I/O against the config: known inputs only, input_ids present, cache dims as the config says. */
  private checkGraph(): void {
    const { config, role } = this.model;
    const names = this.inputs.map((i) => i.name);
    if (!names.includes('input_ids')) {
      throw new WebqError(
        'DataError',
        `the model's graph has no input_ids input (its inputs: ${names.join(', ').slice(0, 300)})`,
      );
    }
    const pasts = this.inputs.filter((i) => i.name.startsWith('past_key_values.'));
    if (pasts.length !== 0 && pasts.length !== 2 * config.layers) {
      throw new WebqError(
        'DataError',
        `the model's graph has ${pasts.length} past_key_values inputs; config.json num_hidden_layers ` +
          `${config.layers} needs ${2 * config.layers}`,
      );
    }
    for (const p of pasts) {
      const [, heads, , dim] = p.dims;
      if (
        (typeof heads === 'number' && heads !== config.kvHeads) ||
        (typeof dim === 'number' && dim !== config.headDim)
      ) {
        throw new WebqError(
          'DataError',
          `the model's ${role} input ${p.name} has dims [${p.dims.join(', ')}], but config.json ` +
            `gives ${config.kvHeads} key/value heads of ${config.headDim}`,
        );
      }
      if (p.type !== 'float32' && p.type !== 'float16') {
        throw new WebqError(
          'DataError',
          `the model's input ${p.name} is ${p.type}; text-generation keeps float32 or float16 caches`,
        );
      }
    }
  }
}

/** `first`'s value; when it fails, its error once `other` has settled too (no step left running on its own). */
async function settledAfter<T>(first: Promise<T>, other: Promise<unknown>): Promise<T> {
  try {
    return await first;
  } catch (err) {
    await other.catch(() => undefined);
    throw err;
  }
}

function intTensor(type: string, dims: number[], value: (i: number) => number): Tensor {
  const count = dims.reduce((a, b) => a * b, 1);
  if (type === 'int32') return { type: 'int32', dims, data: Int32Array.from({ length: count }, (_, i) => value(i)) };
  return { type: 'int64', dims, data: BigInt64Array.from({ length: count }, (_, i) => BigInt(value(i))) };
}

/** The logits of the last position, as float32. */
export function lastLogits(outputs: Record<string, HeldTensor>): Float32Array {
  const logits = outputs.logits;
  if (
    !logits ||
    isDeviceTensor(logits) ||
    logits.dims.length !== 3 ||
    (logits.type !== 'float32' && logits.type !== 'float16')
  ) {
    throw new WebqError(
      'OperationError',
      `the model gave no logits [batch, tokens, vocabulary] (its outputs: ${Object.keys(outputs).join(', ')})`,
    );
  }
  const [, positions, vocabulary] = logits.dims as [number, number, number];
  const start = (positions - 1) * vocabulary;
  return logits.type === 'float16'
    ? fromFloat16((logits.data as Uint16Array).subarray(start, start + vocabulary))
    : (logits.data as Float32Array).subarray(start, start + vocabulary);
}
