/**
 * One tokenizer in its own worker, every step within a time budget (SPEC §3: time budgets for tokenizers, off the
 * engine's main thread). A step that overruns — a tokenizer.json regex that backtracks catastrophically, a huge
 * vocabulary — terminates the worker and rejects with TimeoutError naming the step; the next request starts a fresh
 * worker and builds the tokenizer again (under its own budget). An idle worker is ended too, and rebuilt on demand,
 * so models kept loaded do not each hold a thread.
 */
import { fromWireError, WebqError } from '../shared/errors';
import type { TokenizerReply, TokenizerRequest, TokenizerResult } from './tokenizer-core';

/** What is used of a Worker (a DOM Worker, or a Node worker_threads adapter in tests). */
export interface WorkerLike {
  postMessage(message: TokenizerRequest): void;
  onmessage: ((event: { data: TokenizerReply }) => void) | null;
  onerror: ((event: { message?: string }) => void) | null;
  terminate(): void;
}

export interface TokenizerBudget {
  /** Building the tokenizer from tokenizer.json (vocabulary, merges, regexes). */
  buildMs: number;
  /** One encode call (a batch of texts), one decode, one id lookup. */
  stepMs: number;
  /** A worker unused this long is ended; the next request builds the tokenizer again. */
  idleMs: number;
}

export const TOKENIZER_BUDGET: Readonly<TokenizerBudget> = Object.freeze({
  buildMs: 10_000,
  stepMs: 5_000,
  idleMs: 60_000,
});

const STEP: Readonly<Record<TokenizerRequest['op'], string>> = Object.freeze({
  build: 'building the tokenizer from tokenizer.json',
  encode: 'encoding the input text',
  decode: 'decoding the output tokens',
  tokenToId: 'looking up token ids',
});

export class WorkerTokenizer {
  private worker: WorkerLike | undefined;
  /** Requests run one at a time: each budget counts the worker's own time on it, not a wait behind another. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Requests asked for and not yet answered. */
  private inFlight = 0;
  private idle: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly spawn: () => WorkerLike,
    private readonly json: Record<string, unknown>,
    private readonly config: Record<string, unknown>,
    private readonly budget: TokenizerBudget,
  ) {}

  /** Starts the worker and builds the tokenizer (the load's check that tokenizer.json works). */
  build(): Promise<void> {
    return this.serial(async () => {
      await this.ready();
    });
  }

  ask(request: TokenizerRequest): Promise<TokenizerResult> {
    return this.serial(() => {
      const worker = this.worker;
      const { stepMs } = this.budget;
      return worker ? this.send(worker, request, stepMs) : this.ready().then((w) => this.send(w, request, stepMs));
    });
  }

  /** Ends the worker now (a later request starts another). */
  stop(): void {
    clearTimeout(this.idle);
    this.worker?.terminate();
    this.worker = undefined;
  }

  /**
   * Runs `work` after the requests before it. With none in flight it starts at once, within this call: a decode
   * asked for by the generation loop is then posted before the loop starts the model's next step, and the two
   * overlap (decode-loop.ts).
   */
  private serial<T>(work: () => Promise<T>): Promise<T> {
    const start = async () => {
      clearTimeout(this.idle);
      try {
        return await work();
      } finally {
        if (this.worker) this.armIdle();
      }
    };
    const result = this.inFlight === 0 ? start() : this.queue.then(start);
    this.inFlight++;
    this.queue = result.then(
      () => void this.inFlight--,
      () => void this.inFlight--,
    );
    return result;
  }

  private armIdle(): void {
    this.idle = setTimeout(() => this.stop(), this.budget.idleMs);
    (this.idle as { unref?: () => void }).unref?.();
  }

  /** The worker with the tokenizer built in it: a fresh one after a stop. */
  private async ready(): Promise<WorkerLike> {
    if (this.worker) return this.worker;
    let worker: WorkerLike;
    try {
      worker = this.spawn();
    } catch (err) {
      const why = String((err as Error)?.message ?? err).slice(0, 200);
      throw new WebqError('OperationError', `the tokenizer worker could not start: ${why}`);
    }
    this.worker = worker;
    try {
      await this.send(worker, { op: 'build', json: this.json, config: this.config }, this.budget.buildMs);
    } catch (err) {
      this.stop();
      throw err;
    }
    return worker;
  }

  private send(worker: WorkerLike, request: TokenizerRequest, ms: number): Promise<TokenizerResult> {
    return new Promise<TokenizerResult>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        worker.onmessage = null;
        worker.onerror = null;
      };
      const timer = setTimeout(() => {
        done();
        this.stop();
        reject(
          new WebqError(
            'TimeoutError',
            `the model's tokenizer took longer than ${ms / 1000} s ${STEP[request.op]}` +
              ' and was stopped; its tokenizer.json may hold a regular expression that backtracks without end' +
              ' (shorter input may help)',
          ),
        );
      }, ms);
      worker.onmessage = ({ data }) => {
        done();
        if ('error' in data) reject(fromWireError(data.error));
        else resolve(data.ok);
      };
      worker.onerror = (event) => {
        done();
        this.stop();
        const why = String(event.message ?? 'no message').slice(0, 200);
        reject(new WebqError('OperationError', `the tokenizer worker failed ${STEP[request.op]}: ${why}`));
      };
      worker.postMessage(request);
    });
  }
}
