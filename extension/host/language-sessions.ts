/**
 * Prompt-API sessions (SPEC §8 `LanguageModel`): a conversation kept in the engine host with its KV cache, so each
 * prompt runs only its own new tokens, never the history again. A session belongs to the origin that created it
 * (another origin naming its id gets NotFoundError), and one prompt runs at a time per session.
 *
 * A turn renders the whole conversation with the model's chat template and feeds only what follows the tokens the
 * cache already holds; where the template renders the history differently from what was generated (a template that
 * rewrites earlier turns), the session prefills again from the start — slower, never wrong.
 *
 * On WebGPU a session's cache is GPU memory (decode-loop.ts): a clone copies it, and destroy() — or a reset, or the
 * end of the prompt running when destroy() came — frees it.
 */
import { WebqError } from '../shared/errors';
import type { ChatMessage } from '../shared/messages';
import type { NormalizedOptions } from '../shared/options';
import { SESSION_DEFAULTS } from '../shared/protocol';
import type { ModelRef } from '../shared/types';
import {
  checkGenerationOptions,
  cloneCache,
  contextUsage,
  continueGeneration,
  createCache,
  promptIds,
  releaseCache,
  type GenerationResult,
  type KvCache,
  type TextGenerationAssets,
} from '../tasks/generation';
import type { GraphRunner } from '../tasks/types';

/** Sessions one origin may hold at once (each holds a KV cache). */
export const MAX_SESSIONS_PER_ORIGIN = 16;

export interface LanguageSession {
  id: string;
  origin: string;
  model: ModelRef;
  /** Load options (precision, backend) and the session's sampling defaults (temperature, topK). */
  options: NormalizedOptions;
  history: ChatMessage[];
  cache: KvCache;
  busy: boolean;
  /** destroy() came while a prompt ran: the prompt frees the cache when it ends. */
  destroyed: boolean;
}

export interface SessionFigures {
  contextUsage: number;
  contextWindow: number;
}

export class LanguageSessions {
  private readonly sessions = new Map<string, LanguageSession>();

  create(origin: string, model: ModelRef, options: NormalizedOptions, initialPrompts: ChatMessage[]): LanguageSession {
    const held = [...this.sessions.values()].filter((s) => s.origin === origin).length;
    if (held >= MAX_SESSIONS_PER_ORIGIN) {
      throw new WebqError(
        'QuotaExceededError',
        `this site already holds ${held} language model sessions; destroy() some first`,
      );
    }
    const session: LanguageSession = {
      id: crypto.randomUUID(),
      origin,
      model,
      options,
      history: [...initialPrompts],
      cache: createCache(),
      busy: false,
      destroyed: false,
    };
    this.sessions.set(session.id, session);
    return session;
  }

  /** The caller's own session; NotFoundError for an unknown, destroyed or another origin's id. */
  get(origin: string, id: string): LanguageSession {
    const session = this.sessions.get(id);
    if (!session || session.origin !== origin)
      throw new WebqError('NotFoundError', 'no such language model session (destroyed?)');
    return session;
  }

  clone(origin: string, id: string): LanguageSession {
    const source = this.get(origin, id);
    const copy = this.create(origin, source.model, source.options, source.history);
    copy.cache = cloneCache(source.cache);
    return copy;
  }

  destroy(origin: string, id: string): void {
    const session = this.get(origin, id);
    this.sessions.delete(id);
    session.destroyed = true;
    if (!session.busy) releaseCache(session.cache);
  }

  /** Sessions held now (all origins). */
  get size(): number {
    return this.sessions.size;
  }
}

/** The session's prompt options: its own generation defaults, then the prompt's. */
function turnOptions(session: LanguageSession, options: NormalizedOptions) {
  const defaults = Object.fromEntries(
    SESSION_DEFAULTS.map((k) => [k, session.options[k]]).filter(([, v]) => v !== undefined),
  );
  return checkGenerationOptions({ ...defaults, ...options });
}

/** The ids of the conversation with `added`, and how many of them the cache already holds. */
async function feedFor(
  session: LanguageSession,
  assets: TextGenerationAssets,
  added: ChatMessage[],
): Promise<number[]> {
  const ids = await promptIds(assets, { kind: 'messages', messages: [...session.history, ...added] });
  const held = [...session.cache.tokens, ...session.cache.pending];
  const prefix = held.length <= ids.length && held.every((t, i) => t === ids[i]);
  if (!prefix) {
    releaseCache(session.cache);
    session.cache = createCache();
  }
  return prefix ? ids.slice(held.length) : ids;
}

/** One prompt: the new messages after the history, generated into the session's cache and kept in its history. */
export async function promptSession(
  session: LanguageSession,
  assets: TextGenerationAssets,
  graphs: GraphRunner,
  added: ChatMessage[],
  options: NormalizedOptions,
  onDelta: (text: string) => void,
): Promise<GenerationResult> {
  if (session.busy)
    throw new WebqError(
      'OperationError',
      'this session is answering another prompt; wait for it, or clone() the session',
    );
  session.busy = true;
  try {
    const feed = await feedFor(session, assets, added);
    const result = await continueGeneration(assets, session.cache, feed, turnOptions(session, options), graphs, {
      onDelta,
      signal: graphs.signal,
    });
    session.history.push(...added, { role: 'assistant', content: result.text });
    return result;
  } finally {
    session.busy = false;
    if (session.destroyed) releaseCache(session.cache);
  }
}

/** How many tokens `added` would take after the conversation so far. */
export async function measureSession(
  session: LanguageSession,
  assets: TextGenerationAssets,
  added: ChatMessage[],
): Promise<number> {
  const all = await promptIds(assets, { kind: 'messages', messages: [...session.history, ...added] });
  const before = session.history.length
    ? (await promptIds(assets, { kind: 'messages', messages: session.history })).length
    : 0;
  return Math.max(0, all.length - before);
}

/** The conversation's size in tokens (appended messages included, prefilled or not) and the model's window. */
export async function figures(session: LanguageSession, assets: TextGenerationAssets): Promise<SessionFigures> {
  const rendered = session.history.length
    ? (await promptIds(assets, { kind: 'messages', messages: session.history })).length
    : 0;
  return { contextUsage: Math.max(rendered, contextUsage(session.cache)), contextWindow: assets.config.contextWindow };
}
