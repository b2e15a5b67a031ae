/**
 * The greedy next-token head through the model store: a `{ url, task: 'text-generation' }` load of the generated
 * Llama (external-data layout, a local server, the real cache over fake-indexeddb, the real preparation; session
 * creation replaced by a recorder) gets the head as stored and quantized, under its own variant name, and its WebGPU
 * session keeps `logits` on the GPU beside the presents; a raw load of the same file gets the graph as published.
 */
import 'fake-indexeddb/auto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cacheOutputs, type LoadedGraph } from '../../../extension/host/graph-session';
import { ModelStore, type Job } from '../../../extension/host/model-store';
import type { Plan } from '../../../extension/host/plan';
import { resolveModel } from '../../../extension/host/resolve';
import type { PrecisionPolicy } from '../../../extension/onnx';
import { NEXT_TOKEN_OUTPUT, VOCAB_LIMIT_INPUT } from '../../../extension/shared/next-token';
import { deleteEntry, listEntries } from '../../../extension/storage/model-cache';
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
const ORIGIN = 'http://localhost:8000';
const hub = llamaHubFiles({ layout: 'external-data' });

let server: TestServer;
let opened: LoadedGraph[];
beforeAll(async () => {
  server = await startServer(
    Object.fromEntries(
      Object.entries(hub).map(([path, body]) => [
        `/lm/${path}`,
        typeof body === 'string' ? new TextEncoder().encode(body) : body,
      ]),
    ),
  );
});
afterAll(async () => {
  await server.close();
});
beforeEach(async () => {
  opened = [];
  for (const e of await listEntries()) await deleteEntry(e.key);
});

const store = () =>
  new ModelStore(async (graph) => {
    opened.push(graph);
  });
const job = (): Job => ({ signal: new AbortController().signal, progress: () => undefined, delta: () => undefined });
async function load(s: ModelStore, plan: Plan, task?: 'text-generation') {
  const resolved = await resolveModel(
    { url: `${server.origin}/lm/onnx/model.onnx`, ...(task ? { task } : {}) },
    { requester: { origin: ORIGIN, page: true }, partition: ORIGIN },
  );
  return s.load(resolved, plan, { origin: ORIGIN, topOrigin: ORIGIN }, job(), []);
}
const names = (vs: { name: string }[]) => vs.map((v) => v.name);

describe('the next-token head in the model store', () => {
  it('a text-generation graph gets it as stored (external data still by name) and quantized; a raw load does not', async () => {
    const s = store();
    await load(s, AS_STORED, 'text-generation');
    const stored = opened[0]!;
    expect(names(stored.io.inputs)).toContain(VOCAB_LIMIT_INPUT);
    expect(names(stored.io.outputs)).toContain(NEXT_TOKEN_OUTPUT);
    expect(stored.info.outputs!.map((o) => o.name)).toContain(NEXT_TOKEN_OUTPUT);
    expect(stored.externalData!.map((f) => f.path)).toEqual(['model.onnx_data']);
    expect(stored.bytes!.byteLength).toBeLessThan(hub['onnx/model.onnx']!.length + 4096); // references, not weights
    expect(cacheOutputs(stored.io)).toEqual([
      'present.0.key',
      'present.0.value',
      'present.1.key',
      'present.1.value',
      'logits',
    ]);

    // The same file as a raw model, on the same store: a graph of its own, as published.
    await load(s, AS_STORED);
    expect(opened).toHaveLength(2);
    expect(names(opened[1]!.io.outputs)).not.toContain(NEXT_TOKEN_OUTPUT);
    expect(cacheOutputs(opened[1]!.io)).not.toContain('logits');

    await load(s, QUANTIZED, 'text-generation');
    expect(names(opened[2]!.io.outputs)).toContain(NEXT_TOKEN_OUTPUT);
    expect(opened[2]!.info.bits).toBe(4);
    // Cached under a variant name of its own: a raw quantized load never reads bytes with the head.
    expect((await listEntries()).map((e) => e.variant)).toContain('q4s128m+next2');
    await load(s, QUANTIZED);
    expect(names(opened[3]!.io.outputs)).not.toContain(NEXT_TOKEN_OUTPUT);
    expect((await listEntries()).map((e) => e.variant)).toContain('q4s128m');
  }, 60_000);
});
