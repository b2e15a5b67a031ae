/**
 * One loaded graph and its onnxruntime-web session(s): created on the planned backend, warmed up when shaders are
 * precompiled, and run one request at a time (a queue per graph). WebNN compiles for static shapes, so a graph there
 * holds one session per pinned set of free dimensions.
 */
import { WebqError } from '../shared/errors';
import type { Tensor } from '../shared/tensor';
import type { ModelInfo } from '../shared/types';
import { freeDimensionsFrom, type GraphIo } from './graph';
import { getGpu, gpuUnavailableReason, lostSignal } from './gpu';
import type { DeviceTensor, HeldTensor } from '../tasks/types';
import type { NativeDecoder } from '../native/decoder';
import type { NotNative } from '../native/decoder-weights';
import { acceptsFeed, createSession, run as runSession, type Session } from './ort';
import type { Target } from './plan';
import { getWebnn } from './webnn';
import { hasNextToken } from '../shared/next-token';

export interface LoadedGraph {
  key: string;
  source: string;
  /** The cache and memory partition it belongs to (resolve.ts). */
  partition: string;
  sha256: string;
  io: GraphIo;
  info: ModelInfo;
  /**
   * Kept for WebNN, which compiles one session per pinned shape, and for webq's own decode engine until it has read
   * its weights (engine.ts); other backends drop it after load.
   */
  bytes: Uint8Array | null;
  /** The graph's external data files (model.onnx_data) when it runs as stored; dropped with `bytes`. */
  externalData: { path: string; data: Uint8Array }[] | null;
  /** One session, or for WebNN one per pinned shape (WebNN needs static shapes). */
  sessions: Map<string, Promise<Session>>;
  target: Target;
  /** WebGPU: rejects when the session's device is lost, so no request waits on a dead device. */
  lost?: Promise<never>;
  /** Set when a WebGPU run failed: the session is not used again (see runGraph). */
  broken?: string;
  /** The WebGPU or wasm session once created: GPU tensors it made are fed back only to it (acceptsGraphFeed). */
  ready?: Session;
  /** Origins holding it. */
  users: Set<string>;
  queue: Promise<unknown>;
  fallbacks: string[];
  /** webq's own decode engine on this graph once built, or why it cannot run it (engine.ts `nativeFor`). */
  native?: NativeDecoder | NotNative;
  /** Takes it out of the store (set by the store), so the next request loads it anew. */
  evict(): void;
}

const MAX_WEBNN_SHAPES = 4;
/** Warm-up feeds are zeros of the model's static input shapes: a hostile model could name huge ones. */
const MAX_WARM_UP_ELEMENTS = 16 * 2 ** 20;

/** Creates the graph's session (all but WebNN, which waits for the first feeds' shapes) and warms it up if asked. */
export async function openGraph(
  graph: LoadedGraph,
  shaderPrecompilation: boolean,
  onCompile: (done: number) => void,
  keepBytes = false,
): Promise<void> {
  if (graph.target.backend !== 'webnn') {
    onCompile(0);
    const session = newSession(graph, undefined);
    graph.sessions.set('', session);
    graph.ready = await session;
    if (!keepBytes) {
      graph.bytes = null; // ORT holds its own copy now
      graph.externalData = null;
    }
    if (shaderPrecompilation) await warmUp(graph, await session);
    onCompile(1);
  } else if (shaderPrecompilation && graph.io.inputs.every((i) => i.dims.every((d) => typeof d === 'number'))) {
    await warmUp(graph, await sessionFor(graph, {}));
  }
}

/**
 * One inference of one graph, queued behind the graph's other runs. Outputs named in `keep` stay on the GPU where
 * the session keeps them (WebGPU: a decoder's present.*); feeds may be such tensors of this graph's session. With
 * `fetches`, only those outputs are read out.
 */
export function runGraph(
  graph: LoadedGraph,
  feeds: Record<string, Tensor>,
  signal: AbortSignal,
): Promise<{ outputs: Record<string, Tensor>; ms: number }>;
export function runGraph(
  graph: LoadedGraph,
  feeds: Record<string, HeldTensor>,
  signal: AbortSignal,
  keep: readonly string[],
  fetches?: readonly string[],
): Promise<{ outputs: Record<string, HeldTensor>; ms: number }>;
export function runGraph(
  graph: LoadedGraph,
  feeds: Record<string, HeldTensor>,
  signal: AbortSignal,
  keep: readonly string[] = [],
  fetches?: readonly string[],
): Promise<{ outputs: Record<string, HeldTensor>; ms: number }> {
  const result = graph.queue.then(async () => {
    if (signal.aborted) throw new WebqError('AbortError', 'the request was aborted');
    if (graph.broken) throw new WebqError('OperationError', `${graph.broken}; call again: the model is loaded anew`);
    const session = await sessionFor(graph, feeds);
    try {
      return await runSession(session, feeds, graph.lost, keep, fetches);
    } catch (err) {
      const failure =
        err instanceof WebqError ? err : new WebqError('OperationError', `inference failed: ${(err as Error).message}`);
      if (graph.target.backend === 'webgpu') {
        // A failed WebGPU run usually means the device is gone. Running the queued requests into the same session
        // can leave onnxruntime-web stuck for good (seen after device.destroy()), so they fail here instead and
        // the next request loads the model again, on a new device if the old one was lost.
        graph.broken = `an earlier WebGPU run of this model failed (${failure.message.slice(0, 160)})`;
        graph.evict();
      }
      throw failure;
    }
  });
  graph.queue = result.catch(() => undefined);
  return result;
}

/** Whether a GPU tensor can be fed to the graph: made by its current session, which is not broken. */
export function acceptsGraphFeed(graph: LoadedGraph, tensor: DeviceTensor): boolean {
  return !graph.broken && graph.ready !== undefined && acceptsFeed(graph.ready, tensor);
}

/** Lets go of every session of the graph. */
export function releaseGraph(graph: LoadedGraph): void {
  for (const s of graph.sessions.values()) void s.then((x) => x.release()).catch(() => undefined);
  if (graph.native && 'destroy' in graph.native) graph.native.destroy();
}

async function newSession(
  graph: LoadedGraph,
  freeDimensionOverrides: Record<string, number> | undefined,
): Promise<Session> {
  const { backend, webnnDevice } = graph.target;
  const externalData = graph.externalData ?? undefined;
  try {
    if (backend === 'webgpu') {
      const gpu = await getGpu();
      if (!gpu) throw new WebqError('NotSupportedError', `WebGPU is not available: ${gpuUnavailableReason}`);
      graph.lost = lostSignal(gpu.device);
      return await createSession(graph.bytes!, {
        backend,
        device: gpu.device,
        lost: graph.lost,
        externalData,
        gpuOutputs: cacheOutputs(graph.io),
      });
    }
    if (backend === 'webnn') {
      const webnn = await getWebnn(webnnDevice ?? 'gpu');
      return await createSession(graph.bytes!, { backend, webnn, freeDimensionOverrides, externalData });
    }
    return await createSession(graph.bytes!, { backend, externalData });
  } catch (err) {
    if (err instanceof WebqError) throw err;
    throw new WebqError(
      'OperationError',
      `onnxruntime-web could not create a ${backend} session for this model: ${(err as Error).message}`,
    );
  }
}

/**
 * Outputs a session leaves on the GPU (WebGPU): a decoder's KV cache, each `present<suffix>` whose
 * `past_key_values<suffix>` is an input (the Hugging Face layout), and its `logits` where the graph has webq's
 * next-token head (onnx/next-token.ts), so a greedy step reads back only the token id. A caller that does not keep
 * one of them gets it downloaded (ort.ts `run`); the graph's other outputs come back to the CPU.
 */
export function cacheOutputs(io: GraphIo): string[] {
  const inputs = new Set(io.inputs.map((i) => i.name));
  const presents = io.outputs
    .map((o) => o.name)
    .filter((name) => name.startsWith('present') && inputs.has(`past_key_values${name.slice('present'.length)}`));
  return hasNextToken(io) && io.outputs.some((o) => o.name === 'logits') ? [...presents, 'logits'] : presents;
}

/** WebNN compiles for static shapes: one session per pinned set of free dimensions (a few kept). */
function sessionFor(graph: LoadedGraph, feeds: Record<string, { dims: number[] }>): Promise<Session> {
  if (graph.target.backend !== 'webnn') return graph.sessions.get('')!;
  const dims = freeDimensionsFrom(graph.io, feeds);
  const shapeKey = JSON.stringify(dims);
  let session = graph.sessions.get(shapeKey);
  if (!session) {
    if (graph.sessions.size >= MAX_WEBNN_SHAPES) {
      const [oldestKey, oldest] = graph.sessions.entries().next().value!;
      graph.sessions.delete(oldestKey);
      void oldest.then((s) => s.release()).catch(() => undefined);
    }
    session = newSession(graph, dims);
    session.catch(() => graph.sessions.delete(shapeKey));
    graph.sessions.set(shapeKey, session);
  }
  return session;
}

/** shaderPrecompilation: one run at load time on zero inputs, so the first real run does not compile. */
async function warmUp(graph: LoadedGraph, session: Session): Promise<void> {
  const feeds: Record<string, Tensor> = {};
  let elements = 0;
  for (const input of graph.io.inputs) {
    const dims = input.dims.map((d) => (typeof d === 'number' ? d : 1));
    const count = dims.reduce((a, b) => a * b, 1);
    elements += count;
    if (elements > MAX_WARM_UP_ELEMENTS) {
      graph.fallbacks.push(
        `shaderPrecompilation: the inputs hold more than ${MAX_WARM_UP_ELEMENTS} elements; shaders compile on the first run`,
      );
      return;
    }
    feeds[input.name] = { type: input.type as Tensor['type'], dims, data: zeros(input.type, count) };
  }
  try {
    await runSession(session, feeds);
  } catch (err) {
    graph.fallbacks.push(
      `shaderPrecompilation: warm-up run failed (${(err as Error).message.slice(0, 120)}); shaders compile on the first run`,
    );
  }
}

function zeros(type: string, count: number): Tensor['data'] {
  switch (type) {
    case 'int64':
      return new BigInt64Array(count);
    case 'int32':
      return new Int32Array(count);
    case 'float16':
      return new Uint16Array(count);
    case 'int8':
      return new Int8Array(count);
    case 'uint8':
    case 'bool':
      return new Uint8Array(count);
    default:
      return new Float32Array(count);
  }
}
