/**
 * The text2text-generation pipeline (t5-small) on a generated T5-shaped model (tools/hub-models/t5.ts) on
 * onnxruntime-node's CPU EP, against a reference written apart from the pipeline (tests/support/t5-reference.ts: the
 * input's ids from @huggingface/tokenizers, the encoder run directly, and greedy decoding on decoder_model.onnx over
 * the whole sequence at every step, no cache). Then what the pipeline shares with text-generation (seeded sampling,
 * stop strings, maxNewTokens, streamed deltas), 4-bit weights, a broken cache, and the errors a model's files cause.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { prepareModel } from '../../../extension/host/prepare';
import { makePolicy } from '../../../extension/onnx/index';
import { normalizeOptions } from '../../../extension/shared/options';
import type { Tensor } from '../../../extension/shared/tensor';
import {
  text2textGeneration,
  type Text2TextAssets,
  type Text2TextOutput,
} from '../../../extension/tasks/text2text-generation';
import type { GraphRunner, RunHooks } from '../../../extension/tasks/types';
import { T5_EXAMPLES, T5_PREFIX, t5HubFiles, t5TextIds, t5TokenId } from '../../../tools/hub-models/t5';
import { filesFrom, type HubFiles, nodeRunner } from '../../support/node-pipeline';
import { t5ReferenceGreedy } from '../../support/t5-reference';

const hub = t5HubFiles();
const json = (name: string) => JSON.parse(hub[name] as string) as Record<string, unknown>;

let assets: Text2TextAssets;
let runner: Awaited<ReturnType<typeof nodeRunner>>;

beforeAll(async () => {
  assets = await text2textGeneration.prepare(filesFrom(hub));
  runner = await nodeRunner(text2textGeneration, hub);
});
afterAll(async () => {
  await runner.release();
});

async function generate(
  input: string,
  options: Record<string, unknown> = {},
  graphs: GraphRunner = runner,
  hooks: RunHooks = {},
): Promise<Text2TextOutput> {
  const wire = { kind: 'text' as const, text: [input], batched: false };
  return (await text2textGeneration.run(
    assets,
    wire,
    normalizeOptions(options, 'run'),
    graphs,
    hooks,
  )) as Text2TextOutput;
}

describe('text2text-generation on a generated T5', () => {
  test('greedy decoding with the KV cache gives the independent no-cache reference, which is the known answer', async () => {
    for (const { input, text } of Object.values(T5_EXAMPLES)) {
      const reference = await t5ReferenceGreedy(hub, input);
      expect(reference).toEqual(t5TextIds(text));
      const before = { ...runner.calls };
      const out = await generate(input);
      expect(out.tokens).toEqual(reference);
      expect(out.text).toBe(text);
      expect(out.finishReason).toBe('stop');
      const tokenizer = new Tokenizer(json('tokenizer.json'), json('tokenizer_config.json'));
      expect(out.usage).toEqual({
        promptTokens: tokenizer.encode(input).ids.length,
        completionTokens: reference.length,
      });
      // One encoder run, one first step, then the cached decoder for every later token (eos included).
      const calls = (role: string) => (runner.calls[role] ?? 0) - (before[role] ?? 0);
      expect([calls('encoder'), calls('decoder'), calls('decoderWithPast')]).toEqual([1, 1, reference.length]);
    }
  });

  test('a word the tokenizer does not know is <unk>, which the model copies and the text leaves out', async () => {
    const input = `${T5_PREFIX} red cat zebra`;
    const out = await generate(input);
    expect(out.tokens).toEqual([...t5TextIds('rot Katze'), t5TokenId('<unk>')]);
    expect(out.tokens).toEqual(await t5ReferenceGreedy(hub, input));
    expect(out.text).toBe('rot Katze');
  });

  test('a cache that is not grown changes the text (the model reads its past, so this test can fail)', async () => {
    // Feeds the first step's self-attention cache at every step, as a loop that forgot to keep present.* would.
    let first: Record<string, Tensor> | undefined;
    const stale: GraphRunner = {
      ...runner,
      io: (role) => runner.io(role),
      run: async (role, feeds) => {
        if (role !== 'decoderWithPast') return runner.run(role, feeds);
        first ??= Object.fromEntries(Object.entries(feeds).filter(([name]) => name.includes('.decoder.')));
        return runner.run(role, { ...feeds, ...first });
      },
    };
    const { input, text } = T5_EXAMPLES.animals;
    const out = await generate(input, { maxNewTokens: 5 }, stale);
    expect(out.text).not.toBe(text);
    expect(out.tokens.slice(0, 2)).toEqual(t5TextIds(text).slice(0, 2)); // right until the cache matters
  });

  test('weights rewritten to 4 bits (the Chrome profile for text) still give the answer', async () => {
    const policy = makePolicy({ bits: 4, scheme: 'symmetric', groupSize: 128, mixedPrecision: true });
    const graphs = Object.fromEntries(
      Object.entries(text2textGeneration.graphs).map(([role, file]) => [
        role,
        prepareModel(hub[file] as Uint8Array, policy).bytes,
      ]),
    );
    const quantized = await nodeRunner(text2textGeneration, hub, graphs);
    try {
      const { input, text } = T5_EXAMPLES.animals;
      expect((await generate(input, {}, quantized)).text).toBe(text);
    } finally {
      await quantized.release();
    }
  });

  test('maxNewTokens stops early with finishReason length; stop strings cut the text; deltas add up to it', async () => {
    const { input, text } = T5_EXAMPLES.animals;
    const short = await generate(input, { maxNewTokens: 2 });
    expect(short.tokens).toEqual(t5TextIds(text).slice(0, 2));
    expect(short).toMatchObject({ text: 'klein schwarz', finishReason: 'length' });
    const deltas: string[] = [];
    const metrics: Record<string, number | undefined>[] = [];
    const cut = await generate(input, { stop: ['Katze'] }, runner, {
      onDelta: (d) => deltas.push(d),
      report: (m) => metrics.push(m),
    });
    expect(cut).toMatchObject({ text: 'klein schwarz ', finishReason: 'stop' });
    expect(deltas.join('')).toBe(cut.text);
    expect(deltas.length).toBeGreaterThan(1);
    expect(metrics).toHaveLength(1);
    expect(metrics[0]!.timeToFirstTokenMs).toBeGreaterThan(0);
  });

  test('seeded sampling is reproducible and is not greedy decoding in disguise', async () => {
    const { input, text } = T5_EXAMPLES.animals;
    const options = { temperature: 4, topK: 20, seed: 11, maxNewTokens: 6 };
    const a = await generate(input, options);
    expect(await generate(input, options)).toEqual(a);
    const seeds = await Promise.all([1, 2, 3, 4, 5].map((seed) => generate(input, { ...options, seed })));
    expect(new Set(seeds.map((s) => s.text)).size).toBeGreaterThan(1);
    expect(seeds.some((s) => s.text !== text)).toBe(true);
    // A high temperature with top-k 1 is greedy again.
    expect((await generate(input, { temperature: 4, topK: 1, seed: 3 })).text).toBe(text);
  });

  test('bad options and inputs are DataErrors naming them; an aborted request is an AbortError', async () => {
    const { input } = T5_EXAMPLES.colours;
    await expect(generate(input, { topK: 0 })).rejects.toMatchObject({ name: 'DataError', message: /topK/ });
    await expect(generate(input, { maxNewTokens: 0 })).rejects.toMatchObject({
      name: 'DataError',
      message: /maxNewTokens/,
    });
    const run = (wire: Parameters<typeof text2textGeneration.run>[1]) =>
      text2textGeneration.run(assets, wire, normalizeOptions({}, 'run'), runner);
    await expect(run({ kind: 'text', text: ['a', 'b'], batched: true })).rejects.toMatchObject({
      name: 'DataError',
      message: /one string/,
    });
    await expect(run({ kind: 'audio', audio: new Float32Array(4), sampleRate: 16000 })).rejects.toMatchObject({
      name: 'DataError',
    });
    const long = `${T5_EXAMPLES.colours.input} ${'red '.repeat(600)}`;
    await expect(generate(long)).rejects.toMatchObject({ name: 'DataError', message: /at most 512/ });
    const controller = new AbortController();
    controller.abort();
    const aborted = await nodeRunner(text2textGeneration, hub, {}, controller.signal);
    try {
      await expect(generate(input, {}, aborted)).rejects.toMatchObject({ name: 'AbortError' });
    } finally {
      await aborted.release();
    }
  });
});

describe('model files', () => {
  const prepareWith = (changes: Record<string, Record<string, unknown>>) => {
    const files: HubFiles = { ...hub };
    for (const [name, fields] of Object.entries(changes)) files[name] = JSON.stringify({ ...json(name), ...fields });
    return text2textGeneration.prepare(filesFrom(files));
  };

  test('bad config files are DataErrors naming the file and field', async () => {
    await expect(prepareWith({ 'config.json': { vocab_size: 'many' } })).rejects.toMatchObject({
      name: 'DataError',
      message: /config\.json vocab_size/,
    });
    await expect(prepareWith({ 'generation_config.json': { eos_token_id: [1, -4] } })).rejects.toMatchObject({
      name: 'DataError',
      message: /generation_config\.json eos_token_id/,
    });
    await expect(prepareWith({ 'generation_config.json': { decoder_start_token_id: 1e9 } })).rejects.toMatchObject({
      name: 'DataError',
      message: /decoder_start_token_id/,
    });
    await expect(prepareWith({ 'generation_config.json': { max_length: 0 } })).rejects.toMatchObject({
      name: 'DataError',
      message: /max_length/,
    });
    await expect(prepareWith({ 'tokenizer_config.json': { model_max_length: 'long' } })).rejects.toMatchObject({
      name: 'DataError',
      message: /model_max_length/,
    });
    const files: HubFiles = { ...hub };
    delete files['config.json'];
    await expect(text2textGeneration.prepare(filesFrom(files))).rejects.toMatchObject({ name: 'NotFoundError' });
  });

  test("a config that disagrees with the graphs' cache is a DataError at the first run, naming the field", async () => {
    const wrong = await prepareWith({ 'config.json': { num_heads: 3 } });
    const wire = { kind: 'text' as const, text: [T5_EXAMPLES.colours.input], batched: false };
    await expect(text2textGeneration.run(wrong, wire, normalizeOptions({}, 'run'), runner)).rejects.toMatchObject({
      name: 'DataError',
      message: /num_heads 3/,
    });
    const fewer = await prepareWith({ 'config.json': { num_decoder_layers: 1 } });
    await expect(text2textGeneration.run(fewer, wire, normalizeOptions({}, 'run'), runner)).rejects.toMatchObject({
      name: 'DataError',
      message: /num_decoder_layers 1/,
    });
  });
});
