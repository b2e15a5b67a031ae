/**
 * How a task pipeline tokenizes: through a `TextTokenizer` whose methods are async, so the engine host can run the
 * tokenizer in a worker with a time budget (tokenizer-off-thread.ts) — a page's tokenizer.json is untrusted and its
 * regexes can backtrack for minutes — while Node tests run the same pipeline with the tokenizer on their own thread.
 * The worker is chosen wherever the platform has Workers (every engine host); Node has none.
 */
import { fromWireError } from '../shared/errors';
import { TokenizerCore, type Encoded, type TokenizerRequest, type TokenizerResult } from './tokenizer-core';
import { TOKENIZER_BUDGET, WorkerTokenizer, type TokenizerBudget, type WorkerLike } from './tokenizer-off-thread';

export type { Encoded };
export { TOKENIZER_BUDGET, type TokenizerBudget };

export interface TextTokenizer {
  /** One encoding per text, in one step (one time budget for the batch). */
  encode(texts: string[], options: { addSpecialTokens: boolean }): Promise<Encoded[]>;
  decode(ids: number[], options: { skipSpecialTokens: boolean }): Promise<string>;
  /** The vocabulary's id of each token, or undefined where it has none. */
  tokenToId(tokens: string[]): Promise<(number | undefined)[]>;
}

export interface TokenizerService {
  /** Builds the tokenizer now (a bad tokenizer.json fails the model's load, not its first run). */
  load(json: Record<string, unknown>, config: Record<string, unknown>): Promise<TextTokenizer>;
}

/** The async interface over any way of answering requests (this thread, or a worker). */
class RequestTokenizer implements TextTokenizer {
  constructor(private readonly ask: (request: TokenizerRequest) => Promise<TokenizerResult>) {}
  async encode(texts: string[], { addSpecialTokens }: { addSpecialTokens: boolean }): Promise<Encoded[]> {
    return (await this.ask({ op: 'encode', texts, addSpecialTokens })) as Encoded[];
  }
  async decode(ids: number[], { skipSpecialTokens }: { skipSpecialTokens: boolean }): Promise<string> {
    return (await this.ask({ op: 'decode', ids, skipSpecialTokens })) as string;
  }
  async tokenToId(tokens: string[]): Promise<(number | undefined)[]> {
    return (await this.ask({ op: 'tokenToId', tokens })) as (number | undefined)[];
  }
}

/** On the caller's thread, with no budget: for Node, where nothing else shares the thread with a page's model. */
export const inThreadTokenizers: TokenizerService = {
  async load(json, config) {
    const core = new TokenizerCore();
    const ask = async (request: TokenizerRequest): Promise<TokenizerResult> => {
      const reply = core.handle(request);
      if ('error' in reply) throw fromWireError(reply.error);
      return reply.ok;
    };
    await ask({ op: 'build', json, config });
    return new RequestTokenizer(ask);
  },
};

/** In workers started by `spawn` (one per tokenizer), each step within `budget`. */
export function workerTokenizers(
  spawn: () => WorkerLike,
  budget: TokenizerBudget = TOKENIZER_BUDGET,
): TokenizerService {
  return {
    async load(json, config) {
      const worker = new WorkerTokenizer(spawn, json, config, budget);
      await worker.build();
      return new RequestTokenizer((request) => worker.ask(request));
    },
  };
}

/** A module worker, bundled by Vite for each build (chrome, firefox, harness) like the prepare worker. */
function spawnTokenizerWorker(): WorkerLike {
  return new Worker(new URL('./tokenizer-worker.ts', import.meta.url), { type: 'module' }) as unknown as WorkerLike;
}

let service: TokenizerService | undefined;

/** Workers where the platform has them (every engine host), this thread in Node. */
export function tokenizers(): TokenizerService {
  service ??= typeof Worker === 'function' ? workerTokenizers(spawnTokenizerWorker) : inThreadTokenizers;
  return service;
}
