/**
 * `@webq/client`: the page API of SPEC §2 and §8 (`window.webq`) for every visitor. It uses the webq extension when
 * it is installed and compatible (a shared, cross-site model cache and the GPU held by the extension), and otherwise
 * runs the same engine in the page. The in-page engine is a separate chunk, imported only when it is needed, so a
 * visitor with the extension downloads only this small module.
 *
 * Every result's `performanceMetrics.host` says which ran: 'extension' or 'page'.
 */
import type { TextStream, Webq } from '../../../extension/page/client';
import type { LanguageModelFactory } from '../../../extension/page/language-model';
import { WebqError } from '../../../extension/shared/errors';
import type {
  Capabilities,
  ModelInfo,
  ModelRef,
  PerformanceMetrics,
  Progress,
  RunResult,
} from '../../../extension/shared/types';
import { CLIENT_BRAND, detectExtension } from './detect';
import { checkClientOptions, type CheckedOptions, type HostKind, type WebqClientOptions } from './options';

declare const __WEBQ_VERSION__: string;

export type { Capabilities, ModelInfo, ModelRef, Progress, HostKind, WebqClientOptions, LanguageModelFactory };

/** A run's metrics, with where it ran. */
export type ClientMetrics = PerformanceMetrics & { host: HostKind };
export interface ClientRunResult extends RunResult {
  performanceMetrics: ClientMetrics;
}
export type ClientTextStream = ReadableStream<string> & { readonly result: Promise<ClientRunResult> };

type CallOptions = { signal?: AbortSignal; onProgress?: (p: Progress) => void };

/** The same methods as `window.webq`, results tagged with their host, plus which host serves this client. */
export interface WebqClient {
  readonly version: string;
  capabilities(options?: CallOptions): Promise<Capabilities>;
  load(model: ModelRef, options?: Record<string, unknown> & CallOptions): Promise<ModelInfo>;
  run(model: ModelRef, input: unknown, options?: Record<string, unknown> & CallOptions): Promise<ClientRunResult>;
  unload(model: ModelRef, options?: CallOptions): Promise<void>;
  stream(model: ModelRef, input: unknown, options?: Record<string, unknown> & CallOptions): ClientTextStream;
  readonly LanguageModel: LanguageModelFactory;
  /** Which host serves the calls: decided on the first call (or this one), then fixed. */
  host(): Promise<HostKind>;
}

interface Backend {
  kind: HostKind;
  webq: Webq;
}

const VERSION = __WEBQ_VERSION__;

function tag(result: RunResult, kind: HostKind): ClientRunResult {
  (result.performanceMetrics as ClientMetrics).host = kind;
  return result as ClientRunResult;
}

async function pageBackend(options: CheckedOptions): Promise<Backend> {
  let mod: typeof import('./page-host');
  try {
    mod = await import('./page-host');
  } catch (err) {
    throw new WebqError('NetworkError', `webq's in-page engine could not be loaded: ${(err as Error).message}`);
  }
  return { kind: 'page', webq: await mod.startPageHost(options, VERSION) };
}

function chooseBackend(options: CheckedOptions): Promise<Backend> {
  if (options.host === 'page') return pageBackend(options);
  const found = detectExtension(VERSION);
  if (found.webq) return Promise.resolve({ kind: 'extension', webq: found.webq });
  if (options.host === 'extension') return Promise.reject(new WebqError('NotSupportedError', found.reason));
  return pageBackend(options);
}

/** A client with its own options; `webq` below is one with the defaults. */
export function createWebqClient(options?: WebqClientOptions): WebqClient {
  const checked = checkClientOptions(options);
  let chosen: Promise<Backend> | null = null;
  // A failed start (the engine chunk did not load) is not kept: the next call tries again.
  const backend = (): Promise<Backend> => {
    chosen ??= chooseBackend(checked).catch((err: unknown) => {
      chosen = null;
      throw err;
    });
    return chosen;
  };
  const via = async <R>(use: (webq: Webq) => Promise<R>): Promise<R> => use((await backend()).webq);

  const LanguageModel = Object.freeze({
    availability: (o?: Parameters<LanguageModelFactory['availability']>[0]) =>
      via((w) => w.LanguageModel.availability(o)),
    create: (o?: Parameters<LanguageModelFactory['create']>[0]) => via((w) => w.LanguageModel.create(o)),
  }) as LanguageModelFactory;

  return Object.freeze({
    version: VERSION,
    host: async () => (await backend()).kind,
    capabilities: (o?: CallOptions) => via((w) => w.capabilities(o)),
    load: (model: ModelRef, o?: Record<string, unknown> & CallOptions) => via((w) => w.load(model, o)),
    unload: (model: ModelRef, o?: CallOptions) => via((w) => w.unload(model, o)),
    run: async (model: ModelRef, input: unknown, o?: Record<string, unknown> & CallOptions) => {
      const b = await backend();
      return tag(await b.webq.run(model, input, o), b.kind);
    },
    stream: (model: ModelRef, input: unknown, o?: Record<string, unknown> & CallOptions) =>
      relayStream(backend(), model, input, o),
    LanguageModel,
    [CLIENT_BRAND]: true, // so that a client never takes a client (itself, set as window.webq) for the extension
  });
}

/**
 * `stream()` is synchronous but the host may still be starting: the returned stream reads from the host's stream
 * once there is one, and cancelling it cancels that one (which stops decoding in the engine).
 */
function relayStream(
  backend: Promise<Backend>,
  model: ModelRef,
  input: unknown,
  options: Record<string, unknown> | undefined,
): ClientTextStream {
  const inner: Promise<{ kind: HostKind; stream: TextStream }> = backend.then((b) => ({
    kind: b.kind,
    stream: b.webq.stream(model, input, options),
  }));
  let reader: ReadableStreamDefaultReader<string> | null = null;
  const readable = new ReadableStream<string>({
    async pull(controller) {
      const { stream } = await inner;
      reader ??= stream.getReader();
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    async cancel(reason) {
      const got = await inner.catch(() => null);
      if (!got) return;
      if (reader) await reader.cancel(reason);
      else await got.stream.cancel(reason);
    },
  });
  const result = inner.then(async ({ kind, stream }) => tag(await stream.result, kind));
  result.catch(() => undefined); // a page that reads only the stream hears of a failure through it
  return Object.assign(readable, { result });
}

/** The client with default options: `import { webq } from '@webq/client'`. */
export const webq: WebqClient = /* @__PURE__ */ createWebqClient();
