/**
 * Tokenizers off the engine's thread with a time budget (issue 13, SPEC §3): the engine's real worker module on a
 * real thread (Node worker_threads), a tokenizer.json whose regex backtracks for hours, and the budget that stops
 * it. The pipelines' own tests run the in-thread tokenizer; this one shows the worker gives the same ids.
 */
import { afterAll, describe, expect, test } from 'vitest';
import { inThreadTokenizers, TOKENIZER_BUDGET, workerTokenizers } from '../../../extension/tasks/tokenizer';
import { bertTokenizerConfig, bertTokenizerJson } from '../../../tools/hub-models/bert';
import { BACKTRACKING_TEXT, backtrackingTokenizerJson } from '../../../tools/hub-models/backtracking';
import { nodeTokenizerWorkers } from '../../support/node-worker';

/** Threads per test, so each test counts its own; all ended after the file. */
const pools: ReturnType<typeof nodeTokenizerWorkers>[] = [];
const threads = () => {
  const w = nodeTokenizerWorkers();
  pools.push(w);
  return w;
};
afterAll(() => Promise.all(pools.map((w) => w.terminateAll())));
const idsOf = (encoded: { ids: unknown[] }[]) => encoded.map((e) => e.ids);

const budget = (overrides: Partial<typeof TOKENIZER_BUDGET>) => ({ ...TOKENIZER_BUDGET, ...overrides });
const texts = ['Hello world!', 'the quick brown fox', ''];

describe('tokenizer in a worker', () => {
  test('the defaults: 10 s to build, 5 s per step', () => {
    expect(TOKENIZER_BUDGET).toMatchObject({ buildMs: 10_000, stepMs: 5_000 });
  });

  test('gives the same ids, type ids, lookups and text as the tokenizer on this thread', async () => {
    const json = bertTokenizerJson(),
      config = bertTokenizerConfig();
    const here = await inThreadTokenizers.load(json, config);
    const workers = threads();
    const there = await workerTokenizers(() => workers.spawn()).load(json, config);
    for (const addSpecialTokens of [true, false]) {
      expect(await there.encode(texts, { addSpecialTokens })).toEqual(await here.encode(texts, { addSpecialTokens }));
    }
    expect(await there.tokenToId(['[PAD]', 'no-such-token'])).toEqual(await here.tokenToId(['[PAD]', 'no-such-token']));
    const ids = (await here.encode(['hello world'], { addSpecialTokens: true }))[0]!.ids as number[];
    expect(await there.decode(ids, { skipSpecialTokens: true })).toBe(
      await here.decode(ids, { skipSpecialTokens: true }),
    );
  });

  test('a request to an idle worker is posted within the call; one behind another waits for its answer', async () => {
    const workers = threads();
    const posted: string[] = [];
    const spawn = () => {
      const worker = workers.spawn();
      const post = worker.postMessage.bind(worker);
      worker.postMessage = (request) => {
        posted.push(request.op);
        post(request);
      };
      return worker;
    };
    const tokenizer = await workerTokenizers(spawn).load(bertTokenizerJson(), bertTokenizerConfig());
    const ids = (await tokenizer.encode(['hello world'], { addSpecialTokens: false }))[0]!.ids as number[];
    const first = tokenizer.decode(ids, { skipSpecialTokens: true });
    // Posted already: the generation loop starts the model's step next, and the decoding overlaps it.
    expect(posted).toEqual(['build', 'encode', 'decode']);
    const second = tokenizer.decode(ids.slice(1), { skipSpecialTokens: true });
    expect(posted).toHaveLength(3);
    expect(await first).toBe('hello world');
    expect(await second).toBe('world');
    expect(posted).toEqual(['build', 'encode', 'decode', 'decode']);
  });

  test('a tokenizer.json the library refuses is a DataError naming it, from the worker too', async () => {
    const workers = threads();
    const bad = { ...bertTokenizerJson(), model: { type: 'NoSuchModel' } };
    await expect(workerTokenizers(() => workers.spawn()).load(bad, {})).rejects.toMatchObject({
      name: 'DataError',
      message: expect.stringMatching(/tokenizer\.json/),
    });
  });

  test('a regex that backtracks without end: TimeoutError naming the step, the worker ended, the next call served', async () => {
    const workers = threads();
    const tokenizer = await workerTokenizers(() => workers.spawn(), budget({ stepMs: 1000 })).load(
      backtrackingTokenizerJson(),
      {},
    );
    expect(idsOf(await tokenizer.encode(['hello'], { addSpecialTokens: false }))).toEqual([[6]]);
    const t0 = performance.now();
    const err = await tokenizer
      .encode(['hello', BACKTRACKING_TEXT], { addSpecialTokens: false })
      .catch((e: Error) => e);
    const ms = performance.now() - t0;
    expect(err).toMatchObject({
      name: 'TimeoutError',
      message: expect.stringMatching(/longer than 1 s encoding the input text/),
    });
    expect(ms).toBeGreaterThanOrEqual(990);
    expect(ms).toBeLessThan(4000);
    // The spinning thread is gone (terminated), and the same tokenizer answers again from a fresh worker.
    await expect.poll(() => workers.running).toBe(0);
    expect(idsOf(await tokenizer.encode(['hello', 'world'], { addSpecialTokens: false }))).toEqual([[6], [7]]);
    expect(workers.started).toBe(2);
    console.log(`[tokenizer budget] backtracking encode stopped after ${ms.toFixed(0)} ms (budget 1000 ms)`);
  });

  test('requests queue: a slow one does not eat the budget of the one behind it', async () => {
    const workers = threads();
    const tokenizer = await workerTokenizers(() => workers.spawn(), budget({ stepMs: 800 })).load(
      backtrackingTokenizerJson(),
      {},
    );
    const slow = tokenizer.encode([BACKTRACKING_TEXT], { addSpecialTokens: false }).catch((e: Error) => e.name);
    const next = tokenizer.encode(['world'], { addSpecialTokens: false });
    expect(await slow).toBe('TimeoutError');
    expect(idsOf(await next)).toEqual([[7]]);
  });

  test('building past its budget is a TimeoutError naming the build', async () => {
    const workers = threads();
    const service = workerTokenizers(() => workers.spawn(), budget({ buildMs: 1 }));
    await expect(service.load(bertTokenizerJson(), bertTokenizerConfig())).rejects.toMatchObject({
      name: 'TimeoutError',
      message: expect.stringMatching(/building the tokenizer from tokenizer\.json/),
    });
    await expect.poll(() => workers.running).toBe(0);
  });

  test('an idle worker is ended and the tokenizer built again on the next call', async () => {
    const workers = threads();
    const tokenizer = await workerTokenizers(() => workers.spawn(), budget({ idleMs: 100 })).load(
      backtrackingTokenizerJson(),
      {},
    );
    await expect.poll(() => workers.running).toBe(0);
    expect(await tokenizer.tokenToId(['hello'])).toEqual([6]);
    expect(workers.started).toBe(2);
  });
});
