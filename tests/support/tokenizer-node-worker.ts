/**
 * Runs the engine's real tokenizer worker (extension/tasks/tokenizer-worker.ts) in a Node worker thread: Node has
 * no DOM Worker, so this gives the module the `self` it expects and forwards messages both ways. Started by
 * `spawnNodeTokenizerWorker` (node-worker.ts) with tsx as the loader.
 */
import { parentPort } from 'node:worker_threads';

const port = parentPort!;
const scope = {
  onmessage: null as ((event: { data: unknown }) => void) | null,
  postMessage: (message: unknown) => port.postMessage(message),
};
(globalThis as { self?: unknown }).self = scope;
// Listening only once the module has set its handler (a DOM module worker holds messages until then too).
await import('../../extension/tasks/tokenizer-worker');
port.on('message', (data: unknown) => scope.onmessage?.({ data }));
