/**
 * Runs model preparation in a dedicated worker (one per load, ended after), so the engine host keeps answering while
 * a model is quantized; falls back to the host's own thread where workers cannot start, and where the page asked
 * for webq's GPU kernels (`workgroupSize`) but workers have no WebGPU (the host's device is used then).
 */
import { fromWireError, WebqError, type WireError } from '../shared/errors';
import type { PrecisionPolicy } from '../onnx';
import {
  prepareModelWith,
  type ExternalInput,
  type PrepareFor,
  type Prepared,
  type ReadableExternalFile,
} from './prepare';
import { adapterKey } from './calibrate';
import { readSetting, writeSetting } from '../storage/settings';
import { getGpu, gpuUnavailableReason } from './gpu';
import type { Workgroup } from './gpu-quantize';

export interface PrepareRequest {
  source: Uint8Array;
  policy: PrecisionPolicy | null;
  workgroupSize?: Workgroup;
  /**
   * The graph's external data files: in memory, transferred (not copied), or in IndexedDB, which the worker reads
   * itself (storage/stored-file.ts).
   */
  external: Exclude<ExternalInput, ReadableExternalFile>[];
  /** What the graph is prepared for besides its precision (prepare.ts). */
  purpose: PrepareFor;
}
export type PrepareReply =
  { ok: Prepared } | { error: WireError } | { noGpu: string } | { progress: [done: number, total: number] };

export interface PrepareOptions {
  /** The page's `workgroupSize`: quantize with webq's kernels at this workgroup (gpu-quantize.ts). */
  workgroupSize?: Workgroup;
  /**
   * The graph's external data files by name. Those in memory are moved to the worker (the caller's arrays are
   * detached); the graph run as stored gets them back whole in `Prepared.externalData`.
   */
  external?: Exclude<ExternalInput, ReadableExternalFile>[];
  /** The next-token head, the integer form (prepare.ts `PrepareFor`). */
  purpose?: PrepareFor;
  /** Bytes of external data quantized so far, of all (only a graph quantized from external data reports it). */
  onProgress?(done: number, total: number): void;
}

export async function prepareOffThread(
  source: Uint8Array,
  policy: PrecisionPolicy | null,
  signal: AbortSignal,
  options: PrepareOptions = {},
): Promise<Prepared> {
  let worker: Worker;
  try {
    worker = new Worker(new URL('./prepare-worker.ts', import.meta.url), { type: 'module' });
  } catch {
    return prepareHere(source, policy, signal, options, []);
  }
  let reply: Exclude<PrepareReply, { progress: unknown }>;
  try {
    reply = await new Promise<typeof reply>((resolve, reject) => {
      const onAbort = () => reject(new WebqError('AbortError', 'the load was aborted'));
      signal.addEventListener('abort', onAbort, { once: true });
      worker.onmessage = (event: MessageEvent<PrepareReply>) => {
        if ('progress' in event.data) return options.onProgress?.(...event.data.progress);
        signal.removeEventListener('abort', onAbort);
        resolve(event.data);
      };
      worker.onerror = (event) => {
        signal.removeEventListener('abort', onAbort);
        reject(new WebqError('OperationError', `model preparation worker failed: ${event.message}`));
      };
      // The source is copied, not transferred: the caller may still need it (e.g. to report its size).
      const external = (options.external ?? []).map((f) =>
        'data' in f ? { path: f.path, data: ownBuffer(f.data) } : f,
      );
      const request: PrepareRequest = {
        source,
        policy,
        workgroupSize: options.workgroupSize,
        external,
        purpose: options.purpose ?? {},
      };
      worker.postMessage(
        request,
        external.flatMap((f) => ('data' in f ? [f.data.buffer as ArrayBuffer] : [])),
      );
    });
  } finally {
    worker.terminate();
  }
  if ('ok' in reply) return reply.ok;
  if ('error' in reply) throw fromWireError(reply.error);
  return prepareHere(source, policy, signal, options, [
    `preparation: on the engine host's thread (workgroupSize needs WebGPU, and the worker has none: ${reply.noGpu})`,
  ]);
}

/** Preparation on this thread, with the host's own GPU device for the kernels. */
async function prepareHere(
  source: Uint8Array,
  policy: PrecisionPolicy | null,
  signal: AbortSignal,
  options: PrepareOptions,
  notes: string[],
): Promise<Prepared> {
  const prepared = await prepareModelWith(
    source,
    policy,
    {
      workgroupSize: options.workgroupSize,
      signal,
      settings: { read: readSetting, write: writeSetting },
      progress: options.onProgress,
      gpu: async () => {
        const gpu = await getGpu();
        return gpu ? { device: gpu.device, adapter: adapterKey(gpu) } : { unavailable: gpuUnavailableReason };
      },
    },
    options.external,
    options.purpose,
  );
  return notes.length ? { ...prepared, notes: [...notes, ...prepared.notes] } : prepared;
}

/** An array that owns its whole buffer, so transferring it moves exactly its bytes (a view would move its parent). */
function ownBuffer(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
}
