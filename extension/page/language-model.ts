/**
 * `webq.LanguageModel` (SPEC §8): the shape of the browser's Prompt API over webq's text-generation models. A
 * session lives in the engine with its KV cache (extension/host/language-sessions.ts); this side holds only its id
 * and last known figures, and turns strings into user messages (the Prompt API's convention).
 */
import { dataError, WebqError } from '../shared/errors';
import type { ChatMessage } from '../shared/messages';
import { SESSION_DEFAULTS, type SessionReply } from '../shared/protocol';
import type { ModelRef, Progress, RunResult } from '../shared/types';

/** The default model when `create()` names none. */
export const DEFAULT_LANGUAGE_MODEL = 'qwen2.5-0.5b-instruct';

interface CallExtras {
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  onDelta?: (text: string) => void;
}
/** Sends one `session` request (the client's validated, abortable call). */
export type SessionCall = (params: Record<string, unknown>, extras?: CallExtras) => Promise<SessionReply>;

type Availability = NonNullable<SessionReply['availability']>;
type PromptInput = string | ChatMessage[];
interface CreateOptions {
  /** A registry LLM id or `{ url, task: 'text-generation' }` (the engine checks it as it checks `run`'s model). */
  model?: ModelRef;
  initialPrompts?: ChatMessage[];
  temperature?: number;
  topK?: number;
  signal?: AbortSignal;
  monitor?: (target: EventTarget) => void;
  [option: string]: unknown;
}

function toMessages(input: unknown): ChatMessage[] {
  if (typeof input === 'string') return [{ role: 'user', content: input }];
  if (Array.isArray(input)) return input as ChatMessage[];
  throw dataError('input must be a string or an array of { role, content } messages');
}

function callOptions(options: unknown): { signal?: AbortSignal } {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object') throw dataError('options must be an object');
  const { signal, ...rest } = options as Record<string, unknown>;
  const unknown = Object.keys(rest)[0];
  if (unknown !== undefined)
    throw dataError(`option ${JSON.stringify(unknown.slice(0, 60))} does not apply here; it takes signal`);
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw dataError('option signal must be an AbortSignal');
  return { signal: signal as AbortSignal | undefined };
}

export function createLanguageModel(call: SessionCall) {
  class LanguageModelSession {
    #id: string;
    #usage: number;
    #window: number;
    #destroyed = false;

    constructor(reply: SessionReply) {
      this.#id = reply.session!;
      this.#usage = reply.contextUsage ?? 0;
      this.#window = reply.contextWindow ?? 0;
    }

    get contextUsage(): number {
      return this.#usage;
    }
    get contextWindow(): number {
      return this.#window;
    }

    #live(): string {
      if (this.#destroyed) throw new WebqError('OperationError', 'this session was destroyed; create() another');
      return this.#id;
    }

    #update(reply: SessionReply): SessionReply {
      if (reply.contextUsage !== undefined) this.#usage = reply.contextUsage;
      if (reply.contextWindow !== undefined) this.#window = reply.contextWindow;
      return reply;
    }

    async #prompt(
      input: unknown,
      options: unknown,
      onDelta?: (text: string) => void,
      signal?: AbortSignal,
    ): Promise<RunResult> {
      const own = callOptions(options);
      const reply = await call(
        { op: 'prompt', session: this.#live(), messages: toMessages(input), options: {} },
        {
          signal: own.signal && signal ? AbortSignal.any([own.signal, signal]) : (own.signal ?? signal),
          onDelta,
        },
      );
      return this.#update(reply).result!;
    }

    /** The answer's text. */
    async prompt(input: PromptInput, options?: { signal?: AbortSignal }): Promise<string> {
      return ((await this.#prompt(input, options)).output as { text: string }).text;
    }

    /**
     * The answer as text deltas; cancelling the stream stops decoding. As with `webq.stream()`, `result` is the
     * whole turn's RunResult (output and performanceMetrics, decode rate included) once it ends.
     */
    promptStreaming(
      input: PromptInput,
      options?: { signal?: AbortSignal },
    ): ReadableStream<string> & { readonly result: Promise<RunResult> } {
      const cancel = new AbortController();
      let push!: ReadableStreamDefaultController<string>;
      const readable = new ReadableStream<string>({
        start: (c) => {
          push = c;
        },
        cancel: () => cancel.abort(),
      });
      const result = this.#prompt(
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
      return Object.assign(readable, { result });
    }

    /** Adds messages to the conversation without an answer (they are run with the next prompt). */
    async append(input: PromptInput, options?: { signal?: AbortSignal }): Promise<void> {
      this.#update(
        await call({ op: 'append', session: this.#live(), messages: toMessages(input) }, callOptions(options)),
      );
    }

    /** How many tokens `input` would add to the conversation. */
    async measureContextUsage(input: PromptInput, options?: { signal?: AbortSignal }): Promise<number> {
      return (
        (await call({ op: 'measure', session: this.#live(), messages: toMessages(input) }, callOptions(options)))
          .tokens ?? 0
      );
    }

    /** A new session with this one's conversation and KV cache, continuing independently. */
    async clone(options?: { signal?: AbortSignal }): Promise<LanguageModelSession> {
      return new LanguageModelSession(await call({ op: 'clone', session: this.#live() }, callOptions(options)));
    }

    destroy(): void {
      if (this.#destroyed) return;
      this.#destroyed = true;
      void call({ op: 'destroy', session: this.#id }).catch(() => undefined);
    }
  }

  const split = (options: CreateOptions = {}) => {
    if (typeof options !== 'object' || options === null) throw dataError('options must be an object');
    const { model = DEFAULT_LANGUAGE_MODEL, initialPrompts, signal, monitor, ...rest } = options;
    if (typeof model !== 'string' && (typeof model !== 'object' || model === null || Array.isArray(model)))
      throw dataError("option model must be a model id or { url, task: 'text-generation' }");
    if (monitor !== undefined && typeof monitor !== 'function') throw dataError('option monitor must be a function');
    return { model, initialPrompts, signal, monitor, rest };
  };

  return Object.freeze({
    /** 'available' (no download needed), 'downloadable', 'downloading', or 'unavailable' (not a text-generation model).
     * */
    async availability(options: CreateOptions = {}): Promise<Availability> {
      const { model, signal, rest } = split(options);
      const load = Object.fromEntries(
        Object.entries(rest).filter(([k]) => !(SESSION_DEFAULTS as readonly string[]).includes(k)),
      );
      return (await call({ op: 'availability', model, options: load }, { signal })).availability ?? 'unavailable';
    },

    /** A session on the model (downloaded and prepared first if need be; `monitor` hears `downloadprogress`). */
    async create(options: CreateOptions = {}): Promise<LanguageModelSession> {
      const { model, initialPrompts, signal, monitor, rest } = split(options);
      const target = new EventTarget();
      monitor?.(target);
      const progress = (loaded: number) =>
        target.dispatchEvent(Object.assign(new Event('downloadprogress'), { loaded }));
      if (monitor) progress(0);
      const reply = await call(
        { op: 'create', model, options: rest, messages: initialPrompts ?? [] },
        {
          signal,
          onProgress: monitor
            ? (p) => {
                if (p.phase === 'download' && p.total > 0) progress(Math.min(1, p.loaded / p.total));
              }
            : undefined,
        },
      );
      if (monitor) progress(1);
      return new LanguageModelSession(reply);
    },
  });
}

export type LanguageModelFactory = ReturnType<typeof createLanguageModel>;
