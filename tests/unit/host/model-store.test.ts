/**
 * The model store (extension/host/model-store.ts) without a browser: real downloads from a local server (Node's
 * fetch), the real cache code over fake-indexeddb, the real ONNX preparation; only session creation is replaced
 * (onnxruntime-web needs a browser), by an opener that records what it was given.
 */
import 'fake-indexeddb/auto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { DOWNLOAD_LIMITS } from '../../../extension/host/download';
import { deleteEntry, listEntries } from '../../../extension/storage/model-cache';
import { stagedTotals } from '../../../extension/storage/staging';
import { ModelStore, type Job } from '../../../extension/host/model-store';
import type { Plan } from '../../../extension/host/plan';
import { resolveModel } from '../../../extension/host/resolve';
import type { ProgressPhase } from '../../../extension/shared/types';
import { vitHubFiles } from '../../../tools/hub-models/vit';
import { identityModel, mlpModel } from '../../support/onnx-models';
import { slowRoute, startServer, type TestServer } from '../../../tools/server';

const ONNX = identityModel('float32');
const VIT = vitHubFiles();
const PLAN: Plan = { target: { backend: 'wasm' }, policy: null, variant: 'src', shaderPrecompilation: false };
let server: TestServer;
let opened: string[];

beforeAll(async () => {
  server = await startServer({
    '/m.onnx': ONNX,
    '/mlp.onnx': mlpModel(),
    '/slow.onnx': slowRoute(ONNX, 16, 30),
    '/not-onnx.onnx': new TextEncoder().encode('definitely not a protobuf of a model \u0000\u00ff'),
    '/vision/onnx/model.onnx': VIT['onnx/model.onnx'] as Uint8Array,
    '/vision/preprocessor_config.json': new TextEncoder().encode('SECRET=hunter2, not JSON'),
  });
});
afterAll(() => server.close());
beforeEach(async () => {
  opened = [];
  for (const e of await listEntries()) await deleteEntry(e.key);
});

const store = () =>
  new ModelStore(async (graph) => {
    opened.push(graph.key);
  });
const site = (origin: string) => ({ origin, topOrigin: origin });
const fetcher = (origin: string) => ({ requester: { origin, page: true }, partition: origin });
function job(): Job & { phases: ProgressPhase[] } {
  const phases: ProgressPhase[] = [];
  return {
    signal: new AbortController().signal,
    progress: (phase) => {
      if (!phases.includes(phase)) phases.push(phase);
    },
    delta: () => undefined,
    phases,
  };
}
async function load(s: ModelStore, path: string, origin: string, j = job(), sha256?: string) {
  const resolved = await resolveModel({ url: `${server.origin}${path}`, sha256 }, fetcher(origin));
  return { loaded: await s.load(resolved, PLAN, site(origin), j, []), phases: j.phases };
}

describe('ModelStore', () => {
  it('a wasm load in the integer form reports the int8 bytes it holds and says so, from the cache too', async () => {
    const plan: Plan = {
      target: { backend: 'wasm' },
      policy: {
        bits: 4,
        scheme: 'symmetric',
        groupSize: 32,
        mixedPrecision: false,
        attentionPrecision: 8,
        embeddingPrecision: 8,
        skipLayerNorm: true,
        quantizeEmbeddingTables: false,
      },
      variant: 'q4s32ei',
      shaderPrecompilation: false,
      integerMatMul: true,
    };
    const resolved = await resolveModel({ url: `${server.origin}/mlp.onnx` }, fetcher(server.origin));
    const first = await store().load(resolved, plan, site(server.origin), job(), []);
    // w1 (256 × 256) takes the form: int8 values and a scale per column; w2 (256 × 64) is below the minimum.
    const w2 = first.info.weights.find((w) => w.name === 'w2');
    expect(w2).toMatchObject({ op: 'MatMulNBits', precision: 4 });
    const w2Bytes = 64 * (256 / 2 + (256 / 32) * 4); // 4-bit codes and a float scale per block of 32
    const b1Bytes = 256 * 4; // the bias, at fp32
    expect(first.info.modelBytes).toBe(256 * 256 + 256 * 4 + w2Bytes + b1Bytes);
    // The report still says what was quantized how: both MatMul weights at 4 bits.
    expect(first.info.weights.filter((w) => w.op === 'MatMulNBits').map((w) => [w.name, w.precision])).toEqual([
      ['w1', 4],
      ['w2', 4],
    ]);
    expect(first.fallbacks).toContainEqual(
      expect.stringMatching(
        /^wasm: int8 weights and activations for 1 of 2 quantized MatMuls .*, 66560 bytes \(\d+ as stored blocks\)$/,
      ),
    );
    const again = await store().load(resolved, plan, site(server.origin), job(), []);
    expect(again.info.modelBytes).toBe(first.info.modelBytes);
    expect(again.fallbacks).toEqual(first.fallbacks);
  });

  it("calls of one site share a load; another site downloads for itself; a fresh store reads the site's cache", async () => {
    const s = store();
    const before = server.hits.get('/slow.onnx') ?? 0;
    const [a, b] = await Promise.all([load(s, '/slow.onnx', server.origin), load(s, '/slow.onnx', server.origin)]);
    expect(a.loaded.main).toBe(b.loaded.main);
    expect(server.hits.get('/slow.onnx')).toBe(before + 1);
    expect(opened).toHaveLength(1);
    const other = await load(s, '/slow.onnx', 'http://localhost:1');
    expect(other.phases).toContain('download');
    expect(server.hits.get('/slow.onnx')).toBe(before + 2);
    expect(other.loaded.main).not.toBe(a.loaded.main);
    const restarted = await load(store(), '/slow.onnx', server.origin);
    expect(restarted.phases).toEqual(['cache']);
    expect(server.hits.get('/slow.onnx')).toBe(before + 2);
  });

  it('bytes that are not a model fail with DataError and are not cached', async () => {
    await expect(load(store(), '/not-onnx.onnx', server.origin)).rejects.toMatchObject({
      name: 'DataError',
      message: expect.not.stringContaining('definitely'),
    });
    expect((await listEntries()).map((e) => e.source)).toEqual([]);
    expect(await stagedTotals()).toEqual({ chunks: 0, bytes: 0 });
  });

  it('a companion file that is not JSON is a DataError without its text, and leaves nothing cached or staged for it', async () => {
    const resolved = await resolveModel(
      { url: `${server.origin}/vision/onnx/model.onnx`, task: 'image-classification' },
      fetcher(server.origin),
    );
    const err = await store()
      .load(resolved, PLAN, site(server.origin), job(), [])
      .catch((e: Error) => e);
    expect(err).toMatchObject({ name: 'DataError', message: expect.stringContaining('preprocessor_config.json') });
    expect((err as Error).message).not.toContain('hunter2');
    expect((await listEntries()).map((e) => e.source)).toEqual([`${server.origin}/vision/onnx/model.onnx`]);
    expect(await stagedTotals()).toEqual({ chunks: 0, bytes: 0 });
  });

  it('a download is staged in chunks while it runs and becomes an entry only once it parsed; an abort leaves nothing', async () => {
    const chunkBytes = DOWNLOAD_LIMITS.chunkBytes;
    DOWNLOAD_LIMITS.chunkBytes = 32;
    try {
      const pending = load(store(), '/slow.onnx', server.origin);
      let seen = { chunks: 0, bytes: 0 };
      while (seen.chunks < 2) {
        await new Promise((r) => setTimeout(r, 5));
        seen = await stagedTotals();
      }
      expect(await listEntries()).toEqual([]);
      await pending;
      expect((await listEntries()).map((e) => [e.source, e.size, e.chunks])).toEqual([
        [`${server.origin}/slow.onnx`, ONNX.byteLength, Math.ceil(ONNX.byteLength / 32)],
      ]);
      expect(await stagedTotals()).toEqual({ chunks: 0, bytes: 0 });

      const controller = new AbortController();
      const j = { ...job(), signal: controller.signal };
      const aborted = load(store(), '/slow.onnx', 'http://localhost:2', j);
      while ((await stagedTotals()).chunks < 2) await new Promise((r) => setTimeout(r, 5));
      controller.abort();
      await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });
      expect(await stagedTotals()).toEqual({ chunks: 0, bytes: 0 });
      expect((await listEntries()).map((e) => e.site)).toEqual([server.origin]);
    } finally {
      DOWNLOAD_LIMITS.chunkBytes = chunkBytes;
    }
  });

  it('a call joining a load in progress gets its own sha256 checked', async () => {
    const s = store();
    const good = createHash('sha256').update(ONNX).digest('hex');
    const results = await Promise.allSettled([
      load(s, '/slow.onnx', server.origin),
      load(s, '/slow.onnx', server.origin, job(), '0'.repeat(64)),
      load(s, '/slow.onnx', server.origin, job(), good),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ name: 'DataError' });
  });

  it("release drops one origin's hold; the graph goes when no origin holds it", async () => {
    const s = store();
    const resolved = await resolveModel(`${server.origin}/m.onnx`, fetcher(server.origin));
    const first = await s.load(resolved, PLAN, { origin: server.origin, topOrigin: server.origin }, job(), []);
    s.release(resolved, server.origin);
    const again = await s.load(resolved, PLAN, { origin: server.origin, topOrigin: server.origin }, job(), []);
    expect(again.main).not.toBe(first.main);
    expect(again.firstUse).toBe(true);
  });
});
