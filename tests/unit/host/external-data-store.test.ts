/**
 * External data through the model store (extension/host/model-store.ts) without a browser: the generated Llama in
 * the hub's `onnx/model.onnx` + `onnx/model.onnx_data` layout served by a local server (Node's fetch), the real
 * cache over fake-indexeddb, the real preparation; only session creation is replaced by an opener that records what
 * it was given. The data file is fetched beside the graph under the graph's rules (CORS for a page), counted in
 * progress, cached once checked, handed to the session as stored or read when quantizing; a bad graph is refused
 * before anything is cached.
 */
import 'fake-indexeddb/auto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ModelStore, type Job } from '../../../extension/host/model-store';
import type { Plan } from '../../../extension/host/plan';
import { prepareModel } from '../../../extension/host/prepare';
import { resolveModel } from '../../../extension/host/resolve';
import type { LoadedGraph } from '../../../extension/host/graph-session';
import { onnx } from '../../../extension/onnx/model';
import type { PrecisionPolicy } from '../../../extension/onnx';
import { db } from '../../../extension/storage/database';
import { cacheKey, deleteEntry, listEntries } from '../../../extension/storage/model-cache';
import { toExternalData } from '../../../tools/external-data';
import { llamaHubFiles } from '../../../tools/hub-models/llama';
import { startServer, type TestServer } from '../../../tools/server';

const POLICY: PrecisionPolicy = {
  bits: 4,
  scheme: 'symmetric',
  groupSize: 128,
  mixedPrecision: true,
  attentionPrecision: 8,
  embeddingPrecision: 8,
  skipLayerNorm: true,
};
const AS_STORED: Plan = { target: { backend: 'wasm' }, policy: null, variant: 'src', shaderPrecompilation: false };
const QUANTIZED: Plan = { ...AS_STORED, policy: POLICY, variant: 'q4s128m' };
const inline = llamaHubFiles()['onnx/model.onnx'] as Uint8Array;
const layout = toExternalData(inline);

/** The graph with its first external tensor's offset moved past the data file's end. */
function pastTheEnd(): Uint8Array {
  const model = onnx.ModelProto.decode(layout.graph);
  const t = model.graph!.initializer!.find((i) => i.externalData?.length)!;
  for (const e of t.externalData!) if (e.key === 'offset') e.value = String(layout.data.byteLength);
  return onnx.ModelProto.encode(model).finish();
}

let server: TestServer;
let closed: TestServer;
let opened: LoadedGraph[];

beforeAll(async () => {
  server = await startServer({
    '/ok/onnx/model.onnx': layout.graph,
    '/ok/onnx/model.onnx_data': layout.data,
    '/bad/onnx/model.onnx': pastTheEnd(),
    '/bad/onnx/model.onnx_data': layout.data,
  });
  // The graph is readable across origins, its data file is not: a page gets neither.
  closed = await startServer(
    {
      '/nocors/model.onnx': () => ({
        status: 200,
        body: layout.graph,
        headers: { 'access-control-allow-origin': '*' },
      }),
      '/nocors/model.onnx_data': layout.data,
    },
    0,
    { cors: false },
  );
});
afterAll(async () => {
  await server.close();
  await closed.close();
});
beforeEach(async () => {
  opened = [];
  for (const e of await listEntries()) await deleteEntry(e.key);
});

const store = () =>
  new ModelStore(async (graph) => {
    opened.push({ ...graph, externalData: graph.externalData && [...graph.externalData] });
  });
const ORIGIN = 'http://localhost:8000';
function job(): Job & { downloads: [number, number][]; quantize: [number, number][] } {
  const downloads: [number, number][] = [];
  const quantize: [number, number][] = [];
  return {
    signal: new AbortController().signal,
    progress: (phase, loaded, total) => {
      if (phase === 'download') downloads.push([loaded, total]);
      if (phase === 'quantize') quantize.push([loaded, total]);
    },
    delta: () => undefined,
    downloads,
    quantize,
  };
}
async function load(s: ModelStore, path: string, plan: Plan, j = job(), origin = server.origin) {
  const resolved = await resolveModel(
    { url: `${origin}${path}` },
    { requester: { origin: ORIGIN, page: true }, partition: ORIGIN },
  );
  return s.load(resolved, plan, { origin: ORIGIN, topOrigin: ORIGIN }, j, []);
}
const failure = (p: Promise<unknown>) =>
  p.then(
    () => ({ name: 'none', message: '' }),
    (e: Error) => ({ name: e.name, message: e.message }),
  );

describe('external data in the model store', () => {
  it('as stored: the data file is fetched beside the graph, counted in progress, cached, and handed to the session', async () => {
    const j = job();
    const loaded = await load(store(), '/ok/onnx/model.onnx', AS_STORED, j);
    expect(opened).toHaveLength(1);
    const files = opened[0]!.externalData!;
    expect(files.map((f) => [f.path, f.data.byteLength])).toEqual([['model.onnx_data', layout.data.byteLength]]);
    expect(Buffer.from(files[0]!.data).equals(Buffer.from(layout.data))).toBe(true);
    expect(loaded.info.bits).toBe(32);
    expect(loaded.info.originalBytes).toBe(prepareModel(inline, null).report.originalBytes);
    // Progress runs over the graph and its data: the last report is all of both.
    const total = layout.graph.byteLength + layout.data.byteLength;
    expect(j.downloads.at(-1)).toEqual([total, total]);
    const cached = (await listEntries()).map((e) => e.source).sort();
    expect(cached).toEqual([`${server.origin}/ok/onnx/model.onnx`, `${server.origin}/ok/onnx/model.onnx_data`]);
    // A fresh engine loads both from the cache: no request reaches the server.
    const hits = server.hits.get('/ok/onnx/model.onnx_data');
    await load(store(), '/ok/onnx/model.onnx', AS_STORED);
    expect(server.hits.get('/ok/onnx/model.onnx_data')).toBe(hits);
    expect(opened[1]!.externalData![0]!.data.byteLength).toBe(layout.data.byteLength);
  });

  it('quantized: the weights are read from the data file, the same bytes as quantizing the single file', async () => {
    const j = job();
    const loaded = await load(store(), '/ok/onnx/model.onnx', QUANTIZED, j);
    // Quantize progress counts the weights' bytes in the data file as they are read, in order, then ends at 1 of 1.
    const steps = j.quantize.slice(1, -1);
    const total = steps[0]![1];
    expect(steps.length).toBeGreaterThan(10);
    expect(total).toBeGreaterThan(layout.data.byteLength * 0.9);
    expect(total).toBeLessThanOrEqual(layout.data.byteLength);
    expect(steps.every(([done, t], i) => t === total && done > (steps[i - 1]?.[0] ?? 0))).toBe(true);
    expect(steps.at(-1)![0]).toBe(total);
    expect([j.quantize[0], j.quantize.at(-1)]).toEqual([
      [0, 1],
      [1, 1],
    ]);
    const graph = opened[0]!;
    expect(graph.externalData).toBeNull();
    const expected = prepareModel(inline, POLICY).bytes;
    expect(Buffer.from(graph.bytes!).equals(Buffer.from(expected))).toBe(true);
    expect(loaded.info).toMatchObject({ bits: 4, mixedPrecision: true });
    expect((await listEntries()).map((e) => e.variant).sort()).toEqual(['q4s128m', 'src', 'src']);
  });

  it('a cached data file that fails its check while read is downloaded again and the quantization retried', async () => {
    await load(store(), '/ok/onnx/model.onnx', QUANTIZED);
    const dataKey = cacheKey(`${server.origin}/ok/onnx/model.onnx_data`, 'src', ORIGIN);
    for (const e of await listEntries()) if (e.variant !== 'src') await deleteEntry(e.key);
    const database = await db();
    const chunk = new Uint8Array((await database.get('chunks', [dataKey, 0]))!);
    chunk[100] = chunk[100]! ^ 0xff;
    await database.put('chunks', chunk.buffer, [dataKey, 0]);
    const hits = server.hits.get('/ok/onnx/model.onnx_data')!;
    const loaded = await load(store(), '/ok/onnx/model.onnx', QUANTIZED);
    expect(server.hits.get('/ok/onnx/model.onnx_data')).toBe(hits + 1);
    expect(loaded.fallbacks).toContain(
      `cache: the cached copy of ${server.origin}/ok/onnx/model.onnx_data failed its check when read; downloaded it again`,
    );
    expect(Buffer.from(opened[1]!.bytes!).equals(Buffer.from(prepareModel(inline, POLICY).bytes))).toBe(true);
    // The fresh copy is cached in place of the corrupt one.
    const again = (await database.get('entries', dataKey))!;
    expect(again.chunkSha256!.length).toBe(again.chunks);
  });

  it('a tensor past the end of its file is a DataError naming the file; nothing is cached', async () => {
    const r = await failure(load(store(), '/bad/onnx/model.onnx', QUANTIZED));
    expect(r).toMatchObject({
      name: 'DataError',
      message: expect.stringMatching(/model\.onnx_data.*past the file's end/),
    });
    expect(opened).toHaveLength(0);
    expect(await listEntries()).toEqual([]);
  });

  it('a page gets no data file it could not read itself (CORS), even beside a graph it could', async () => {
    const r = await failure(load(store(), '/nocors/model.onnx', AS_STORED, job(), closed.origin));
    expect(r).toMatchObject({ name: 'NotAllowedError', message: expect.stringContaining('model.onnx_data') });
    expect(opened).toHaveLength(0);
  });
});
