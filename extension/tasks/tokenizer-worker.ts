/**
 * Worker side of a tokenizer (tokenizer-off-thread.ts): one tokenizer per worker, so a tokenizer.json whose regexes
 * backtrack for minutes blocks only this worker, which the engine host then terminates.
 */
import { TokenizerCore, type TokenizerReply, type TokenizerRequest } from './tokenizer-core';

const core = new TokenizerCore();
interface Scope {
  onmessage: ((event: MessageEvent<TokenizerRequest>) => void) | null;
  postMessage(reply: TokenizerReply): void;
}
const scope = self as unknown as Scope;

scope.onmessage = (event) => {
  scope.postMessage(core.handle(event.data));
};
