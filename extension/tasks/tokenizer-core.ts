/**
 * The tokenizer work itself (@huggingface/tokenizers), as requests and replies, so the same code serves a tokenizer
 * on the caller's thread (Node tests) and one in a worker (the engine host, tokenizer-worker.ts). A tokenizer.json
 * of a page's model is untrusted: its regexes run here, wherever "here" is, and only a worker can be stopped.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { toWireError, WebqError, type WireError } from '../shared/errors';

/** What a tokenizer is asked to do; `build` must come first (it makes the tokenizer the others use). */
export type TokenizerRequest =
  | { op: 'build'; json: Record<string, unknown>; config: Record<string, unknown> }
  | { op: 'encode'; texts: string[]; addSpecialTokens: boolean }
  | { op: 'decode'; ids: number[]; skipSpecialTokens: boolean }
  | { op: 'tokenToId'; tokens: string[] };

export interface Encoded {
  /** Token ids; an entry is not an integer when the vocabulary has no id for a token (no unknown token). */
  ids: (number | undefined)[];
  typeIds: number[] | undefined;
}

export type TokenizerResult = null | Encoded[] | string | (number | undefined)[];
export type TokenizerReply = { ok: TokenizerResult } | { error: WireError };

/** One tokenizer's state: built by the first request, used by the rest. */
export class TokenizerCore {
  private tokenizer: Tokenizer | undefined;

  handle(request: TokenizerRequest): TokenizerReply {
    try {
      return { ok: this.answer(request) };
    } catch (err) {
      return { error: toWireError(err) };
    }
  }

  private answer(request: TokenizerRequest): TokenizerResult {
    if (request.op === 'build') {
      try {
        this.tokenizer = new Tokenizer(request.json, request.config);
      } catch (err) {
        const why = String((err as Error)?.message ?? err).slice(0, 300);
        throw new WebqError('DataError', `the model's tokenizer.json cannot be used: ${why}`);
      }
      return null;
    }
    const tokenizer = this.tokenizer;
    if (!tokenizer) throw new WebqError('OperationError', 'the tokenizer was used before it was built');
    switch (request.op) {
      case 'encode':
        return request.texts.map((text) => {
          const options = { add_special_tokens: request.addSpecialTokens, return_token_type_ids: true } as const;
          const e = tokenizer.encode(text, options);
          return { ids: e.ids, typeIds: e.token_type_ids };
        });
      case 'decode':
        return tokenizer.decode(request.ids, { skip_special_tokens: request.skipSpecialTokens });
      case 'tokenToId':
        return request.tokens.map((t) => tokenizer.token_to_id(t));
    }
  }
}
