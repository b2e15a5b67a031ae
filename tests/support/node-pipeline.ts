/**
 * Runs a task pipeline (extension/tasks) in Node: its graphs on onnxruntime-node's CPU EP, its companion files from
 * a hub-layout file map (tools/hub-models). The same pipeline code the engine runs; only the runner differs.
 */
import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { WebqError } from '../../extension/shared/errors';
import { graphIo } from '../../extension/host/graph';
import { normalizeOptions } from '../../extension/shared/options';
import type { WireInput } from '../../extension/shared/protocol';
import type { Tensor } from '../../extension/shared/tensor';
import type { GraphRunner, ModelFiles, TaskPipeline } from '../../extension/tasks/types';
import type { HubFiles } from '../../tools/hub-mirror';

/** A model in the hub's layout: repo-relative path → bytes or text (`config.json`, `onnx/model.onnx`, …). */
export type { HubFiles };

export function filesFrom(hub: HubFiles): ModelFiles {
  const read = (name: string): unknown | undefined => {
    const f = hub[name];
    if (f === undefined) return undefined;
    return JSON.parse(typeof f === 'string' ? f : new TextDecoder().decode(f));
  };
  return {
    async json(name) {
      const v = read(name);
      if (v === undefined) throw new WebqError('NotFoundError', `the model has no ${name}`);
      return v;
    },
    async optionalJson(name) {
      return read(name);
    },
  };
}

const toOrt = (t: Tensor) => new ort.Tensor(t.type === 'float16' ? 'float16' : t.type, t.data as never, t.dims);
const fromOrt = (t: ort.Tensor): Tensor => ({
  type: t.type as Tensor['type'],
  dims: [...t.dims],
  data: t.data as Tensor['data'],
});

/** Sessions for each of the pipeline's graphs, found in `hub` (or `graphs` overrides, e.g. a quantized rewrite). */
export async function nodeRunner(
  pipeline: TaskPipeline,
  hub: HubFiles,
  graphs: Record<string, Uint8Array> = {},
  signal = new AbortController().signal,
): Promise<GraphRunner & { release(): Promise<void>; calls: Record<string, number> }> {
  const sessions = new Map<string, ort.InferenceSession>();
  const ios = new Map<string, ReturnType<typeof graphIo>>();
  const calls: Record<string, number> = {};
  for (const [role, file] of Object.entries(pipeline.graphs)) {
    const bytes = graphs[role] ?? hub[file];
    if (!(bytes instanceof Uint8Array)) throw new Error(`hub files have no graph ${file} (${role})`);
    sessions.set(role, await ort.InferenceSession.create(bytes));
    ios.set(role, graphIo(onnx.ModelProto.decode(bytes)));
  }
  return {
    signal,
    calls,
    io(role) {
      const io = ios.get(role);
      if (!io) throw new Error(`no graph ${role}`);
      return io;
    },
    async run(role, feeds) {
      const session = sessions.get(role);
      if (!session) throw new Error(`no graph ${role}`);
      calls[role] = (calls[role] ?? 0) + 1;
      const out = await session.run(Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, toOrt(v)])));
      return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, fromOrt(v)]));
    },
    async release() {
      for (const s of sessions.values()) await s.release();
    },
  };
}

/** prepare + run in one call, with options validated as the engine validates a page's run options. */
export async function runPipeline<A>(
  pipeline: TaskPipeline<A>,
  hub: HubFiles,
  input: WireInput,
  rawOptions: Record<string, unknown> = {},
  graphs: Record<string, Uint8Array> = {},
): Promise<{ output: unknown; calls: Record<string, number> }> {
  const assets = await pipeline.prepare(filesFrom(hub));
  const runner = await nodeRunner(pipeline as TaskPipeline, hub, graphs);
  try {
    const output = await pipeline.run(assets, input, normalizeOptions(rawOptions, 'run'), runner);
    return { output, calls: runner.calls };
  } finally {
    await runner.release();
  }
}
