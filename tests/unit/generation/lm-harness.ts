/**
 * Shared by the decode-loop tests of the generated Llama, Qwen2 and Qwen3: the pipeline's assets and a Node runner
 * for a hub model, and a reference greedy decoder written independently of the loop under test — no KV cache: every
 * step runs the whole sequence with an empty past and takes the argmax of the last position — so agreeing with it
 * checks the cache path (presents fed back, positions, masks) as well as the prefill.
 */
import { textGeneration, type TextGenerationAssets } from '../../../extension/tasks/generation/index';
import type { Tensor } from '../../../extension/shared/tensor';
import type { GraphRunner, TaskPipeline } from '../../../extension/tasks/types';
import { filesFrom, nodeRunner, type HubFiles } from '../../support/node-pipeline';

export interface Loaded {
  assets: TextGenerationAssets;
  runner: GraphRunner & { release(): Promise<void>; calls: Record<string, number> };
}

export async function load(hub: HubFiles): Promise<Loaded> {
  const assets = await textGeneration.prepare(filesFrom(hub));
  const runner = await nodeRunner({ graphs: textGeneration.graphs } as unknown as TaskPipeline, hub);
  return { assets, runner };
}

/** A runner over `inner` that calls `onRun(n)` before its n-th run (1-based). */
export function watched(inner: GraphRunner, onRun: (n: number) => void, signal = inner.signal): GraphRunner {
  let n = 0;
  return {
    signal,
    io: (role) => inner.io(role),
    run: (role, feeds) => {
      onRun(++n);
      return inner.run(role, feeds);
    },
  };
}

const ids64 = (ids: number[]) =>
  ({ type: 'int64', dims: [1, ids.length], data: BigInt64Array.from(ids, BigInt) }) as Tensor;

/** Greedy ids after `prompt` by full recomputation, until one of `eos` (not included) or `count` tokens. */
export async function referenceGreedy(
  runner: GraphRunner,
  prompt: number[],
  count: number,
  eos: number[],
  vocabLimit: number,
): Promise<number[]> {
  const io = runner.io('model');
  const sequence = [...prompt];
  const out: number[] = [];
  while (out.length < count) {
    const feeds: Record<string, Tensor> = {};
    for (const input of io.inputs) {
      if (input.name === 'input_ids') feeds[input.name] = ids64(sequence);
      else if (input.name === 'attention_mask') feeds[input.name] = ids64(sequence.map(() => 1));
      else if (input.name === 'position_ids') feeds[input.name] = ids64(sequence.map((_, i) => i));
      else
        feeds[input.name] = {
          type: 'float32',
          dims: [1, Number(input.dims[1]), 0, Number(input.dims[3])],
          data: new Float32Array(0),
        };
    }
    const logits = (await runner.run('model', feeds)).logits!;
    const width = logits.dims[2]!;
    const row = (logits.data as Float32Array).subarray((sequence.length - 1) * width, sequence.length * width);
    let best = 0;
    for (let i = 1; i < vocabLimit; i++) if (row[i]! > row[best]!) best = i;
    if (eos.includes(best)) break;
    out.push(best);
    sequence.push(best);
  }
  return out;
}
