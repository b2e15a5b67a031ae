/**
 * `window.webq` (SPEC §2), over any Link (shared/link.ts): the window hop to the extension's bridge (webq.iife.ts),
 * the popup's port (ui/transport.ts) or an engine hosted in the same page (the WebNN test harness). Validates every
 * call before it leaves the page and every host message that comes back (the one place replies are checked), ties
 * progress events and aborts to their request, and measures `totalTimeMs` from the call to its result.
 */
import { fromWireError, WebqError, dataError } from '../shared/errors';
import { checkCallOnlyOptions, normalizeOptions } from '../shared/options';
import type { Link } from '../shared/link';
import { checkModelRef, validateClientMessage, validateHostMessage, type Method } from '../shared/protocol';
import type { Calibration, Capabilities, ModelInfo, ModelRef, Progress, RunResult } from '../shared/types';
import { toWireInput } from './inputs';
import { createLanguageModel, type LanguageModelFactory } from './language-model';
import type { SessionReply } from '../shared/protocol';

interface CallOptions {
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  onProgress?: (p: Progress) => void;
  onDelta?: (text: string) => void;
}

/** `webq.stream()`'s result: text deltas as they are decoded, and the whole run's result when it ends (SPEC §8). */
export type TextStream = ReadableStream<string> & { readonly result: Promise<RunResult> };

export interface Webq {
  readonly version: string;
  capabilities(options?: CallOptions): Promise<Capabilities>;
  load(model: ModelRef, options?: Record<string, unknown> & CallOptions): Promise<ModelInfo>;
  run(model: ModelRef, input: unknown, options?: Record<string, unknown> & CallOptions): Promise<RunResult>;
  unload(model: ModelRef, options?: CallOptions): Promise<void>;
  /** Text generation, streamed: cancel the stream (or abort its signal) to stop decoding in the engine. */
  stream(model: ModelRef, input: unknown, options?: Record<string, unknown> & CallOptions): TextStream;
  /** The Prompt API's shape over webq's text-generation models (SPEC §8). */
  readonly LanguageModel: LanguageModelFactory;
}

/**
 * The client of the extension's own pages: the page API plus calibration, which pages do not get (a global, timed
 * result would be a cross-site identifier, SPEC §3; the engine refuses it from pages too).
 */
export interface ExtensionWebq extends Webq {
  /** Measures webq's kernel shapes on this GPU: every time, the fastest marked (the options page shows them). */
  calibrate(options?: CallOptions): Promise<Calibration>;
}

const abortError = () => new WebqError('AbortError', 'the request was aborted');

function callOptions(options: unknown): CallOptions {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object') throw dataError('options must be an object');
  const { signal, onProgress } = options as Record<string, unknown>;
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw dataError('option signal must be an AbortSignal');
  if (onProgress !== undefined && typeof onProgress !== 'function')
    throw dataError('option onProgress must be a function');
  return { signal: signal as AbortSignal | undefined, onProgress: onProgress as CallOptions['onProgress'] };
}

/** `window.webq` for web pages. */
export function createWebq(link: Link, version: string): Webq {
  const { calibrate: _extensionOnly, ...page } = createClient(link, version);
  return Object.freeze(page);
}

/** The client of the extension's popup and options page. */
export function createExtensionWebq(link: Link, version: string): ExtensionWebq {
  return Object.freeze(createClient(link, version));
}

function createClient(link: Link, version: string): ExtensionWebq {
  const pending = new Map<string, Pending>();
  let counter = 0;
  const prefix = Math.random().toString(36).slice(2, 10);

  link.listen((message) => {
    const checked = validateHostMessage(message);
    if (!checked) return;
    const p = pending.get(checked.id);
    if (!p) return; // aborted or unknown: a cancelled call never resolves later
    if (checked.type === 'progress') {
      try {
        p.onProgress?.(checked.progress);
      } catch (err) {
        console.error('webq: onProgress threw', err);
      }
      return;
    }
    if (checked.type === 'delta') {
      p.onDelta?.(checked.text);
      return;
    }
    pending.delete(checked.id);
    if (checked.type === 'result') p.resolve(checked.result);
    else p.reject(fromWireError(checked.error));
  });

  async function call<M extends Method>(
    method: M,
    build: () => Promise<Record<string, unknown>>,
    rawOptions: unknown,
    onDelta?: (text: string) => void,
    streamSignal?: AbortSignal,
  ): Promise<unknown> {
    const options = callOptions(rawOptions);
    const { onProgress } = options;
    const signal =
      streamSignal && options.signal
        ? AbortSignal.any([options.signal, streamSignal])
        : (streamSignal ?? options.signal);
    if (signal?.aborted) throw abortError();
    const params = await build();
    if (signal?.aborted) throw abortError();
    const id = `${prefix}-${++counter}`;
    // Same validation as every later hop: a bad call fails here, with the field named, before any messaging.
    const message = validateClientMessage({
      type: 'request',
      id,
      method,
      params,
      progress: Boolean(onProgress),
      stream: Boolean(onDelta),
    });
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        if (!pending.delete(id)) return;
        link.send({ type: 'abort', id });
        reject(abortError());
      };
      pending.set(id, {
        resolve: (v) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(v);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
        onProgress,
        onDelta,
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      link.send(message);
    });
  }

  const withoutCallOptions = (options: unknown): unknown => {
    if (options === undefined || options === null || typeof options !== 'object') return options;
    const { signal: _s, onProgress: _p, ...rest } = options as Record<string, unknown>;
    return rest;
  };

  async function runWith(
    model: ModelRef,
    input: unknown,
    options: unknown,
    onDelta?: (text: string) => void,
    signal?: AbortSignal,
  ): Promise<RunResult> {
    const started = performance.now();
    const result = (await call(
      'run',
      async () => ({
        model: checkModelRef(model),
        options: normalizeOptions(withoutCallOptions(options), 'run'),
        input: await toWireInput(input),
      }),
      options,
      onDelta,
      signal,
    )) as RunResult;
    result.performanceMetrics.totalTimeMs = performance.now() - started;
    return result;
  }

  const LanguageModel = createLanguageModel(
    (params, extras = {}) =>
      call(
        'session',
        async () => params,
        { signal: extras.signal, onProgress: extras.onProgress },
        extras.onDelta,
      ) as Promise<SessionReply>,
  );

  return {
    version,
    LanguageModel,
    capabilities: (options) =>
      call(
        'capabilities',
        async () => {
          checkCallOnlyOptions(options, 'capabilities');
          return {};
        },
        options,
      ) as Promise<Capabilities>,
    load: (model, options) =>
      call(
        'load',
        async () => ({ model: checkModelRef(model), options: normalizeOptions(withoutCallOptions(options), 'load') }),
        options,
      ) as Promise<ModelInfo>,
    run: (model, input, options) => runWith(model, input, options),
    stream(model, input, options) {
      // The stream's own signal: cancel() aborts the run, as the page's signal does.
      const cancel = new AbortController();
      let push!: ReadableStreamDefaultController<string>;
      const readable = new ReadableStream<string>({
        start: (c) => {
          push = c;
        },
        cancel: () => cancel.abort(),
      });
      const result = runWith(
        model,
        input,
        options,
        (text) => {
          try {
            push.enqueue(text);
          } catch {
            /* cancelled */
          }
        },
        cancel.signal,
      );
      result.then(
        () => {
          try {
            push.close();
          } catch {
            /* cancelled */
          }
        },
        (err) => {
          try {
            push.error(err);
          } catch {
            /* cancelled */
          }
        },
      );
      result.catch(() => undefined); // a page that only reads the stream still hears of the failure through it
      return Object.assign(readable, { result });
    },
    unload: async (model, options) => {
      await call(
        'unload',
        async () => {
          checkCallOnlyOptions(options, 'unload');
          return { model: checkModelRef(model) };
        },
        options,
      );
    },
    calibrate: (options) => call('calibrate', async () => ({}), options) as Promise<Calibration>,
  };
}
