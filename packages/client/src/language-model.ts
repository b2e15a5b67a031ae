/**
 * `@webq/client/language-model`: the Prompt API's `LanguageModel` (SPEC §8) over webq's text-generation models, for
 * every visitor (the extension when installed, the in-page engine otherwise). `polyfillLanguageModel()` installs it
 * as `globalThis.LanguageModel` where the browser has none of its own.
 */
import { createWebqClient, webq, type LanguageModelFactory, type WebqClientOptions } from './index';

export type { LanguageModelFactory };

/** `LanguageModel` on the default client. */
export const LanguageModel: LanguageModelFactory = webq.LanguageModel;

/** `LanguageModel` on a client of its own (e.g. `{ modelHost }` for a mirror of the model host). */
export function createLanguageModel(options?: WebqClientOptions): LanguageModelFactory {
  return createWebqClient(options).LanguageModel;
}

/**
 * Defines `globalThis.LanguageModel` when the browser has no Prompt API of its own, and returns the one in use.
 * A browser's own LanguageModel is left alone.
 */
export function polyfillLanguageModel(factory: LanguageModelFactory = LanguageModel): unknown {
  const scope = globalThis as { LanguageModel?: unknown };
  if (scope.LanguageModel === undefined)
    Object.defineProperty(globalThis, 'LanguageModel', { value: factory, configurable: true, writable: true });
  return scope.LanguageModel;
}
