/**
 * Runs prepareModel in a dedicated worker (one per load, ended after), so the engine host keeps answering while
 * a model is quantized; falls back to the host's own thread where workers cannot start.
 */
import { fromWireError, WebqError, type WireError } from '../shared/errors';
import type { PrecisionPolicy } from '../onnx';
import { prepareModel, type Prepared } from './prepare';

export async function prepareOffThread(source: Uint8Array, policy: PrecisionPolicy | null, signal: AbortSignal): Promise<Prepared> {
  let worker: Worker;
  try {
    worker = new Worker(new URL('./prepare-worker.ts', import.meta.url), { type: 'module' });
  } catch {
    return prepareModel(source, policy);
  }
  try {
    return await new Promise((resolve, reject) => {
      const onAbort = () => reject(new WebqError('AbortError', 'the load was aborted'));
      signal.addEventListener('abort', onAbort, { once: true });
      worker.onmessage = (event: MessageEvent<{ ok?: Prepared; error?: WireError }>) => {
        signal.removeEventListener('abort', onAbort);
        if (event.data.ok) resolve(event.data.ok);
        else reject(fromWireError(event.data.error ?? { name: 'OperationError', message: 'model preparation failed' }));
      };
      worker.onerror = (event) => {
        signal.removeEventListener('abort', onAbort);
        reject(new WebqError('OperationError', `model preparation worker failed: ${event.message}`));
      };
      // The source is copied, not transferred: the caller may still need it (e.g. to report its size).
      worker.postMessage({ source, policy });
    });
  } finally {
    worker.terminate();
  }
}
