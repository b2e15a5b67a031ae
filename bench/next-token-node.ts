/**
 * What the greedy next-token head (extension/onnx/next-token.ts) saves per token, in Node on onnxruntime-node: the
 * generated Llama at the generation bench's shape (4 layers × 256, the full 128,256-token vocabulary) decoded greedily
 * by webq's DecodeLoop, each round running three arms in rotating order, tokens checked equal:
 *   - logits: the graph without the head; the last logits row comes to JavaScript and sampling.ts takes its argmax
 *     (what every backend did before);
 *   - head+logits: the graph with the head, every output fetched (what wasm does: ORT copies each output out of its
 *     heap), the token read from webq_next_token;
 *   - head: the graph with the head, logits not fetched (session.run's fetches), as WebGPU keeps them on the device.
 * Per-token decode time (DecodeLoop's decodeMs over the decode steps), medians over the rounds.
 *
 *   npx tsx bench/next-token-node.ts [--rounds 7] [--tokens 48] [--ep cpu|webgpu]
 *
 * `--ep webgpu` runs ORT's own Node WebGPU EP, for a machine with a GPU. Node has no GPU-resident outputs, so there
 * the presents come back and go up again every step in all three arms alike; what differs is the logits readback, as
 * in the browser. (On SwiftShader here, VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json, 3 rounds of 16
 * tokens did not finish in 500 s.)
 */
import { register } from 'node:module';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';

// The generated hub models import onnx-proto by name, which Node's ESM loader needs a shim for (as bench/run.ts).
register('./lib/esm-hooks.mjs', import.meta.url);
const { llamaHubFiles } = await import('../tools/hub-models/llama');
const { prepareModel } = await import('../extension/host/prepare');
const { graphIo } = await import('../extension/host/graph');
const { parseModel } = await import('../extension/onnx/model');
const { DecodeLoop, textGeneration, ROLE } = await import('../extension/tasks/generation/index');
const { filesFrom } = await import('../tests/support/node-pipeline');
const { median } = await import('./lib/stats');
type GraphRunner = import('../extension/tasks/types').GraphRunner;
type Tensor = import('../extension/shared/tensor').Tensor;

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    tokens: { type: 'string', default: '48' },
    ep: { type: 'string', default: 'cpu' },
  },
});
const rounds = Number(values.rounds);
const tokens = Number(values.tokens);
const ep = values.ep === 'webgpu' ? 'webgpu' : 'cpu';

const hub = llamaHubFiles({ spec: { hidden: 256, heads: 8, kvHeads: 2, layers: 4, intermediate: 688 } });
const assets = await textGeneration.prepare(filesFrom(hub));
const plain = hub['onnx/model.onnx'] as Uint8Array;
const withHead = prepareModel(plain, null, [], { nextToken: true }).bytes;

const fromOrt = (t: ort.Tensor): Tensor => ({
  type: t.type as Tensor['type'],
  dims: [...t.dims],
  data: t.data as never,
});
const toOrt = (feeds: Record<string, unknown>) =>
  Object.fromEntries(
    Object.entries(feeds).map(([k, t]) => [
      k,
      new ort.Tensor((t as Tensor).type, (t as Tensor).data as never, (t as Tensor).dims),
    ]),
  );

/** A runner over one session; `skipLogits`: runKeeping leaves a kept `logits` unfetched (WebGPU: left on the GPU). */
async function runner(bytes: Uint8Array, skipLogits: boolean): Promise<GraphRunner & { release(): Promise<void> }> {
  const session = await ort.InferenceSession.create(bytes, { executionProviders: [ep] });
  const io = graphIo(parseModel(bytes));
  const all = io.outputs.map((o) => o.name);
  const run = async (feeds: Record<string, unknown>, fetches: string[]) => {
    const out = await session.run(toOrt(feeds), fetches);
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, fromOrt(v)]));
  };
  return {
    signal: new AbortController().signal,
    io: () => io,
    run: (_role, feeds) => run(feeds, all),
    ...(skipLogits
      ? {
          runKeeping: (_role, feeds, keep) =>
            run(
              feeds,
              all.filter((n) => !(n === 'logits' && keep.includes(n))),
            ),
        }
      : {}),
    release: () => session.release(),
  };
}

const arms = {
  logits: await runner(plain, false),
  'head+logits': await runner(withHead, false),
  head: await runner(withHead, true),
};
const config = { ...assets.config, eosIds: [] }; // always `tokens` tokens
const prompt = Array.from({ length: 24 }, (_, i) => 1000 + 37 * i);
const decode = (ids: number[]) => assets.tokenizer.decode(ids, { skipSpecialTokens: true });
const perToken: Record<string, number[]> = { logits: [], 'head+logits': [], head: [] };
let expected: number[] | undefined;
const names = Object.keys(arms) as (keyof typeof arms)[];
for (let round = -1; round < rounds; round++) {
  // Round -1 warms every session up and is not counted.
  for (let k = 0; k < names.length; k++) {
    const name = names[(k + Math.max(round, 0)) % names.length]!;
    const loop = new DecodeLoop({ graphs: arms[name], role: ROLE, config, vocabLimit: assets.vocabLimit });
    const r = await loop.run(prompt, { maxNewTokens: tokens, decode });
    expected ??= r.tokens;
    if (r.tokens.join() !== expected.join()) throw new Error(`${name}: other tokens than the logits path`);
    if (round >= 0) perToken[name]!.push(r.timings.decodeMs / (r.tokens.length - 1));
  }
}
for (const arm of Object.values(arms)) await arm.release();
const base = median(perToken.logits!);
console.log(`ORT ${ort.env.versions.common} Node ${ep} EP; ${rounds} rounds × ${tokens} tokens; vocabulary 128,256`);
for (const name of names) {
  const m = median(perToken[name]!);
  console.log(
    `${name.padEnd(12)} ${m.toFixed(3)} ms/token  (${(m - base >= 0 ? '+' : '') + (m - base).toFixed(3)} vs logits)`,
  );
}
