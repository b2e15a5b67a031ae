/**
 * The KV cache's ownership rules when the runner keeps presents on the device (WebGPU in the engine; here a runner
 * over onnxruntime-node whose kept outputs are opaque handles that count themselves): every step disposes the past
 * it replaced, a one-shot run frees its cache however it ends, clones copy, released and destroyed caches hold
 * nothing, a runner that no longer accepts the handles (a reloaded model) makes the loop prefill again — and the
 * tokens are those of the plain CPU path. The real GPU path is checked in Chromium (tests/e2e/kv-cache-gpu.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LanguageSessions, promptSession } from '../../../extension/host/language-sessions';
import {
  cloneCache,
  createCache,
  DecodeLoop,
  generateText,
  promptIds,
  releaseCache,
  ROLE,
} from '../../../extension/tasks/generation/index';
import type { Tensor } from '../../../extension/shared/tensor';
import { isDeviceTensor, type DeviceTensor, type GraphRunner, type HeldTensor } from '../../../extension/tasks/types';
import { qwen2HubFiles } from '../../../tools/hub-models/qwen2';
import { load, type Loaded } from './lm-harness';

const MESSAGES = [
  { role: 'system' as const, content: 'You are terse.' },
  { role: 'user' as const, content: 'Name a colour.' },
];

/** A handle to a tensor "on the device": no data visible, counted while alive. */
class Handle implements DeviceTensor {
  readonly location = 'gpu-buffer';
  disposed = false;
  constructor(
    readonly wire: Tensor,
    private readonly owner: DeviceRunner,
  ) {
    owner.live++;
    owner.made++;
    owner.peak = Math.max(owner.peak, owner.live);
  }
  get type() {
    return this.wire.type as 'float32';
  }
  get dims() {
    return [...this.wire.dims];
  }
  clone(): DeviceTensor {
    if (this.disposed) throw new Error('clone of a disposed tensor');
    return new Handle({ ...this.wire, data: this.wire.data.slice() }, this.owner);
  }
  dispose(): void {
    if (this.disposed) throw new Error('disposed twice');
    this.disposed = true;
    this.owner.live--;
  }
}

interface DeviceRunner extends GraphRunner {
  live: number;
  made: number;
  peak: number;
  /** The "session" generation: handles of an earlier one are refused, as after a model reload. */
  generation: number;
}

function deviceRunner(inner: GraphRunner, signal = inner.signal): DeviceRunner {
  const born = new WeakMap<Handle, number>();
  const r: DeviceRunner = {
    live: 0,
    made: 0,
    peak: 0,
    generation: 0,
    signal,
    io: (role) => inner.io(role),
    run: (role, feeds) => inner.run(role, feeds),
    async runKeeping(role, feeds, keep) {
      const wire: Record<string, Tensor> = {};
      for (const [name, t] of Object.entries(feeds)) {
        if (isDeviceTensor(t)) {
          const h = t as Handle;
          if (h.disposed) throw new Error(`${name} was fed after dispose`);
          if (born.get(h) !== r.generation) throw new Error(`${name} is from another session`);
          wire[name] = h.wire;
        } else wire[name] = t;
      }
      const out = await inner.run(role, wire);
      const held: Record<string, HeldTensor> = {};
      for (const [name, t] of Object.entries(out)) {
        if (keep.includes(name)) {
          const h = new Handle(t, r);
          born.set(h, r.generation);
          held[name] = h;
        } else held[name] = t;
      }
      return held;
    },
    accepts: (_role, t) => t instanceof Handle && !t.disposed && born.get(t) === r.generation,
  };
  // clone() makes handles of the same generation as their source
  const clone = Handle.prototype.clone;
  Handle.prototype.clone = function (this: Handle) {
    const copy = clone.call(this) as Handle;
    born.set(copy, born.get(this)!);
    return copy;
  };
  return r;
}

let m: Loaded;
let prompt: number[];
let layersTimesTwo: number;
beforeAll(async () => {
  m = await load(qwen2HubFiles());
  prompt = await promptIds(m.assets, { kind: 'messages', messages: MESSAGES });
  layersTimesTwo = 2 * m.assets.config.layers;
}, 30_000);
afterAll(async () => {
  await m?.runner.release();
});

const loopOn = (graphs: GraphRunner) =>
  new DecodeLoop({ graphs, role: ROLE, config: m.assets.config, vocabLimit: m.assets.vocabLimit });
const decode = (ids: number[]) => m.assets.tokenizer.decode(ids, { skipSpecialTokens: true });

describe('a KV cache kept on the device', () => {
  it('gives the CPU path’s tokens; each step frees the past it replaced; a one-shot run frees all', async () => {
    const input = { kind: 'messages' as const, messages: MESSAGES };
    const plain = await generateText(m.assets, input, { maxNewTokens: 10 }, m.runner);
    const peaks: number[] = [];
    for (const steps of [3, 10]) {
      const r = deviceRunner(m.runner);
      const kept = await generateText(m.assets, input, { maxNewTokens: steps }, r);
      expect(kept.tokens).toEqual(plain.tokens.slice(0, steps));
      expect(r.made).toBe(steps * layersTimesTwo); // prefill + steps - 1 decode steps, each a full set of presents
      expect(r.live).toBe(0);
      peaks.push(r.peak);
    }
    // Two sets at most (the past being read and the presents just made), however many steps ran.
    expect(peaks[1]).toBe(peaks[0]);
    expect(peaks[0]).toBe(2 * layersTimesTwo);
  });

  it('an abort mid-generation frees the cache', async () => {
    const controller = new AbortController();
    const r = deviceRunner(m.runner, controller.signal);
    let deltas = 0;
    const out = await generateText(
      m.assets,
      { kind: 'text', text: ['Once upon a time'], batched: false },
      { maxNewTokens: 50 },
      r,
      {
        signal: controller.signal,
        onDelta: () => {
          if (++deltas === 2) controller.abort();
        },
      },
    );
    expect(out.finishReason).toBe('abort');
    expect(r.made).toBeGreaterThan(0);
    expect(r.live).toBe(0);
  });

  it('interleaved caches do not mix; a clone copies; release frees; a refused cache is prefilled again', async () => {
    const r = deviceRunner(m.runner);
    const loop = loopOn(r);
    const params = { maxNewTokens: 4, decode };
    const expected = (await loopOn(m.runner).run(prompt, { maxNewTokens: 8, decode })).tokens;
    const a = createCache();
    const b = createCache();
    const a1 = await loop.continue(a, prompt, params);
    const b1 = await loop.continue(b, prompt, params);
    const fork = cloneCache(a);
    expect(r.live).toBe(3 * layersTimesTwo);
    const a2 = await loop.continue(a, [], params);
    const b2 = await loop.continue(b, [], params);
    expect([...a1.tokens, ...a2.tokens]).toEqual(expected);
    expect([...b1.tokens, ...b2.tokens]).toEqual(expected);
    releaseCache(a);
    releaseCache(b);
    expect(r.live).toBe(layersTimesTwo); // the fork's own copy
    r.generation++; // the model was reloaded: the fork's handles are refused, its history runs again
    const f2 = await loop.continue(fork, [], params);
    expect(f2.tokens).toEqual(expected.slice(4));
    expect(f2.usage.promptTokens).toBe(prompt.length + 4); // the whole history was fed again
    releaseCache(fork);
    expect(r.live).toBe(0);
  });

  it('LanguageModel sessions: destroy frees the cache, at once or when the running prompt ends', async () => {
    const r = deviceRunner(m.runner);
    const sessions = new LanguageSessions();
    const origin = 'https://a.example';
    const s = sessions.create(origin, 'qwen2.5-0.5b-instruct', { maxNewTokens: 3 }, []);
    await promptSession(s, m.assets, r, [{ role: 'user', content: 'Hi' }], {}, () => undefined);
    expect(r.live).toBe(layersTimesTwo);
    const copy = sessions.clone(origin, s.id);
    expect(r.live).toBe(2 * layersTimesTwo);
    sessions.destroy(origin, s.id);
    expect(r.live).toBe(layersTimesTwo);
    const running = promptSession(copy, m.assets, r, [{ role: 'user', content: 'More' }], {}, () => undefined);
    sessions.destroy(origin, copy.id);
    await running;
    expect(r.live).toBe(0);
  });
});
