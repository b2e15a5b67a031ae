/**
 * The decode-loop checks every generated LLM must pass (run by llama.test.ts, qwen2.test.ts and qwen3.test.ts on
 * their model): greedy tokens identical to the reference, streamed deltas that add up to the tokenizer's text, eos,
 * stop strings, maxNewTokens, abort, continuing a cache equal to one-shot generation, interleaved sessions, the
 * context window, and seeded sampling.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import {
  cloneCache,
  createCache,
  DecodeLoop,
  generateText,
  promptIds,
  ROLE,
  type ChatMessage,
} from '../../../extension/tasks/generation/index';
import type { GraphRunner } from '../../../extension/tasks/types';
import type { HubFiles } from '../../support/node-pipeline';
import { load, referenceGreedy, watched, type Loaded } from './lm-harness';

const MESSAGES: ChatMessage[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Name a colour. ✨' },
];
const STEPS = 8;

export function decodeLoopSuite(name: string, hub: () => HubFiles): void {
  let m: Loaded;
  let prompt: number[];
  let reference: number[];

  beforeAll(async () => {
    m = await load(hub());
    prompt = await promptIds(m.assets, { kind: 'messages', messages: MESSAGES });
    reference = await referenceGreedy(m.runner, prompt, STEPS, m.assets.config.eosIds, m.assets.vocabLimit);
  }, 30_000);
  afterAll(async () => {
    await m?.runner.release();
  });

  const decode = (ids: number[]) => m.assets.tokenizer.decode(ids, { skipSpecialTokens: true });
  const loop = () =>
    new DecodeLoop({ graphs: m.runner, role: ROLE, config: m.assets.config, vocabLimit: m.assets.vocabLimit });

  test(`${name}: greedy tokens equal the cache-free reference; deltas add up to the decoded text`, async () => {
    expect(reference).toHaveLength(STEPS);
    expect(new Set(reference).size).toBeGreaterThan(2); // the model does not just repeat itself
    const deltas: string[] = [];
    const r = await generateText(
      m.assets,
      { kind: 'messages', messages: MESSAGES },
      { maxNewTokens: STEPS },
      m.runner,
      {
        onDelta: (d) => deltas.push(d),
      },
    );
    expect(r.tokens).toEqual(reference);
    expect(r.finishReason).toBe('length');
    expect(r.usage).toEqual({ promptTokens: prompt.length, completionTokens: STEPS });
    expect(deltas.join('')).toBe(r.text);
    expect(r.text).toBe(await decode(reference));
    expect(deltas.every((d) => d.length > 0 && !d.includes('\uFFFD'))).toBe(true);
    expect(r.timings.prefillMs).toBeGreaterThan(0);
    expect(r.timings.timeToFirstTokenMs).toBeGreaterThanOrEqual(r.timings.prefillMs);
  });

  test(`${name}: a plain string is a raw prompt`, async () => {
    const r = await generateText(
      m.assets,
      { kind: 'text', text: ['Once upon a time'], batched: false },
      { maxNewTokens: 3 },
      m.runner,
    );
    const ids = await promptIds(m.assets, { kind: 'text', text: ['Once upon a time'], batched: false });
    expect(r.tokens).toEqual(await referenceGreedy(m.runner, ids, 3, m.assets.config.eosIds, m.assets.vocabLimit));
  });

  test(`${name}: stops at an end-of-sequence id, which is not in the output`, async () => {
    const eos = reference[3]!;
    const assets = { ...m.assets, config: { ...m.assets.config, eosIds: [eos] } };
    const r = await generateText(assets, { kind: 'messages', messages: MESSAGES }, { maxNewTokens: STEPS }, m.runner);
    expect(r.finishReason).toBe('stop');
    expect(r.tokens).toEqual(reference.slice(0, reference.indexOf(eos)));
  });

  test(`${name}: a stop string ends the text before it; maxNewTokens bounds the rest`, async () => {
    const full = await decode(reference);
    const stop = full.slice(Math.floor(full.length / 2), Math.floor(full.length / 2) + 2);
    const deltas: string[] = [];
    const r = await generateText(
      m.assets,
      { kind: 'messages', messages: MESSAGES },
      { maxNewTokens: STEPS, stop: [stop] },
      m.runner,
      {
        onDelta: (d) => deltas.push(d),
      },
    );
    expect(r.finishReason).toBe('stop');
    expect(r.text).toBe(full.slice(0, full.indexOf(stop)));
    expect(deltas.join('')).toBe(r.text);
    expect(reference.slice(0, r.tokens.length)).toEqual(r.tokens);
    const short = await generateText(m.assets, { kind: 'messages', messages: MESSAGES }, { maxNewTokens: 3 }, m.runner);
    expect(short.tokens).toEqual(reference.slice(0, 3));
    expect(short.finishReason).toBe('length');
  });

  test(`${name}: after a stop string the cache holds the prompt and every generated token, run or pending`, async () => {
    const full = await decode(reference);
    const stop = full.slice(Math.floor(full.length / 2), Math.floor(full.length / 2) + 2);
    const r = await loop().run(prompt, { decode, maxNewTokens: STEPS, stop: [stop] });
    expect(r.finishReason).toBe('stop');
    expect(r.tokens.length).toBeLessThan(STEPS);
    expect([...r.cache.tokens, ...r.cache.pending]).toEqual([...prompt, ...r.tokens]);
  });

  test(`${name}: the tokenizer turns a token into text while the model runs that token`, async () => {
    // Windows being decoded now. The one whose text becomes a token's delta holds the token and at least one id
    // before it (its left context); a window of the token alone is the next window's context, asked for later.
    const decoding = new Set<number[]>();
    let overlapped = 0;
    const slowDecode = async (ids: number[]) => {
      decoding.add(ids);
      await new Promise((resolve) => setTimeout(resolve, 5));
      decoding.delete(ids);
      return decode(ids);
    };
    const graphs: GraphRunner = {
      ...m.runner,
      run: (role, feeds) => {
        const [id] = feeds.input_ids!.data as BigInt64Array;
        if ([...decoding].some((w) => w.length > 1 && BigInt(w[w.length - 1]!) === id)) overlapped++;
        return m.runner.run(role, feeds);
      },
    };
    const deltas: string[] = [];
    const r = await new DecodeLoop({
      graphs,
      role: ROLE,
      config: m.assets.config,
      vocabLimit: m.assets.vocabLimit,
    }).run(prompt, { decode: slowDecode, maxNewTokens: STEPS, onDelta: (d) => deltas.push(d) });
    expect(r.tokens).toEqual(reference);
    expect(deltas.join('')).toBe(await decode(reference));
    // Every step after the prefill but the first, whose token has no left context yet.
    expect(overlapped).toBe(STEPS - 2);
  });

  test(`${name}: an abort stops decoding between steps`, async () => {
    const controller = new AbortController();
    const graphs = watched(
      m.runner,
      (n) => {
        if (n === 3) controller.abort();
      },
      controller.signal,
    );
    const r = await generateText(m.assets, { kind: 'messages', messages: MESSAGES }, { maxNewTokens: STEPS }, graphs);
    expect(r.finishReason).toBe('abort');
    expect(r.tokens).toEqual(reference.slice(0, 3));
  });

  test(`${name}: continuing a cache equals generating from the whole text at once`, async () => {
    const more = (await m.assets.tokenizer.encode([' And another?'], { addSpecialTokens: false }))[0]!.ids as number[];
    const first = await loop().run(prompt, { decode, maxNewTokens: 4 });
    expect(first.tokens).toEqual(reference.slice(0, 4));
    expect(first.cache.pending).toEqual([reference[3]]);
    const before = m.runner.calls.model ?? 0;
    const next = await loop().continue(first.cache, more, { decode, maxNewTokens: 4 });
    // One prefill of the pending token and the new ones, then one step per further token.
    expect(next.usage.promptTokens).toBe(1 + more.length);
    expect((m.runner.calls.model ?? 0) - before).toBe(4);
    const whole = [...prompt, ...reference.slice(0, 4), ...more];
    const oneShot = await loop().run(whole, { decode, maxNewTokens: 4 });
    expect(next.tokens).toEqual(oneShot.tokens);
    expect(first.cache.tokens).toEqual(whole.concat(next.tokens.slice(0, 3)));
  });

  test(`${name}: two sessions interleaved keep their own caches`, async () => {
    const l = loop();
    const a = createCache();
    const b = createCache();
    const other = await promptIds(m.assets, { kind: 'text', text: ['Hello there'], batched: false });
    const a1 = await l.continue(a, prompt, { decode, maxNewTokens: 2 });
    const b1 = await l.continue(b, other, { decode, maxNewTokens: 2 });
    const fork = cloneCache(a);
    const a2 = await l.continue(a, [], { decode, maxNewTokens: 2 });
    const b2 = await l.continue(b, [], { decode, maxNewTokens: 2 });
    const f2 = await l.continue(fork, [], { decode, maxNewTokens: 2 });
    expect([...a1.tokens, ...a2.tokens]).toEqual(reference.slice(0, 4));
    expect(f2.tokens).toEqual(a2.tokens);
    const bRef = await referenceGreedy(m.runner, other, 4, m.assets.config.eosIds, m.assets.vocabLimit);
    expect([...b1.tokens, ...b2.tokens]).toEqual(bRef);
  });

  test(`${name}: the context window bounds generation and refuses input that leaves no room`, async () => {
    const window = prompt.length + 3;
    const assets = { ...m.assets, config: { ...m.assets.config, contextWindow: window } };
    const r = await generateText(assets, { kind: 'messages', messages: MESSAGES }, { maxNewTokens: STEPS }, m.runner);
    expect(r.tokens).toEqual(reference.slice(0, 3));
    expect(r.finishReason).toBe('length');
    const small = { ...m.assets, config: { ...m.assets.config, contextWindow: prompt.length } };
    await expect(generateText(small, { kind: 'messages', messages: MESSAGES }, {}, m.runner)).rejects.toMatchObject({
      name: 'QuotaExceededError',
    });
    const cache = createCache();
    const l = new DecodeLoop({ graphs: m.runner, role: ROLE, config: assets.config });
    await l.continue(cache, prompt, { decode, maxNewTokens: 2 });
    await expect(l.continue(cache, [1, 2], { decode })).rejects.toMatchObject({ name: 'QuotaExceededError' });
  });

  test(`${name}: sampling with a seed is reproducible`, async () => {
    const options = { maxNewTokens: 6, temperature: 1.5, topK: 50, topP: 0.95, repetitionPenalty: 1.2, seed: 7 };
    const input = { kind: 'messages', messages: MESSAGES } as const;
    const a = await generateText(m.assets, input, options, m.runner);
    const b = await generateText(m.assets, input, options, m.runner);
    expect(a.tokens).toEqual(b.tokens);
    expect(a.tokens.length).toBeGreaterThan(0);
    await expect(generateText(m.assets, input, { temperature: -1 }, m.runner)).rejects.toThrow(/temperature/);
  });
}
