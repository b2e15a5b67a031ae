/**
 * The decode loop on graphs with webq's greedy next-token head (extension/onnx/next-token.ts, added by prepare.ts as
 * the engine does), on the generated Qwen2 (logits 151,936 wide, tokenizer smaller) and onnxruntime-node: greedy
 * tokens equal the same graph without the head and the cache-free reference; a variant whose padded columns hold the
 * largest logits shows the tokenizer's limit reaches the graph; a variant whose logits are floored has ties, broken
 * to the first id on both paths. A runner that keeps outputs as counted handles (as WebGPU does) shows that a greedy
 * step keeps the logits on the "device" and frees them, on error paths too, and that sampling still reads them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareModel } from '../../../extension/host/prepare';
import { makeNode, parseModel, serializeModel } from '../../../extension/onnx/model';
import { NEXT_TOKEN_OUTPUT } from '../../../extension/onnx/next-token';
import { floatTensor } from '../../../extension/onnx/tensor';
import type { Tensor } from '../../../extension/shared/tensor';
import {
  DecodeLoop,
  generateText,
  promptIds,
  ROLE,
  textGeneration,
  type GenerationInput,
  type TextGenerationAssets,
} from '../../../extension/tasks/generation/index';
import type { DeviceTensor, GraphRunner, HeldTensor, TaskPipeline } from '../../../extension/tasks/types';
import { qwen2HubFiles } from '../../../tools/hub-models/qwen2';
import { filesFrom, nodeRunner } from '../../support/node-pipeline';
import { referenceGreedy } from './lm-harness';

type Runner = Awaited<ReturnType<typeof nodeRunner>>;
const INPUT: GenerationInput = { kind: 'messages', messages: [{ role: 'user', content: 'Name a colour.' }] };
const STEPS = 8;
const hub = qwen2HubFiles();
const pipeline = textGeneration as unknown as TaskPipeline;

/** The graph with its logits changed by `after(raw) → logits` nodes (or as it is), without and with the head. */
function variants(change?: (raw: string) => ReturnType<typeof makeNode>[]) {
  const model = parseModel(hub['onnx/model.onnx'] as Uint8Array);
  if (change) {
    for (const node of model.graph!.node!) node.output = node.output!.map((o) => (o === 'logits' ? 'logits_raw' : o));
    model.graph!.node!.push(...change('logits_raw'));
  }
  const plain = serializeModel(model);
  return { plain, head: prepareModel(plain, null, [], { nextToken: true }).bytes };
}

/** A handle "on the device": its data cannot be read by the loop, and it counts itself while alive. */
class Handle implements DeviceTensor {
  readonly location = 'gpu-buffer';
  disposed = false;
  constructor(
    readonly wire: Tensor,
    private readonly count: { live: number; made: Record<string, number> },
    name: string,
  ) {
    count.live++;
    count.made[name] = (count.made[name] ?? 0) + 1;
  }
  get type() {
    return this.wire.type as 'float32';
  }
  get dims() {
    return [...this.wire.dims];
  }
  clone(): DeviceTensor {
    throw new Error('not used');
  }
  dispose(): void {
    if (this.disposed) throw new Error('disposed twice');
    this.disposed = true;
    this.count.live--;
  }
}

/**
 * Keeps the outputs named in `keep` as handles and gives only those in `fetches` (when given), as the engine's
 * runner does; `tamper` may change what a run gives back.
 */
function keeping(inner: GraphRunner, tamper?: (out: Record<string, Tensor>, n: number) => void) {
  const count = { live: 0, made: {} as Record<string, number>, cpuLogits: 0, runs: 0, unfetchedLogits: 0 };
  const runner: GraphRunner = {
    signal: inner.signal,
    io: (role) => inner.io(role),
    run: (role, feeds) => inner.run(role, feeds),
    accepts: (_role, t) => t instanceof Handle && !t.disposed,
    async runKeeping(role, feeds, keep, fetches) {
      const wire: Record<string, Tensor> = {};
      for (const [name, t] of Object.entries(feeds)) wire[name] = t instanceof Handle ? t.wire : (t as Tensor);
      const out = await inner.run(role, wire);
      tamper?.(out, ++count.runs);
      if (fetches && !fetches.includes('logits')) count.unfetchedLogits++;
      const held: Record<string, HeldTensor> = {};
      for (const [name, t] of Object.entries(out)) {
        if (fetches && !fetches.includes(name)) continue;
        held[name] = keep.includes(name) ? new Handle(t, count, name) : t;
        if (name === 'logits' && !keep.includes(name)) count.cpuLogits++;
      }
      return held;
    },
  };
  return { runner, count };
}

let assets: TextGenerationAssets;
let prompt: number[];
const runners: Runner[] = [];
const open = async (bytes: Uint8Array) => {
  const r = await nodeRunner(pipeline, hub, { [ROLE]: bytes });
  runners.push(r);
  return r;
};
const greedy = (runner: GraphRunner, options: Record<string, unknown> = {}) =>
  generateText(assets, INPUT, { maxNewTokens: STEPS, ...options }, runner).then((r) => r.tokens);

beforeAll(async () => {
  assets = await textGeneration.prepare(filesFrom(hub));
  prompt = await promptIds(assets, INPUT);
}, 30_000);
afterAll(async () => {
  for (const r of runners) await r.release();
});

describe('greedy tokens from the graph’s next-token head', () => {
  it('equal the logits path and the cache-free reference; on a keeping runner the logits row is not even fetched', async () => {
    const { plain, head } = variants();
    const [p, h] = [await open(plain), await open(head)];
    expect(h.io(ROLE).outputs.map((o) => o.name)).toContain(NEXT_TOKEN_OUTPUT);
    // The head runs on the last position alone: its logits have one position, the plain graph's every one.
    expect(h.io(ROLE).outputs.find((o) => o.name === 'logits')!.dims[1]).toBe(1);
    expect(p.io(ROLE).outputs.find((o) => o.name === 'logits')!.dims[1]).not.toBe(1);
    const reference = await referenceGreedy(p, prompt, STEPS, assets.config.eosIds, assets.vocabLimit);
    expect(reference).toHaveLength(STEPS);
    expect(await greedy(p)).toEqual(reference);
    expect(await greedy(h)).toEqual(reference);
    const { runner, count } = keeping(h);
    expect(await greedy(runner)).toEqual(reference);
    expect(count.cpuLogits).toBe(0);
    expect(count.made.logits).toBeUndefined();
    expect(count.unfetchedLogits).toBe(STEPS); // the prefill and STEPS - 1 decode steps
    expect(count.live).toBe(0); // the cache at the end freed
  }, 60_000);

  it('never choose ids past the tokenizer’s vocabulary, even where the padded columns hold the largest logits', async () => {
    const width = assets.config.vocabSize;
    expect(assets.vocabLimit).toBeLessThan(width); // Qwen2.5 pads vocab_size past its tokenizer
    const bias = new Float32Array(width);
    for (let j = assets.vocabLimit; j < width; j++) bias[j] = 1000;
    const { plain, head } = variants((raw) => [makeNode('Add', [raw, 'pad_bias'], ['logits'], 'pad')]);
    const withBias = (bytes: Uint8Array) => {
      const m = parseModel(bytes);
      m.graph!.initializer!.push(floatTensor('pad_bias', [width], bias));
      return serializeModel(m);
    };
    const [p, h] = [await open(withBias(plain)), await open(withBias(head))];
    // Without the limit the padding would win every step.
    const unlimited = await referenceGreedy(p, prompt, 1, [], width);
    expect(unlimited[0]).toBeGreaterThanOrEqual(assets.vocabLimit);
    const reference = await referenceGreedy(p, prompt, STEPS, assets.config.eosIds, assets.vocabLimit);
    expect(reference.every((id) => id < assets.vocabLimit)).toBe(true);
    expect(await greedy(p)).toEqual(reference);
    const { runner, count } = keeping(h);
    expect(await greedy(runner)).toEqual(reference);
    expect(count.cpuLogits).toBe(0);
  }, 60_000);

  it('break ties to the first id, as the logits path does', async () => {
    // Floor(logits / 4): many ids share the largest value.
    const { plain, head } = variants((raw) => [
      makeNode('Mul', [raw, 'four'], ['scaled'], 'scale'),
      makeNode('Floor', ['scaled'], ['logits'], 'floor'),
    ]);
    const withFour = (bytes: Uint8Array) => {
      const m = parseModel(bytes);
      m.graph!.initializer!.push(floatTensor('four', [], Float32Array.of(0.25)));
      return serializeModel(m);
    };
    const [p, h] = [await open(withFour(plain)), await open(withFour(head))];
    // Ties do occur: count the ids at the maximum of each step's row on the logits path.
    const tied: number[] = [];
    const watching: GraphRunner = {
      ...p,
      run: async (role, feeds) => {
        const out = await p.run(role, feeds);
        const [, positions, vocab] = out.logits!.dims as [number, number, number];
        const row = (out.logits!.data as Float32Array).subarray((positions - 1) * vocab, positions * vocab);
        const limited = row.subarray(0, assets.vocabLimit);
        let max = -Infinity;
        let n = 0;
        for (const v of limited) {
          if (v > max) [max, n] = [v, 1];
          else if (v === max) n++;
        }
        tied.push(n);
        return out;
      },
    };
    const tokens = await greedy(watching);
    expect(tied.filter((n) => n > 1).length).toBeGreaterThanOrEqual(STEPS / 2); // 5 of 8 steps tie here
    expect(tokens).toEqual(await referenceGreedy(p, prompt, STEPS, assets.config.eosIds, assets.vocabLimit));
    expect(await greedy(h)).toEqual(tokens);
    expect(await greedy(keeping(h).runner)).toEqual(tokens);
  }, 60_000);
});

describe('the logits path on a graph with the head', () => {
  it('sampling and a repetition penalty read the logits and give the tokens of the graph without the head', async () => {
    const { plain, head } = variants();
    const [p, h] = [await open(plain), await open(head)];
    for (const options of [{ temperature: 0.9, topK: 20, seed: 7 }, { repetitionPenalty: 1.3 }]) {
      const { runner, count } = keeping(h);
      expect(await greedy(runner, options)).toEqual(await greedy(p, options));
      expect(count.made.logits ?? 0).toBe(0);
      expect(count.cpuLogits).toBe(STEPS);
      expect(count.live).toBe(0);
    }
  }, 60_000);

  it('a step without a token in the vocabulary fails with OperationError and frees what it kept', async () => {
    const h = await open(variants().head);
    for (const bad of [undefined, -1n, BigInt(assets.vocabLimit)]) {
      const { runner, count } = keeping(h, (out, n) => {
        if (n < 3) return;
        if (bad === undefined) delete out[NEXT_TOKEN_OUTPUT];
        else out[NEXT_TOKEN_OUTPUT] = { type: 'int64', dims: [1, 1], data: BigInt64Array.of(bad) };
      });
      await expect(greedy(runner)).rejects.toMatchObject({ name: 'OperationError' });
      expect(count.runs).toBe(3); // no step after the one that failed
      expect(count.live).toBe(0); // the failed step's outputs, and the one-shot run's cache
      // Continuing a cache after such a failure: the step's ids stay pending, the cache is consistent.
      const loop = new DecodeLoop({ graphs: runner, role: ROLE, config: assets.config, vocabLimit: assets.vocabLimit });
      await expect(
        loop.run(prompt, {
          maxNewTokens: STEPS,
          decode: (ids) => assets.tokenizer.decode(ids, { skipSpecialTokens: true }),
        }),
      ).rejects.toMatchObject({ name: 'OperationError' });
    }
  }, 60_000);
});
