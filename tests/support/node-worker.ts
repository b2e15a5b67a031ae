/**
 * A real thread for the tokenizer worker in Node tests: worker_threads behind the `WorkerLike` shape the engine's
 * WorkerTokenizer uses for DOM Workers, so its time budget and termination are tested on a thread that really
 * spins in a backtracking regex.
 */
import { Worker } from 'node:worker_threads';
import type { WorkerLike } from '../../extension/tasks/tokenizer-off-thread';

export interface NodeWorkers {
  spawn(): WorkerLike;
  /** Threads started so far, and those still running. */
  readonly started: number;
  readonly running: number;
  terminateAll(): Promise<void>;
}

export function nodeTokenizerWorkers(): NodeWorkers {
  const live = new Set<Worker>();
  let started = 0;
  return {
    spawn() {
      const worker = new Worker(new URL('./tokenizer-node-worker.mjs', import.meta.url));
      started++;
      live.add(worker);
      worker.on('exit', () => live.delete(worker));
      const like: WorkerLike = {
        onmessage: null,
        onerror: null,
        postMessage: (message) => worker.postMessage(message),
        terminate: () => {
          void worker.terminate();
        },
      };
      worker.on('message', (data) => like.onmessage?.({ data }));
      worker.on('error', (err) => like.onerror?.({ message: err.message }));
      return like;
    },
    get started() {
      return started;
    },
    get running() {
      return live.size;
    },
    async terminateAll() {
      await Promise.all([...live].map((w) => w.terminate()));
    },
  };
}
