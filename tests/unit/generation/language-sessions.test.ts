/**
 * LanguageModel sessions in the engine (extension/host/language-sessions.ts) on the generated Qwen2 in Node: a
 * second prompt runs only its own new tokens (the history is not prefilled again) and answers as a one-shot run of
 * the whole conversation would; sessions belong to their origin; clones continue on their own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LanguageSessions, promptSession } from '../../../extension/host/language-sessions';
import { generateText } from '../../../extension/tasks/generation/index';
import type { Tensor } from '../../../extension/shared/tensor';
import type { GraphRunner } from '../../../extension/tasks/types';
import { qwen2HubFiles } from '../../../tools/hub-models/qwen2';
import { load, type Loaded } from './lm-harness';

let m: Loaded;
beforeAll(async () => {
  m = await load(qwen2HubFiles());
}, 30_000);
afterAll(async () => {
  await m?.runner.release();
});

/** Counts the input_ids fed to the graph (prefill length plus one per decode step). */
function counting(inner: GraphRunner): GraphRunner & { fed: number } {
  const r = {
    fed: 0,
    signal: inner.signal,
    io: (role: string) => inner.io(role),
    run: (role: string, feeds: Record<string, Tensor>) => {
      r.fed += feeds.input_ids!.dims[1]!;
      return inner.run(role, feeds);
    },
  };
  return r;
}

describe('LanguageModel sessions', () => {
  it('a second prompt runs only its new tokens and equals a one-shot run of the conversation', async () => {
    const sessions = new LanguageSessions();
    const s = sessions.create('https://a.example', 'qwen2.5-0.5b-instruct', { maxNewTokens: 4 }, [
      { role: 'system', content: 'Be brief.' },
    ]);
    const first = await promptSession(
      s,
      m.assets,
      m.runner,
      [{ role: 'user', content: 'Name a colour.' }],
      {},
      () => undefined,
    );
    const runner = counting(m.runner);
    const second = await promptSession(
      s,
      m.assets,
      runner,
      [{ role: 'user', content: 'Another?' }],
      {},
      () => undefined,
    );
    const conversation = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Name a colour.' },
      { role: 'assistant', content: first.text },
      { role: 'user', content: 'Another?' },
    ] as const;
    const oneShot = await generateText(
      m.assets,
      { kind: 'messages', messages: [...conversation] },
      { maxNewTokens: 4 },
      m.runner,
    );
    expect(second.tokens).toEqual(oneShot.tokens);
    expect(runner.fed).toBeLessThan(oneShot.usage.promptTokens); // the history was not run again
  });

  it('sessions belong to their origin; a clone continues on its own; destroyed sessions are gone', () => {
    const sessions = new LanguageSessions();
    const s = sessions.create('https://a.example', 'm', {}, []);
    expect(() => sessions.get('https://b.example', s.id)).toThrow(expect.objectContaining({ name: 'NotFoundError' }));
    const copy = sessions.clone('https://a.example', s.id);
    expect(copy.id).not.toBe(s.id);
    sessions.destroy('https://a.example', s.id);
    expect(() => sessions.get('https://a.example', s.id)).toThrow(expect.objectContaining({ name: 'NotFoundError' }));
    expect(sessions.get('https://a.example', copy.id)).toBe(copy);
  });
});
